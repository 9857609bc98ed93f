#include "ingest/web_assets.h"

#include <vector>

#include "common/strings.h"

namespace pythond::ingest {

namespace {

// The page and its own scripts change with the binary: the browser asks again each time
// (loopback, a few KiB). uPlot changes only with a new pin; an hour of caching is plenty.
constexpr std::string_view kRevalidate = "no-cache";
constexpr std::string_view kCacheHour = "public, max-age=3600";

std::string_view ContentType(std::string_view name) {
  if (EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (EndsWith(name, ".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

const std::vector<WebAsset>& Assets() {
  static const std::vector<WebAsset> assets = [] {
    std::vector<WebAsset> out;
    for (size_t i = 0; i < kEmbeddedWebFileCount; ++i) {
      const EmbeddedFile& f = kEmbeddedWebFiles[i];
      std::string_view name(f.name);
      out.push_back({name == "index.html" ? "/" : "/ui/" + std::string(name), ContentType(name),
                     StartsWith(name, "uPlot") ? kCacheHour : kRevalidate,
                     std::string_view(reinterpret_cast<const char*>(f.data), f.size)});
    }
    return out;
  }();
  return assets;
}

}  // namespace

const WebAsset* FindWebAsset(std::string_view path) {
  for (const WebAsset& a : Assets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

void AddWebAssetRoutes(std::map<std::string, std::function<Answer()>>* routes) {
  for (const WebAsset& a : Assets()) {
    const WebAsset* asset = &a;
    (*routes)[std::string(a.path)] = [asset] {
      Answer answer;
      answer.body = std::string(asset->body);
      answer.content_type = std::string(asset->content_type);
      answer.headers.emplace_back("Cache-Control", std::string(asset->cache_control));
      return answer;
    };
  }
}

}  // namespace pythond::ingest
