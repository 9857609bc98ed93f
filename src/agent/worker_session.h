// What the agent, `pythond test` and `pythond check` share around a Supervisor: reaping its
// workers, handing scripts' pipe requests to the API, and (for the commands) running it on a
// private event loop until a condition holds.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <functional>
#include <vector>

#include "config/config.h"
#include "ingest/api.h"
#include "runner/supervisor.h"

namespace pythond::agent {

// Reaps children on SIGCHLD (waitpid until none is left) and tells the supervisor about each.
// Event-loop thread only.
class ChildReaper {
 public:
  ChildReaper(boost::asio::io_context& io, runner::Supervisor& supervisor);
  void Start();    // arms the handler and reaps what already exited
  void ReapNow();  // waitpid(WNOHANG) until none is left
  void Cancel();

 private:
  void Wait();
  boost::asio::signal_set signal_;
  runner::Supervisor& supervisor_;
};

// The SupervisorOptions::on_pipe_request that hands a script's request to `handle` as the POST
// an HTTP client would send: same checks, same answer.
using RequestHandler =
    std::function<void(const ingest::Request&, std::function<void(ingest::Answer)>)>;
std::function<void(const runner::PipeRequest&, std::function<void(runner::PipeAnswer)>)>
PipeRequestsTo(RequestHandler handle);

// SupervisorOptions for a short-lived command on `cfg`'s root (no runner log, quick stop).
runner::SupervisorOptions CommandSupervisorOptions(const config::Config& cfg);

// Starts `supervisor`, runs `io` and asks `finished(stats)` every 50 ms; once it says true — or
// on SIGINT/SIGTERM — stops the workers and returns once every one is reaped. Returns false
// when interrupted by a signal.
bool DriveSupervisor(boost::asio::io_context& io, runner::Supervisor& supervisor,
                     const std::function<bool(const std::vector<runner::InputStats>&)>& finished);

}  // namespace pythond::agent
