// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram with
// "KEY=VALUE" lines to the unix socket named by $NOTIFY_SOCKET ("@name": abstract). The unit's
// Type=notify makes `systemctl start/restart` wait for READY=1 and fail when the agent exits
// before it (docs/INSTALL.md). Without $NOTIFY_SOCKET (not under systemd) it does nothing.
#pragma once

#include <string>

namespace pythond {

// Sends `state` ("READY=1\nSTATUS=..."); false when $NOTIFY_SOCKET is unset or the send failed.
bool SdNotify(const std::string& state);

}  // namespace pythond
