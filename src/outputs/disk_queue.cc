#include "outputs/disk_queue.h"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "common/logging.h"

namespace pythond::outputs {

namespace {

// --- The format (docs/QUEUE.md). All integers little-endian. ---
constexpr char kSegmentMagic[4] = {'P', 'D', 'Q', 'S'};
constexpr char kCursorMagic[4] = {'P', 'D', 'Q', 'C'};
constexpr uint16_t kFormatVersion = 1;
constexpr uint64_t kSegmentHeaderBytes = 16;  // magic, version, reserved, first seq
constexpr uint64_t kCursorBytes = 20;         // magic, version, reserved, acked seq, crc
constexpr uint32_t kSyncMarker = 0xC7510E9D;  // bytes 9D 0E 51 C7
constexpr uint64_t kRecordHeaderBytes = 20;   // marker, crc, length, seq
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 30;
constexpr const char kSegmentSuffix[] = ".seg";
constexpr const char kCursorName[] = "cursor";
constexpr const char kCursorTempName[] = "cursor.tmp";

// --- Limits of this implementation. ---
constexpr uint64_t kMinSegmentBytes = 64 << 10;
constexpr uint64_t kMinMaxBytes = 4 * kMinSegmentBytes;
constexpr uint64_t kMaxGroupBytes = 4 << 20;  // one commit writes at most this (or one call)
constexpr size_t kReadChunkBytes = 1 << 20;
constexpr size_t kScanChunkBytes = 64 << 10;

void PutU16(char* p, uint16_t v) {
  for (int i = 0; i < 2; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
uint64_t GetLE(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
uint32_t Crc(const char* p, size_t n) {
  return static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(p), n));
}
std::string_view MarkerBytes() {
  static const std::string marker = [] {
    std::string m(4, '\0');
    PutU32(m.data(), kSyncMarker);
    return m;
  }();
  return marker;
}

void EncodeRecord(uint64_t seq, std::string_view payload, std::string* out) {
  size_t at = out->size();
  out->resize(at + kRecordHeaderBytes + payload.size());
  char* p = out->data() + at;
  PutU32(p, kSyncMarker);
  PutU32(p + 8, static_cast<uint32_t>(payload.size()));
  PutU64(p + 12, seq);
  if (!payload.empty()) std::memcpy(p + kRecordHeaderBytes, payload.data(), payload.size());
  PutU32(p + 4, Crc(p + 8, 12 + payload.size()));
}

std::string EncodeSegmentHeader(uint64_t first_seq) {
  std::string h(kSegmentHeaderBytes, '\0');
  std::memcpy(h.data(), kSegmentMagic, 4);
  PutU16(h.data() + 4, kFormatVersion);
  PutU64(h.data() + 8, first_seq);
  return h;
}

std::string EncodeCursor(uint64_t acked) {
  std::string c(kCursorBytes, '\0');
  std::memcpy(c.data(), kCursorMagic, 4);
  PutU16(c.data() + 4, kFormatVersion);
  PutU64(c.data() + 8, acked);
  PutU32(c.data() + 16, Crc(c.data(), 16));
  return c;
}

// "00000000000000000001.seg" → 1; nullopt for any other name.
std::optional<uint64_t> ParseSegmentName(std::string_view name) {
  constexpr size_t kDigits = 20;
  if (name.size() != kDigits + 4 || name.substr(kDigits) != kSegmentSuffix) return std::nullopt;
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + kDigits, id);
  if (ec != std::errc() || end != name.data() + kDigits) return std::nullopt;
  return id;
}

// Reads one segment file below `limit` through a buffer, and parses records in it.
class SegmentReader {
 public:
  struct Record {
    uint64_t seq = 0;
    std::string_view payload;  // valid until the next call
    uint64_t end = 0;          // offset after the record
  };

  SegmentReader(QueueFile* file, uint64_t limit) : file_(file), limit_(limit) {}

  // Up to n bytes at offset (fewer at the limit); valid until the next call.
  StatusOr<std::string_view> Bytes(uint64_t offset, size_t n) {
    if (offset >= limit_) return std::string_view();
    n = std::min<uint64_t>(n, limit_ - offset);
    if (offset < buf_start_ || offset + n > buf_start_ + buf_.size()) {
      size_t want = std::min<uint64_t>(std::max(n, kReadChunkBytes), limit_ - offset);
      buf_.resize(want);
      auto got = file_->ReadAt(offset, buf_.data(), want);
      if (!got.ok()) {
        buf_.clear();
        return got.status();
      }
      buf_.resize(*got);
      buf_start_ = offset;
      n = std::min<size_t>(n, *got);
    }
    return std::string_view(buf_).substr(offset - buf_start_, n);
  }

  // The record at offset when one is there, complete below the limit, with a good CRC and a seq
  // above min_seq; nullopt otherwise.
  StatusOr<std::optional<Record>> Parse(uint64_t offset, uint64_t min_seq) {
    auto head = Bytes(offset, kRecordHeaderBytes);
    if (!head.ok()) return head.status();
    if (head->size() < kRecordHeaderBytes || GetLE(head->data(), 4) != kSyncMarker) {
      return std::optional<Record>();
    }
    uint64_t length = GetLE(head->data() + 8, 4);
    if (length > kMaxPayloadBytes || offset + kRecordHeaderBytes + length > limit_) {
      return std::optional<Record>();
    }
    auto whole = Bytes(offset, kRecordHeaderBytes + length);
    if (!whole.ok()) return whole.status();
    if (whole->size() < kRecordHeaderBytes + length) return std::optional<Record>();
    const char* p = whole->data();
    if (GetLE(p + 4, 4) != Crc(p + 8, 12 + length)) return std::optional<Record>();
    Record r;
    r.seq = GetLE(p + 12, 8);
    if (r.seq <= min_seq) return std::optional<Record>();
    r.payload = whole->substr(kRecordHeaderBytes);
    r.end = offset + kRecordHeaderBytes + length;
    return std::optional<Record>(r);
  }

  // The first offset at or after `from` where Parse finds a record; nullopt when none.
  StatusOr<std::optional<uint64_t>> FindNext(uint64_t from, uint64_t min_seq) {
    for (uint64_t p = from;;) {
      auto marker = FindMarker(p, limit_);
      if (!marker.ok() || !marker->has_value()) return marker;
      auto record = Parse(**marker, min_seq);
      if (!record.ok()) return record.status();
      if (record->has_value()) return marker;
      p = **marker + 1;
    }
  }

  // Sync markers in [from, to): about how many records a corrupt region held.
  StatusOr<uint64_t> CountMarkers(uint64_t from, uint64_t to) {
    uint64_t count = 0;
    for (uint64_t p = from;; ++count) {
      auto marker = FindMarker(p, to);
      if (!marker.ok()) return marker.status();
      if (!marker->has_value()) return count;
      p = **marker + 1;
    }
  }

 private:
  // The offset of the first sync marker wholly in [from, to); nullopt when none.
  StatusOr<std::optional<uint64_t>> FindMarker(uint64_t from, uint64_t to) {
    const std::string_view marker = MarkerBytes();
    for (uint64_t p = from; p + marker.size() <= to;) {
      auto view = Bytes(p, std::min<uint64_t>(kScanChunkBytes, to - p));
      if (!view.ok()) return view.status();
      if (size_t i = view->find(marker); i != std::string_view::npos) {
        return std::optional<uint64_t>(p + i);
      }
      if (view->size() < marker.size()) break;
      p += view->size() - (marker.size() - 1);  // a marker may straddle two chunks
    }
    return std::optional<uint64_t>();
  }

  QueueFile* const file_;
  const uint64_t limit_;
  std::string buf_;
  uint64_t buf_start_ = 0;
};

}  // namespace

struct DiskQueue::Writer {
  const std::vector<std::string_view>* payloads;
  uint64_t records = 0;
  uint64_t bytes = 0;  // encoded
  bool done = false;
  Status status;
  std::condition_variable cv;
};

struct DiskQueue::ReadSnapshot {
  Pos start;
  uint64_t min_seq = 0;  // every record after start has a larger seq
  struct Seg {
    uint64_t id = 0;
    uint64_t end = 0;
    std::map<uint64_t, uint64_t> skips;
  };
  std::vector<Seg> segments;  // from start.segment on
};

struct DiskQueue::ReadResult {
  std::vector<QueueRecord> records;  // payloads empty unless copied
  std::vector<Pos> ends;             // after each record
  std::vector<uint64_t> sizes;       // encoded size of each record
  struct Region {
    uint64_t segment = 0, start = 0, end = 0, records = 0;
  };
  std::vector<Region> corrupt;  // found by this read
  Status status;
};

StatusOr<std::unique_ptr<DiskQueue>> DiskQueue::Open(DiskQueueOptions options) {
  options.max_bytes = std::max(options.max_bytes, kMinMaxBytes);
  options.segment_bytes =
      std::clamp<uint64_t>(options.segment_bytes, kMinSegmentBytes, options.max_bytes / 4);
  if (options.files == nullptr) options.files = PosixQueueFiles();
  auto queue = std::unique_ptr<DiskQueue>(new DiskQueue(std::move(options)));
  if (Status s = queue->Recover(); !s.ok()) return s;
  return queue;
}

DiskQueue::DiskQueue(DiskQueueOptions options)
    : options_(std::move(options)), files_(options_.files) {}

DiskQueue::~DiskQueue() { Close(); }

std::filesystem::path DiskQueue::SegmentPath(uint64_t id) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu%s", static_cast<unsigned long long>(id),
                kSegmentSuffix);
  return options_.dir / name;
}

// --- Recovery ---

Status DiskQueue::Recover() {
  const auto& dir = options_.dir;
  if (Status s = files_->CreateDir(dir); !s.ok()) return s;
  if (Status s = files_->Remove(dir / kCursorTempName);
      !s.ok() && s.code() != StatusCode::kNotFound) {
    return s;
  }
  // The cursor: missing means nothing was consumed; unreadable means we cannot tell, so
  // everything is sent again (at-least-once) rather than skipped.
  uint64_t acked = 0;
  if (auto file = files_->Open(dir / kCursorName, QueueFiles::OpenMode::kRead); file.ok()) {
    char buf[kCursorBytes];
    auto got = (*file)->ReadAt(0, buf, sizeof(buf));
    if (!got.ok()) return got.status();
    if (*got == kCursorBytes && std::memcmp(buf, kCursorMagic, 4) == 0 &&
        GetLE(buf + 4, 2) == kFormatVersion && GetLE(buf + 16, 4) == Crc(buf, 16)) {
      acked = GetLE(buf + 8, 8);
    } else {
      LOG_WARN("queue: {} is damaged; every record still queued will be sent again",
               (dir / kCursorName).string());
    }
  } else if (file.status().code() != StatusCode::kNotFound) {
    return file.status();
  }
  acked_seq_ = acked;

  auto names = files_->List(dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> ids;
  for (const auto& name : *names) {
    if (auto id = ParseSegmentName(name)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());

  uint64_t prev_seq = 0, max_id = 0;
  struct Scanned {
    Segment segment;
    uint64_t consumed_records = 0, consumed_bytes = 0, ack_end = kSegmentHeaderBytes;
  };
  std::vector<Scanned> scanned;
  std::vector<uint64_t> doomed;
  for (size_t i = 0; i < ids.size(); ++i) {
    max_id = std::max(max_id, ids[i]);
    Scanned sc;
    bool keep = true;
    if (Status s = RecoverSegment(ids[i], acked, &prev_seq, &sc.segment, &sc.consumed_records,
                                  &sc.consumed_bytes, &sc.ack_end, &keep);
        !s.ok()) {
      return s;
    }
    if (keep) scanned.push_back(std::move(sc));
  }
  // Segments wholly consumed go, but the newest stays (it keeps the seqs going up).
  size_t first = 0;
  while (first + 1 < scanned.size() &&
         scanned[first].consumed_records == scanned[first].segment.records) {
    doomed.push_back(scanned[first].segment.id);
    ++first;
  }
  for (size_t i = first; i < scanned.size(); ++i) {
    disk_bytes_ += scanned[i].segment.size;
    segments_.push_back(std::move(scanned[i].segment));
  }
  if (!segments_.empty()) {
    ack_ = {segments_.front().id, scanned[first].ack_end};
    consumed_in_front_ = scanned[first].consumed_records;
    consumed_bytes_in_front_ = scanned[first].consumed_bytes;
  }
  last_committed_seq_ = prev_seq;
  next_seq_ = std::max({acked + 1, prev_seq + 1, max_id});
  for (uint64_t id : doomed) {
    if (Status s = files_->Remove(SegmentPath(id)); !s.ok()) return s;
  }
  if (!doomed.empty() && options_.fsync) {
    if (Status s = files_->SyncDir(dir); !s.ok()) return s;
  }
  std::vector<uint64_t> more = NormalizeAckLocked();  // no other thread yet
  DeleteSegments(more);

  // Appends go on in the newest segment while it has room.
  need_roll_ = true;
  if (!segments_.empty() && segments_.back().size < options_.segment_bytes) {
    auto file = files_->Open(SegmentPath(segments_.back().id), QueueFiles::OpenMode::kAppend);
    if (!file.ok()) return file.status();
    active_file_ = std::move(*file);
    need_roll_ = false;
  }
  UpdateOccupancyLocked();
  uint64_t waiting = 0;
  for (const auto& seg : segments_) waiting += seg.records;
  waiting -= consumed_in_front_;
  LOG_INFO("queue: {}: {} segment(s), {} record(s) waiting, next seq {}", dir.string(),
           segments_.size(), waiting, next_seq_);
  return Status::Ok();
}

Status DiskQueue::RecoverSegment(uint64_t id, uint64_t acked, uint64_t* prev_seq, Segment* segment,
                                 uint64_t* consumed_records, uint64_t* consumed_bytes,
                                 uint64_t* ack_end, bool* keep) {
  const auto path = SegmentPath(id);
  auto opened = files_->Open(path, QueueFiles::OpenMode::kAppend);
  if (!opened.ok()) return opened.status();
  QueueFile& file = **opened;
  auto size = file.Size();
  if (!size.ok()) return size.status();
  segment->id = id;
  if (*size < kSegmentHeaderBytes) {
    // Created, then cut short by a crash before its header was durable.
    LOG_WARN("queue: {}: {} bytes, shorter than a segment header; removed", path.string(), *size);
    stats_.torn_tail_bytes += *size;
    *keep = false;
    opened->reset();
    return files_->Remove(path);
  }
  SegmentReader reader(&file, *size);
  auto header = reader.Bytes(0, kSegmentHeaderBytes);
  if (!header.ok()) return header.status();
  if (std::memcmp(header->data(), kSegmentMagic, 4) != 0) {
    LOG_WARN("queue: {}: bad segment header; looking for records in it anyway", path.string());
  } else if (uint64_t version = GetLE(header->data() + 4, 2); version != kFormatVersion) {
    return Status::FailedPrecondition(path.string() + " has queue format version " +
                                      std::to_string(version) + "; this pythond reads " +
                                      std::to_string(kFormatVersion));
  }

  uint64_t offset = kSegmentHeaderBytes;
  while (offset < *size) {
    auto record = reader.Parse(offset, *prev_seq);
    if (!record.ok()) return record.status();
    if (record->has_value()) {
      const auto& r = **record;
      segment->records++;
      segment->record_bytes += r.end - offset;
      segment->last_seq = r.seq;
      if (r.seq <= acked) {
        ++*consumed_records;
        *consumed_bytes += r.end - offset;
        *ack_end = r.end;
      }
      *prev_seq = r.seq;
      offset = r.end;
      continue;
    }
    auto next = reader.FindNext(offset + 1, *prev_seq);
    if (!next.ok()) return next.status();
    if (!next->has_value()) {
      uint64_t cut = *size - offset;
      LOG_WARN("queue: {}: torn or corrupt tail at offset {} ({} bytes); cut off", path.string(),
               offset, cut);
      stats_.torn_tail_bytes += cut;
      if (Status s = file.Truncate(offset); !s.ok()) return s;
      if (options_.fsync) {
        if (Status s = file.Sync(); !s.ok()) return s;
      }
      *size = offset;
      break;
    }
    auto markers = reader.CountMarkers(offset, **next);
    if (!markers.ok()) return markers.status();
    uint64_t lost = std::max<uint64_t>(1, *markers);
    LOG_WARN("queue: {}: corrupt data at offset {} to {} (about {} record(s)); skipped",
             path.string(), offset, **next, lost);
    stats_.corrupt_records += lost;
    segment->skips[offset] = **next;
    offset = **next;
  }
  segment->size = *size;
  return Status::Ok();
}

// --- Appending ---

Status DiskQueue::Append(const std::vector<std::string_view>& payloads) {
  uint64_t bytes = 0;
  for (std::string_view p : payloads) {
    if (p.size() > kMaxPayloadBytes) {
      return Status::InvalidArgument("queue record of " + std::to_string(p.size()) +
                                     " bytes is over the limit of " +
                                     std::to_string(kMaxPayloadBytes));
    }
    bytes += kRecordHeaderBytes + p.size();
  }
  if (bytes > options_.max_bytes / 4) {
    return Status::InvalidArgument("append of " + std::to_string(bytes) +
                                   " bytes is over a quarter of the queue's max_bytes");
  }
  Writer w;
  w.payloads = &payloads;
  w.records = payloads.size();
  w.bytes = bytes;
  std::unique_lock lock(mu_);
  if (closed_) return Status::FailedPrecondition("queue " + options_.dir.string() + " is closed");
  if (payloads.empty()) return Status::Ok();
  // kSegmentHeaderBytes: room for the header of a segment this commit may start.
  if (options_.overflow == DiskQueueOptions::Overflow::kBlock &&
      disk_bytes_ + reserved_bytes_ + bytes + kSegmentHeaderBytes > options_.max_bytes) {
    return Status::ResourceExhausted("queue " + options_.dir.string() + " is full");
  }
  reserved_bytes_ += bytes;
  UpdateOccupancyLocked();
  writers_.push_back(&w);
  w.cv.wait(lock, [&] { return w.done || writers_.front() == &w; });
  if (w.done) return w.status;

  // The leader commits itself and whoever queued up behind it, in order.
  const uint64_t max_group = std::max(std::min(kMaxGroupBytes, options_.segment_bytes), w.bytes);
  std::vector<Writer*> group;
  uint64_t group_bytes = 0, group_records = 0;
  for (Writer* x : writers_) {
    if (!group.empty() && group_bytes + x->bytes > max_group) break;
    group.push_back(x);
    group_bytes += x->bytes;
    group_records += x->records;
  }
  Status s = CommitGroup(lock, group, group_records, group_bytes);
  reserved_bytes_ -= group_bytes;
  UpdateOccupancyLocked();
  for (Writer* x : group) {
    writers_.pop_front();
    x->status = s;
    x->done = true;
    if (x != &w) x->cv.notify_one();
  }
  if (!writers_.empty()) writers_.front()->cv.notify_one();
  return s;
}

Status DiskQueue::CommitGroup(std::unique_lock<std::mutex>& lock, const std::vector<Writer*>& group,
                              uint64_t group_records, uint64_t group_bytes) {
  // Seqs are used up whatever happens, so a record that failed never shares a seq with one
  // that did not.
  const uint64_t first_seq = next_seq_;
  next_seq_ += group_records;
  const bool roll = need_roll_ || segments_.empty() ||
                    (segments_.back().size > kSegmentHeaderBytes &&
                     segments_.back().size + group_bytes > options_.segment_bytes);
  lock.unlock();
  Status s;
  if (roll) s = StartSegment(first_seq);
  lock.lock();
  if (!s.ok()) {
    stats_.append_errors += group.size();
    NoteErrorLocked(s);
    return s;
  }
  std::vector<uint64_t> doomed;
  if (roll) {
    Segment segment;
    segment.id = first_seq;
    segment.size = kSegmentHeaderBytes;
    segments_.push_back(std::move(segment));
    disk_bytes_ += kSegmentHeaderBytes;
    need_roll_ = false;
    doomed = NormalizeAckLocked();
  }
  if (options_.overflow == DiskQueueOptions::Overflow::kDropOldest) {
    while (disk_bytes_ + group_bytes > options_.max_bytes && segments_.size() > 1) {
      const Segment& oldest = segments_.front();
      uint64_t lost = ack_.segment == oldest.id ? oldest.records - consumed_in_front_ : 0;
      LOG_WARN("queue: {} is full ({} bytes): dropped {} with {} undelivered record(s)",
               options_.dir.string(), disk_bytes_, SegmentPath(oldest.id).filename().string(),
               lost);
      stats_.dropped_records += lost;
      doomed.push_back(oldest.id);
      disk_bytes_ -= oldest.size;
      segments_.pop_front();
    }
    auto more = NormalizeAckLocked();
    doomed.insert(doomed.end(), more.begin(), more.end());
  }
  const uint64_t base = segments_.back().size;
  const uint64_t active_id = segments_.back().id;
  lock.unlock();

  DeleteSegments(doomed);
  encode_buffer_.clear();
  uint64_t seq = first_seq;
  for (const Writer* w : group) {
    for (std::string_view p : *w->payloads) EncodeRecord(seq++, p, &encode_buffer_);
  }
  s = active_file_->Append(encode_buffer_);
  bool synced = false;
  if (s.ok() && options_.fsync) {
    s = active_file_->Sync();
    synced = s.ok();
  }
  if (!s.ok()) {
    // Cut the failed tail back so that the next commit follows the last good record. When even
    // that fails, the next commit starts a new segment; recovery cuts this tail at the next Open.
    Status cut = active_file_->Truncate(base);
    if (cut.ok() && options_.fsync) cut = active_file_->Sync();
    if (!cut.ok()) {
      LOG_ERROR(
          "queue: cannot cut {} back to {} bytes after a failed append ({}); starting a "
          "new segment",
          SegmentPath(active_id).string(), base, cut.ToString());
      need_roll_ = true;
    }
  }
  lock.lock();
  if (synced) ++stats_.fsyncs;
  if (!s.ok()) {
    stats_.append_errors += group.size();
    NoteErrorLocked(s);
    return s;
  }
  Segment& active = segments_.back();  // drops never take the active segment
  active.size += encode_buffer_.size();
  active.records += group_records;
  active.record_bytes += encode_buffer_.size();
  active.last_seq = first_seq + group_records - 1;
  disk_bytes_ += encode_buffer_.size();
  last_committed_seq_ = active.last_seq;
  stats_.appended += group_records;
  data_cv_.notify_all();
  return Status::Ok();
}

Status DiskQueue::StartSegment(uint64_t id) {
  const auto path = SegmentPath(id);
  auto file = files_->Open(path, QueueFiles::OpenMode::kTruncate);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(EncodeSegmentHeader(id));
  if (s.ok() && options_.fsync) s = (*file)->Sync();
  if (s.ok() && options_.fsync) s = files_->SyncDir(options_.dir);  // the new name is durable
  if (!s.ok()) {
    file->reset();
    (void)files_->Remove(path);  // best effort: recovery removes or skips what is left
    return s;
  }
  active_file_ = std::move(*file);
  return Status::Ok();
}

bool DiskQueue::Full() const { return full_.load(std::memory_order_relaxed); }

void DiskQueue::UpdateOccupancyLocked() {
  full_.store(options_.overflow == DiskQueueOptions::Overflow::kBlock &&
                  disk_bytes_ + reserved_bytes_ + kRecordHeaderBytes + kSegmentHeaderBytes >
                      options_.max_bytes,
              std::memory_order_relaxed);
}

// --- Reading ---

std::vector<uint64_t> DiskQueue::NormalizeAckLocked() {
  std::vector<uint64_t> doomed;
  while (!segments_.empty()) {
    Segment& front = segments_.front();
    if (ack_.segment < front.id) {  // its segment was dropped
      ack_ = {front.id, kSegmentHeaderBytes};
      consumed_in_front_ = consumed_bytes_in_front_ = 0;
    }
    if (ack_.segment > front.id) {  // wholly consumed; the counts are already the next one's
      doomed.push_back(front.id);
      disk_bytes_ -= front.size;
      segments_.pop_front();
      continue;
    }
    for (auto it = front.skips.find(ack_.offset); it != front.skips.end();
         it = front.skips.find(ack_.offset)) {
      ack_.offset = it->second;
    }
    if (segments_.size() > 1 && ack_.offset >= front.size) {
      doomed.push_back(front.id);
      disk_bytes_ -= front.size;
      segments_.pop_front();
      ack_ = {segments_.front().id, kSegmentHeaderBytes};
      consumed_in_front_ = consumed_bytes_in_front_ = 0;
      continue;
    }
    break;
  }
  UpdateOccupancyLocked();
  return doomed;
}

void DiskQueue::DeleteSegments(const std::vector<uint64_t>& ids) {
  for (uint64_t id : ids) {
    Status s = files_->Remove(SegmentPath(id));
    if (!s.ok() && s.code() != StatusCode::kNotFound) LOG_WARN("queue: {}", s.ToString());
  }
  if (!ids.empty() && options_.fsync) {
    // Not needed for correctness (recovery deletes consumed segments again) but keeps dropped
    // records from coming back after a power cut.
    if (Status s = files_->SyncDir(options_.dir); !s.ok()) LOG_WARN("queue: {}", s.ToString());
  }
}

DiskQueue::Pos DiskQueue::CommittedEndLocked() const {
  if (segments_.empty()) return {};
  return {segments_.back().id, segments_.back().size};
}

bool DiskQueue::HasDataLocked() const { return ack_ < CommittedEndLocked(); }

DiskQueue::ReadSnapshot DiskQueue::SnapshotLocked() const {
  ReadSnapshot snapshot;
  snapshot.start = ack_;
  snapshot.min_seq = acked_seq_;
  for (const Segment& seg : segments_) {
    if (seg.id >= ack_.segment) snapshot.segments.push_back({seg.id, seg.size, seg.skips});
  }
  return snapshot;
}

DiskQueue::ReadResult DiskQueue::ReadRecords(const ReadSnapshot& snapshot, size_t max_records,
                                             size_t max_bytes, uint64_t max_seq,
                                             bool copy_payloads) {
  ReadResult result;
  std::erase_if(read_files_, [&](const auto& e) { return e.first < snapshot.start.segment; });
  uint64_t prev_seq = snapshot.min_seq, payload_bytes = 0;
  for (const auto& seg : snapshot.segments) {
    uint64_t offset =
        seg.id == snapshot.start.segment ? snapshot.start.offset : kSegmentHeaderBytes;
    if (offset >= seg.end) continue;
    auto& file = read_files_[seg.id];
    if (!file) {
      auto opened = files_->Open(SegmentPath(seg.id), QueueFiles::OpenMode::kRead);
      if (!opened.ok()) {
        read_files_.erase(seg.id);
        // Dropped by an appender meanwhile: the next read starts after it.
        if (opened.status().code() != StatusCode::kNotFound) result.status = opened.status();
        return result;
      }
      file = std::move(*opened);
    }
    SegmentReader reader(file.get(), seg.end);
    while (offset < seg.end) {
      if (auto skip = seg.skips.find(offset); skip != seg.skips.end()) {
        offset = skip->second;
        continue;
      }
      if (result.records.size() >= max_records) return result;
      auto record = reader.Parse(offset, prev_seq);
      if (!record.ok()) {
        result.status = record.status();
        return result;
      }
      if (record->has_value()) {
        const auto& r = **record;
        if (r.seq > max_seq) return result;
        if (!result.records.empty() && payload_bytes + r.payload.size() > max_bytes) {
          return result;
        }
        payload_bytes += r.payload.size();
        result.records.push_back({r.seq, copy_payloads ? std::string(r.payload) : std::string()});
        result.ends.push_back({seg.id, r.end});
        result.sizes.push_back(r.end - offset);
        prev_seq = r.seq;
        offset = r.end;
        continue;
      }
      // Damaged after Open (recovery checked every record then): skip to the next good one.
      auto next = reader.FindNext(offset + 1, prev_seq);
      if (!next.ok()) {
        result.status = next.status();
        return result;
      }
      uint64_t end = next->value_or(seg.end);
      auto markers = reader.CountMarkers(offset, end);
      result.corrupt.push_back(
          {seg.id, offset, end, std::max<uint64_t>(1, markers.ok() ? *markers : 1)});
      offset = end;
    }
  }
  return result;
}

void DiskQueue::NoteCorruptionLocked(const ReadResult& result) {
  for (const auto& region : result.corrupt) {
    auto seg = std::find_if(segments_.begin(), segments_.end(),
                            [&](const Segment& s) { return s.id == region.segment; });
    if (seg == segments_.end() || seg->skips.contains(region.start)) continue;
    seg->skips[region.start] = region.end;
    stats_.corrupt_records += region.records;
    // The records it held were counted as waiting when they were appended.
    const bool front = seg->id == ack_.segment;
    uint64_t lost = std::min(region.records, seg->records - (front ? consumed_in_front_ : 0));
    seg->records -= lost;
    seg->record_bytes -= std::min(region.end - region.start,
                                  seg->record_bytes - (front ? consumed_bytes_in_front_ : 0));
    LOG_WARN("queue: {}: corrupt data at offset {} to {} (about {} record(s)); skipped",
             SegmentPath(region.segment).string(), region.start, region.end, region.records);
  }
}

std::vector<QueueRecord> DiskQueue::Peek(size_t max_records, size_t max_bytes, int64_t wait_ns) {
  if (max_records == 0) return {};
  constexpr int64_t kMaxWaitNs = int64_t{365} * 86400 * 1'000'000'000;
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::nanoseconds(std::clamp<int64_t>(wait_ns, 0, kMaxWaitNs));
  std::unique_lock lock(mu_);
  while (!closed_ && !HasDataLocked()) {
    if (data_cv_.wait_until(lock, deadline) == std::cv_status::timeout) break;
  }
  if (!HasDataLocked()) return {};
  ReadSnapshot snapshot = SnapshotLocked();
  lock.unlock();
  ReadResult result = ReadRecords(snapshot, max_records, max_bytes, UINT64_MAX, true);
  lock.lock();
  const bool moved = ack_ != snapshot.start;  // an appender dropped the segment meanwhile
  NoteCorruptionLocked(result);
  if (!result.status.ok()) NoteErrorLocked(result.status);
  std::vector<uint64_t> doomed = NormalizeAckLocked();  // past corruption at the read position
  peek_cache_ = {};
  if (!moved) {
    peek_cache_.start = ack_;
    for (size_t i = 0; i < result.records.size(); ++i) {
      peek_cache_.ends.push_back({result.records[i].seq, result.ends[i]});
      peek_cache_.bytes.push_back(result.sizes[i]);
    }
  }
  lock.unlock();
  DeleteSegments(doomed);
  return std::move(result.records);
}

Status DiskQueue::Consume(uint64_t seq) {
  std::unique_lock lock(mu_);
  if (seq <= acked_seq_) return Status::Ok();
  if (seq > last_committed_seq_) {
    return Status::InvalidArgument("consume of seq " + std::to_string(seq) +
                                   " past the last appended " +
                                   std::to_string(last_committed_seq_));
  }
  std::vector<Pos> ends;
  std::vector<uint64_t> sizes;
  while (true) {
    const Pos start = ack_;
    ends.clear();
    sizes.clear();
    // Usually the records were just peeked: their positions are known.
    Pos from = ack_;
    uint64_t min_seq = acked_seq_;
    bool walk = true;
    if (peek_cache_.start == ack_ && !peek_cache_.ends.empty()) {
      for (size_t i = 0; i < peek_cache_.ends.size() && peek_cache_.ends[i].first <= seq; ++i) {
        ends.push_back(peek_cache_.ends[i].second);
        sizes.push_back(peek_cache_.bytes[i]);
        min_seq = peek_cache_.ends[i].first;
      }
      walk = ends.size() == peek_cache_.ends.size() && seq > min_seq;
      if (!ends.empty()) from = ends.back();
    }
    if (walk) {  // read the records to find where seq ends
      ReadSnapshot snapshot = SnapshotLocked();
      snapshot.start = from;
      snapshot.min_seq = min_seq;
      lock.unlock();
      ReadResult result = ReadRecords(snapshot, SIZE_MAX, SIZE_MAX, seq, false);
      lock.lock();
      if (ack_ != start) continue;  // an appender dropped segments meanwhile: again
      NoteCorruptionLocked(result);
      if (!result.status.ok()) {
        NoteErrorLocked(result.status);
        return result.status;
      }
      ends.insert(ends.end(), result.ends.begin(), result.ends.end());
      sizes.insert(sizes.end(), result.sizes.begin(), result.sizes.end());
    }
    break;
  }
  if (!ends.empty()) {
    const Pos target = ends.back();
    uint64_t in_target = 0, in_target_bytes = 0;
    for (size_t i = 0; i < ends.size(); ++i) {
      if (ends[i].segment == target.segment) {
        ++in_target;
        in_target_bytes += sizes[i];
      }
    }
    if (target.segment != ack_.segment) consumed_in_front_ = consumed_bytes_in_front_ = 0;
    consumed_in_front_ += in_target;
    consumed_bytes_in_front_ += in_target_bytes;
    ack_ = target;
    stats_.consumed += ends.size();
  }
  acked_seq_ = seq;
  peek_cache_ = {};
  std::vector<uint64_t> doomed = NormalizeAckLocked();
  lock.unlock();
  Status s = WriteCursor(seq);
  DeleteSegments(doomed);
  if (!s.ok()) {
    std::lock_guard relock(mu_);
    NoteErrorLocked(s);
  }
  return s;
}

Status DiskQueue::WriteCursor(uint64_t acked) {
  std::lock_guard lock(cursor_mu_);
  const auto tmp = options_.dir / kCursorTempName;
  auto file = files_->Open(tmp, QueueFiles::OpenMode::kTruncate);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(EncodeCursor(acked));
  if (s.ok() && options_.fsync) s = (*file)->Sync();
  file->reset();
  if (s.ok()) s = files_->Rename(tmp, options_.dir / kCursorName);
  if (s.ok() && options_.fsync) s = files_->SyncDir(options_.dir);
  return s;
}

// --- The rest ---

DiskQueueStats DiskQueue::Stats() const {
  std::lock_guard lock(mu_);
  DiskQueueStats s = stats_;
  for (const Segment& seg : segments_) {
    s.records += seg.records;
    s.bytes += seg.record_bytes;
  }
  s.records -= consumed_in_front_;
  s.bytes -= consumed_bytes_in_front_;
  s.appends_waiting = writers_.size();
  return s;
}

void DiskQueue::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  data_cv_.notify_all();
}

void DiskQueue::NoteErrorLocked(const Status& status) {
  stats_.last_error = status.ToString();
  LOG_WARN("queue: {}: {}", options_.dir.string(), stats_.last_error);
}

}  // namespace pythond::outputs
