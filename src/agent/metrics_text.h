// GET /metrics: the agent's own state in the Prometheus text exposition format (0.0.4), from
// the same snapshot as /v1/stats (docs/API.md, "GET /metrics"). Names follow Prometheus'
// conventions: a `pythond_` prefix, base units (seconds, bytes), `_total` on counters, labels for
// inputs, plugins, categories, routes and outputs. Built on the event-loop thread.
#pragma once

#include <string>

#include "agent/stats_json.h"

namespace pythond::agent {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string MetricsText(const StatsSnapshot& s);

// A label value escaped for the text format (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view v);

}  // namespace pythond::agent
