// One Python worker process and its four pipes: stdin (agent → worker protocol lines),
// stdout and stderr (the scripts' output, read as it comes so a script never blocks on
// print), and fd 3 (worker → agent protocol lines; docs/WORKER_PROTOCOL.md).
//
// Event-loop thread only. Owned through std::shared_ptr: pending reads hold a reference, so
// call Close() before dropping the last owner. The process is started in its own process
// group (pgid = pid) so that SignalGroup reaches the scripts' children too. Reaping is not done
// here: the supervisor waits for SIGCHLD and calls waitpid.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runner/output_lines.h"

namespace pythond::runner {

struct WorkerSpec {
  std::string cmd;                // executable as configured ("python3" or a path)
  std::vector<std::string> args;  // arguments after the executable
  std::vector<std::string> env;   // the complete environment, KEY=VALUE
  std::string cwd;                // working directory
};

class WorkerProcess : public std::enable_shared_from_this<WorkerProcess> {
 public:
  struct Callbacks {
    std::function<void(std::string_view line)> on_message;  // a protocol line from fd 3
    // A line the scripts wrote; truncated = bytes cut from an overlong line.
    std::function<void(std::string_view line, bool is_stderr, size_t truncated)> on_output;
    // A protocol line over kMaxMessageLine was dropped (its size in bytes).
    std::function<void(size_t bytes)> on_message_dropped;
    // fd 3 reached EOF or failed while the process may still run: the protocol is gone.
    std::function<void()> on_events_closed;
  };

  static constexpr size_t kMaxOutputLine = 16 * 1024;         // bytes of one stdout line
  static constexpr size_t kMaxMessageLine = 4 * 1024 * 1024;  // bytes of one protocol line

  // Starts the process. Errors: kNotFound (cmd not found in the PATH of spec.env, named with
  // that PATH), kIoError (pipe/spawn failure).
  static StatusOr<std::shared_ptr<WorkerProcess>> Spawn(boost::asio::io_context& io,
                                                        const WorkerSpec& spec,
                                                        Callbacks callbacks);
  ~WorkerProcess();

  pid_t pid() const { return pid_; }
  // fd 3 has not reached EOF yet.
  bool events_open() const { return !closed_ && readers_[kEvents].is_open(); }
  // Queues `line` plus '\n' for the worker's stdin.
  void Send(std::string line);
  // EOF on the worker's stdin: the worker exits when it sees it.
  void CloseStdin();
  // kill(-pgid, sig): the worker and every process in its group.
  void SignalGroup(int sig);
  // Stops reading and closes every pipe; callbacks are not called afterwards.
  void Close();

  // The absolute path `cmd` resolves to with the PATH found in `env` (or the agent's PATH).
  static StatusOr<std::string> ResolveExecutable(const std::string& cmd,
                                                 const std::vector<std::string>& env);

 private:
  enum Stream { kStdout = 0, kStderr = 1, kEvents = 2 };
  WorkerProcess(boost::asio::io_context& io, Callbacks callbacks);
  void StartReading(Stream s);
  void WriteNext();

  boost::asio::io_context& io_;
  Callbacks callbacks_;
  pid_t pid_ = -1;
  bool closed_ = false;
  boost::asio::posix::stream_descriptor stdin_;
  std::array<boost::asio::posix::stream_descriptor, 3> readers_;
  std::array<std::array<char, 65536>, 3> buffers_;
  std::vector<LineSplitter> splitters_;
  std::deque<std::string> write_queue_;
  bool writing_ = false;
  bool close_stdin_after_write_ = false;
};

}  // namespace pythond::runner
