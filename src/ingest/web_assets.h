// The status page's files (docs/WEB.md), embedded into the binary at build time:
// web/embed_assets.cmake turns web/index.html, app.js, style.css and uPlot's
// dist/uPlot.iife.min.js and uPlot.min.css (pinned in web/package-lock.json) into byte arrays
// (web_assets_data.cc in the build folder). Immutable after start; thread-safe.
//
// Routes: GET / (index.html) and GET /ui/<file> for the others.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "ingest/api.h"

namespace pythond::ingest {

// One embedded file, as the generated web_assets_data.cc lists it.
struct EmbeddedFile {
  const char* name;  // its name under web/ or uPlot's dist/, e.g. "app.js"
  const unsigned char* data;
  size_t size;
};

// Defined by the generated web_assets_data.cc.
extern const EmbeddedFile kEmbeddedWebFiles[];
extern const size_t kEmbeddedWebFileCount;

struct WebAsset {
  std::string path;  // "/", "/ui/app.js", ...
  std::string_view content_type;
  std::string_view cache_control;
  std::string_view body;
};

// The asset served at `path`, or null.
const WebAsset* FindWebAsset(std::string_view path);

// Adds GET / and GET /ui/<file> for every embedded file to `routes`.
void AddWebAssetRoutes(std::map<std::string, std::function<Answer()>>* routes);

}  // namespace pythond::ingest
