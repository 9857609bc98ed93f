// DiskQueue: the durable FIFO in front of every remote output. Producers append records (opaque
// payloads); one consumer reads them in order, delivers them and then consumes them. Records
// live in segment files under one folder; a cursor file remembers what was consumed. The byte
// layout, the fsync policy and the overflow policy are specified in docs/QUEUE.md.
//
// Guarantees: Append returns OK only once its records are durable (options.fsync) — a crash or a
// power cut after that loses none of them. Delivery is at-least-once: records are handed out
// again after a restart until Consume has persisted past them. Sequence numbers strictly
// increase, also across restarts (there may be gaps: a failed Append uses up its numbers).
//
// Threads: Append, Full, Stats and Close may be called from any thread, concurrently
// (concurrent Appends share one write and one fsync: group commit). Peek and Consume belong to
// one consumer thread (never called concurrently with each other). No call may race with the
// destructor.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "outputs/queue_files.h"

namespace pythond::outputs {

struct DiskQueueOptions {
  std::filesystem::path dir;  // data/queue/<output>/; created when missing
  // Bound on the total size of the segment files (at least 256 KiB).
  uint64_t max_bytes = uint64_t{1} << 30;
  // A segment is closed and a new one started beyond this; clamped to [64 KiB, max_bytes / 4].
  uint64_t segment_bytes = 64 << 20;
  enum class Overflow {
    kDropOldest,  // delete the oldest segment(s), delivered or not, and count what was lost
    kBlock,       // refuse the Append (kResourceExhausted) and keep everything
  } overflow = Overflow::kDropOldest;
  bool fsync = true;  // false: no fsync (survives an agent crash, not a power cut)
  // Not owned; must outlive the queue. Null: the real file system.
  QueueFiles* files = nullptr;
};

struct QueueRecord {
  uint64_t seq = 0;
  std::string payload;
};

struct DiskQueueStats {                 // for /v1/stats
  uint64_t records = 0, bytes = 0;      // waiting (appended, not consumed); bytes as stored
  uint64_t appended = 0, consumed = 0;  // records, since Open
  uint64_t dropped_records = 0;         // overflow drop-oldest
  // Found at Open (and skipped); later corruption found by Peek counts too.
  uint64_t corrupt_records = 0, torn_tail_bytes = 0;
  uint64_t fsyncs = 0, append_errors = 0;  // append_errors: failed Append calls (not refusals)
  uint64_t appends_waiting = 0;            // Append calls queued behind a commit right now
  std::string last_error;
};

class DiskQueue {
 public:
  // Creates the folder and recovers what is in it: torn tails are cut off, corrupt records
  // skipped (both logged and counted), consumed segments deleted. Errors: kIoError when the
  // folder cannot be read or written; kFailedPrecondition for a segment of a newer format.
  static StatusOr<std::unique_ptr<DiskQueue>> Open(DiskQueueOptions options);
  ~DiskQueue();  // Close()s

  // Appends each payload as one record, in order, and returns once all are durable (one fsync
  // for the call; concurrent callers share fsyncs: group commit). Errors, with nothing of the
  // call appended: kResourceExhausted when full under kBlock; kIoError when a write or fsync
  // failed (the queue stays usable: the failed tail is cut back); kInvalidArgument when the
  // call is larger than max_bytes / 4; kFailedPrecondition after Close.
  [[nodiscard]] Status Append(const std::vector<std::string_view>& payloads);
  // Under kBlock: even an empty payload would be refused now. Always false under kDropOldest.
  // Cheap (one atomic load); a larger Append may still be refused when it is false.
  bool Full() const;

  // Up to max_records / max_bytes of payload (at least one record if any) after the read
  // position, waiting up to wait_ns for the first one (returns early, empty, on Close). Does not
  // consume: the same records come back until Consume.
  std::vector<QueueRecord> Peek(size_t max_records, size_t max_bytes, int64_t wait_ns);
  // Everything up to and including seq is delivered: the read position moves past it, the
  // cursor is persisted (a restart does not resend it; a crash between delivery and Consume
  // resends: at-least-once) and segments wholly delivered are deleted. A seq at or below the
  // read position is a no-op. Errors: kInvalidArgument for a seq never appended; kIoError when
  // the cursor could not be written (the read position still moved in this process).
  [[nodiscard]] Status Consume(uint64_t seq);

  DiskQueueStats Stats() const;
  // Wakes Peek; later Appends fail with kFailedPrecondition. Idempotent.
  void Close();

 private:
  // A place in the queue: a segment (by its id, the seq in its name) and a byte offset in it.
  struct Pos {
    uint64_t segment = 0;
    uint64_t offset = 0;
    auto operator<=>(const Pos&) const = default;
  };
  struct Segment {
    uint64_t id = 0;    // the seq in the file name
    uint64_t size = 0;  // committed bytes (header included); the active segment grows
    uint64_t records = 0;
    uint64_t record_bytes = 0;           // encoded size of those records
    uint64_t last_seq = 0;               // 0: no record
    std::map<uint64_t, uint64_t> skips;  // corrupt regions: start offset → end offset
  };
  struct Writer;        // one Append call waiting in writers_
  struct ReadSnapshot;  // what the consumer reads without the lock
  struct ReadResult;

  explicit DiskQueue(DiskQueueOptions options);
  Status Recover();
  // Scans one segment: counts its records (those at or below `acked` apart), records its
  // corrupt regions, cuts its torn tail. *keep is false when the file was removed.
  Status RecoverSegment(uint64_t id, uint64_t acked, uint64_t* prev_seq, Segment* segment,
                        uint64_t* consumed_records, uint64_t* consumed_bytes, uint64_t* ack_end,
                        bool* keep);
  // The group commit of the leader (the front writer); mu_ is held on entry and exit.
  Status CommitGroup(std::unique_lock<std::mutex>& lock, const std::vector<Writer*>& group,
                     uint64_t group_records, uint64_t group_bytes);
  Status StartSegment(uint64_t id);
  // Moves ack_ past known corrupt regions and exhausted segments, and drops the segments it
  // leaves behind from segments_; returns their ids for DeleteSegments (without the lock).
  std::vector<uint64_t> NormalizeAckLocked();
  void DeleteSegments(const std::vector<uint64_t>& ids);
  bool HasDataLocked() const;
  Pos CommittedEndLocked() const;
  ReadSnapshot SnapshotLocked() const;
  // Reads records from the snapshot's start: stops at limits, or before the first record with
  // seq > max_seq. Consumer thread; no lock.
  ReadResult ReadRecords(const ReadSnapshot& snapshot, size_t max_records, size_t max_bytes,
                         uint64_t max_seq, bool copy_payloads);
  // Applies the corrupt regions a read found; requires mu_.
  void NoteCorruptionLocked(const ReadResult& result);
  Status WriteCursor(uint64_t acked);
  std::filesystem::path SegmentPath(uint64_t id) const;
  void UpdateOccupancyLocked();
  void NoteErrorLocked(const Status& status);

  const DiskQueueOptions options_;
  QueueFiles* const files_;

  // Leader only (the writer at the front of writers_; exactly one at a time):
  std::unique_ptr<QueueFile> active_file_;
  bool need_roll_ = true;  // the next commit starts a new segment
  std::string encode_buffer_;

  // Consumer thread only:
  std::map<uint64_t, std::shared_ptr<QueueFile>> read_files_;  // segment id → read handle
  struct PeekCache {
    Pos start;                                   // ack_ when the records were read
    std::vector<std::pair<uint64_t, Pos>> ends;  // seq → position after the record
    std::vector<uint64_t> bytes;                 // encoded size of each record
  } peek_cache_;

  mutable std::mutex mu_;            // guards everything below
  std::condition_variable data_cv_;  // Peek: a commit or Close
  std::deque<Writer*> writers_;      // Append calls in order; the front one commits
  std::deque<Segment> segments_;     // oldest first; back() is the active one
  Pos ack_;                          // after the last consumed record; in segments_.front()
  uint64_t acked_seq_ = 0;           // highest seq consumed (persisted in the cursor)
  uint64_t consumed_in_front_ = 0;   // records of segments_.front() before ack_
  uint64_t consumed_bytes_in_front_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t last_committed_seq_ = 0;
  uint64_t disk_bytes_ = 0;      // sum of the segments' sizes
  uint64_t reserved_bytes_ = 0;  // Appends admitted but not committed (kBlock accounting)
  std::atomic<bool> full_{false};
  bool closed_ = false;
  DiskQueueStats stats_;
  std::mutex cursor_mu_;  // serializes cursor writes
};

}  // namespace pythond::outputs
