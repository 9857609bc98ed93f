#include "agent/worker_session.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <boost/asio/steady_timer.hpp>

#include <chrono>

#include "agent/process_env.h"
#include "runner/python_dir.h"

namespace pythond::agent {

namespace asio = boost::asio;

ChildReaper::ChildReaper(asio::io_context& io, runner::Supervisor& supervisor)
    : signal_(io, SIGCHLD), supervisor_(supervisor) {}

void ChildReaper::Start() {
  Wait();
  ReapNow();
}

void ChildReaper::ReapNow() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) supervisor_.OnChildExit(pid, status);
}

void ChildReaper::Cancel() { signal_.cancel(); }

void ChildReaper::Wait() {
  signal_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    ReapNow();
    Wait();
  });
}

std::function<void(const runner::PipeRequest&, std::function<void(runner::PipeAnswer)>)>
PipeRequestsTo(RequestHandler handle) {
  return [handle = std::move(handle)](const runner::PipeRequest& r,
                                      std::function<void(runner::PipeAnswer)> respond) {
    ingest::Request request;
    request.method = "POST";
    request.target = r.target;
    request.content_type = r.content_type;
    request.plugin_header = r.plugin_header;
    request.body = r.body;
    handle(request, [respond = std::move(respond)](ingest::Answer answer) {
      respond(runner::PipeAnswer{answer.status, std::move(answer.body)});
    });
  };
}

runner::SupervisorOptions CommandSupervisorOptions(const config::Config& cfg) {
  runner::SupervisorOptions o;
  o.root = cfg.root;
  o.script_roots = cfg.script_roots();
  o.python_dir = runner::FindPythonDir();
  o.http_addr = cfg.listen;
  o.seed_log_dir = cfg.seed_log_dir;
  o.stop_grace_ns = 2'000'000'000;
  o.kill_after_term_ns = 1'000'000'000;
  o.start_timeout_ns = cfg.start_timeout_ns;
  o.base_env = CurrentEnvironment;
  o.wall_now_ns = WallNowNs;
  o.output_lines_per_s = 1e9;  // a command shows everything a script prints
  o.output_burst = 1e9;
  return o;
}

bool DriveSupervisor(asio::io_context& io, runner::Supervisor& supervisor,
                     const std::function<bool(const std::vector<runner::InputStats>&)>& finished) {
  // Orphans of a script's children are reparented to us and reaped (as in the agent).
  (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
  asio::signal_set stop_signals(io, SIGINT, SIGTERM);
  ChildReaper reaper(io, supervisor);
  asio::steady_timer poll(io);
  bool stopping = false, interrupted = false;
  auto stop = [&] {
    if (stopping) return;
    stopping = true;
    poll.cancel();
    supervisor.Stop([&] {
      stop_signals.cancel();
      reaper.Cancel();
      io.stop();
    });
  };
  std::function<void()> wait_stop = [&] {
    stop_signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (stopping) {
        supervisor.KillNow();
      } else {
        interrupted = true;
        stop();
      }
      wait_stop();
    });
  };
  std::function<void()> check = [&] {
    if (stopping) return;
    if (finished(supervisor.Stats())) {
      stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(50));
    poll.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) check();
    });
  };
  reaper.Start();
  wait_stop();
  supervisor.Start();
  reaper.ReapNow();
  check();
  io.run();
  reaper.ReapNow();
  return !interrupted;
}

}  // namespace pythond::agent
