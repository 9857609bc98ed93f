#include "runner/worker_process.h"

#include <utility>  // before Boost: Boost 1.74's Asio uses std::exchange under C++20

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/strings.h"

namespace pythond::runner {

namespace asio = boost::asio;

namespace {

// Closes both ends of a set of pipes on scope exit unless released.
struct Pipe {
  int fds[2] = {-1, -1};
  ~Pipe() {
    for (int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
  }
  int Release(int i) { return std::exchange(fds[i], -1); }
};

}  // namespace

StatusOr<std::string> WorkerProcess::ResolveExecutable(const std::string& cmd,
                                                       const std::vector<std::string>& env) {
  namespace fs = std::filesystem;
  if (cmd.find('/') != std::string::npos) {
    if (::access(cmd.c_str(), X_OK) == 0 && !fs::is_directory(cmd)) return cmd;
    return Status::NotFound("cmd '" + cmd + "' is not an executable file: " + std::strerror(errno));
  }
  std::string path;
  bool found_path = false;
  for (const auto& kv : env) {
    if (StartsWith(kv, "PATH=")) {
      path = kv.substr(5);
      found_path = true;
    }
  }
  if (!found_path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& dir : SplitString(path, ':')) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + cmd;
    if (::access(candidate.c_str(), X_OK) == 0 && !fs::is_directory(candidate)) return candidate;
  }
  return Status::NotFound("cmd '" + cmd + "' not found in PATH=" + path);
}

WorkerProcess::WorkerProcess(asio::io_context& io, Callbacks callbacks)
    : io_(io),
      callbacks_(std::move(callbacks)),
      stdin_(io),
      readers_{asio::posix::stream_descriptor(io), asio::posix::stream_descriptor(io),
               asio::posix::stream_descriptor(io)} {}

WorkerProcess::~WorkerProcess() { Close(); }

StatusOr<std::shared_ptr<WorkerProcess>> WorkerProcess::Spawn(asio::io_context& io,
                                                              const WorkerSpec& spec,
                                                              Callbacks callbacks) {
  auto exe = ResolveExecutable(spec.cmd, spec.env);
  if (!exe.ok()) return exe.status();

  Pipe in, out, err, events;
  for (Pipe* p : {&in, &out, &err, &events}) {
    if (::pipe2(p->fds, O_CLOEXEC) != 0) {
      return Status::IoError(std::string("pipe2: ") + std::strerror(errno));
    }
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.fds[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out.fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err.fds[1], 2);
  posix_spawn_file_actions_adddup2(&actions, events.fds[1], 3);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, spec.cwd.c_str());
  // Nothing else of the agent's (listening socket, client connections, log files) reaches the
  // worker, whatever was opened without O_CLOEXEC.
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_store;
  argv_store.push_back(*exe);
  for (const auto& a : spec.args) argv_store.push_back(a);
  std::vector<char*> argv, envp;
  for (auto& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_store = spec.env;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exe->c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return Status::IoError("cannot start '" + *exe + "': " + std::strerror(rc));
  }

  auto w = std::shared_ptr<WorkerProcess>(new WorkerProcess(io, std::move(callbacks)));
  w->pid_ = pid;
  boost::system::error_code ec;
  w->stdin_.assign(in.fds[1], ec);
  if (!ec) in.Release(1);
  if (!ec) w->readers_[kStdout].assign(out.fds[0], ec);
  if (!ec) out.Release(0);
  if (!ec) w->readers_[kStderr].assign(err.fds[0], ec);
  if (!ec) err.Release(0);
  if (!ec) w->readers_[kEvents].assign(events.fds[0], ec);
  if (!ec) events.Release(0);
  if (ec) {
    ::kill(-pid, SIGKILL);  // reaped by the supervisor's SIGCHLD handler
    return Status::IoError("cannot watch the worker's pipes: " + ec.message());
  }
  WorkerProcess* raw = w.get();
  for (int s = 0; s < 2; ++s) {
    bool is_stderr = s == kStderr;
    w->splitters_.emplace_back(kMaxOutputLine,
                               [raw, is_stderr](std::string_view line, size_t truncated) {
                                 if (!raw->closed_ && raw->callbacks_.on_output) {
                                   raw->callbacks_.on_output(line, is_stderr, truncated);
                                 }
                               });
  }
  w->splitters_.emplace_back(kMaxMessageLine, [raw](std::string_view line, size_t truncated) {
    if (raw->closed_) return;
    if (truncated == 0) {
      if (raw->callbacks_.on_message) raw->callbacks_.on_message(line);
    } else if (raw->callbacks_.on_message_dropped) {
      raw->callbacks_.on_message_dropped(line.size() + truncated);
    }
  });
  for (Stream s : {kStdout, kStderr, kEvents}) w->StartReading(s);
  return w;
}

void WorkerProcess::StartReading(Stream s) {
  readers_[s].async_read_some(
      asio::buffer(buffers_[s]),
      [self = shared_from_this(), s](const boost::system::error_code& ec, size_t n) {
        if (self->closed_) return;
        if (n > 0) self->splitters_[s].Feed(std::string_view(self->buffers_[s].data(), n));
        if (ec) {
          self->splitters_[s].Finish();
          boost::system::error_code ignored;
          self->readers_[s].close(ignored);
          if (s == kEvents && !self->closed_ && self->callbacks_.on_events_closed) {
            self->callbacks_.on_events_closed();
          }
          return;
        }
        self->StartReading(s);
      });
}

void WorkerProcess::Send(std::string line) {
  if (closed_ || close_stdin_after_write_ || !stdin_.is_open()) return;
  line += '\n';
  write_queue_.push_back(std::move(line));
  if (!writing_) WriteNext();
}

void WorkerProcess::WriteNext() {
  if (write_queue_.empty()) {
    writing_ = false;
    if (close_stdin_after_write_) {
      boost::system::error_code ignored;
      stdin_.close(ignored);
    }
    return;
  }
  writing_ = true;
  asio::async_write(stdin_, asio::buffer(write_queue_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                      if (self->closed_) return;
                      self->write_queue_.pop_front();
                      if (ec) {
                        // The worker is gone or closed stdin; its exit is handled via SIGCHLD.
                        self->write_queue_.clear();
                        self->writing_ = false;
                        boost::system::error_code ignored;
                        self->stdin_.close(ignored);
                        return;
                      }
                      self->WriteNext();
                    });
}

void WorkerProcess::CloseStdin() {
  close_stdin_after_write_ = true;
  if (!writing_) {
    boost::system::error_code ignored;
    stdin_.close(ignored);
  }
}

void WorkerProcess::SignalGroup(int sig) {
  if (pid_ > 0) ::kill(-pid_, sig);
}

void WorkerProcess::Close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  stdin_.close(ignored);
  for (auto& r : readers_) r.close(ignored);
}

}  // namespace pythond::runner
