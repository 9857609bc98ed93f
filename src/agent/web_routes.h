// The status page's routes (docs/WEB.md): GET / and /ui/* (the embedded files,
// ingest/web_assets.h) and the data explorer's two read-only store routes, answered off the
// event loop through a StoreReader:
//
//   GET /v1/store/measurements?since=<unix s>
//     {"measurements":[{"category":"metric","measurement":"cpu","fields":["n","usage"],
//                       "points":123}]}
//   GET /v1/store/series?measurement=cpu&field=usage[&category=metric][&since=<unix s>]
//                       [&limit=<points>]
//     {"series":[{"tags":{"host":"a"},"points":[[1700000000.5,0.25],...]}],
//      "series_total":1,"points_total":720,"stride":1}
//
// `since` defaults to an hour ago; `limit` to 5000 points over all series (at most 100000);
// at most 20 series. Bad parameters answer 400 datakit.badRequest.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ingest/api.h"
#include "store/store_reader.h"

namespace pythond::agent {

inline constexpr int64_t kDefaultWindowNs = 3600'000'000'000;  // since: an hour before now
inline constexpr size_t kDefaultSeriesLimit = 5000;            // points
inline constexpr size_t kMaxSeriesLimit = 100'000;             // a larger limit is capped
inline constexpr size_t kMaxSeries = 20;                       // tag sets per answer

// Adds the page's routes to `options`. `reader` must outlive the Api built from `options`;
// `now_ns` is the wall clock (unix ns).
void AddWebRoutes(ingest::ApiOptions* options, store::StoreReader* reader,
                  std::function<int64_t()> now_ns);

}  // namespace pythond::agent
