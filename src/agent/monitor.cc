#include "agent/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <iostream>
#include <memory>
#include <tuple>

#include "agent/process_env.h"
#include "common/files.h"
#include "common/strings.h"
#include "config/config.h"

namespace pythond::agent {

namespace {

using simdjson::dom::element;

constexpr int kFetchTimeoutMs = 2000;
constexpr size_t kMaxResponseBytes = 64u << 20;
constexpr const char* kDefaultAddress = "127.0.0.1:9529";
// Without a terminal to measure, --once fits this many columns (unless $COLUMNS says).
constexpr size_t kDefaultWidth = 160;
// Ingest rates are computed over this much of the agent's time at least (when the refresh is
// shorter); a bit under 1 s so that a 1 s refresh always uses the previous answer.
constexpr int64_t kRateWindowNs = 900'000'000;

// ---------------------------------------------------------------------------------------------
// Text: UTF-8 widths, sanitising, cutting with "…".

// Decodes one code point at s[i]; returns its length (1 for an invalid byte, *cp = U+FFFD).
size_t DecodeUtf8(std::string_view s, size_t i, char32_t* cp) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    *cp = 0xFFFD;
    return 1;
  }
  if (len == 1) {
    *cp = c;
    return 1;
  }
  char32_t v = c & (0x7F >> len);
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      *cp = 0xFFFD;
      return 1;
    }
    v = (v << 6) | (cc & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
    *cp = 0xFFFD;
    return 1;
  }
  *cp = v;
  return len;
}

size_t CodePointWidth(char32_t c) {
  if ((c >= 0x0300 && c <= 0x036F) || (c >= 0x200B && c <= 0x200F) ||
      (c >= 0xFE00 && c <= 0xFE0F)) {
    return 0;  // combining marks, zero-width spaces, variation selectors
  }
  if ((c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
      (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
      (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
      (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x1F300 && c <= 0x1F64F) ||
      (c >= 0x1F900 && c <= 0x1F9FF) || (c >= 0x20000 && c <= 0x3FFFD)) {
    return 2;
  }
  return 1;
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Text from the agent (script errors, names) made safe for a terminal: valid UTF-8, and no
// control characters (an ESC in a script's error must not drive the terminal).
std::string Sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    i += DecodeUtf8(s, i, &c);
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) c = ' ';
    AppendUtf8(out, c);
  }
  return out;
}

// `s` (sanitized) cut to `width` columns, ending in "…" when something was cut.
std::string Clip(std::string_view s, size_t width) {
  if (DisplayWidth(s) <= width) return std::string(s);
  if (width == 0) return "";
  std::string out;
  size_t used = 0;
  for (size_t i = 0; i < s.size();) {
    char32_t c;
    size_t len = DecodeUtf8(s, i, &c);
    size_t w = CodePointWidth(c);
    if (used + w > width - 1) break;
    out.append(s.substr(i, len));
    used += w;
    i += len;
  }
  return out + "…";
}

std::string Pad(std::string s, size_t width, bool right) {
  size_t w = DisplayWidth(s);
  if (w >= width) return s;
  return right ? std::string(width - w, ' ') + s : s + std::string(width - w, ' ');
}

std::string_view FirstLine(std::string_view s) {
  while (!s.empty() && (s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  size_t nl = s.find_first_of("\r\n");
  return nl == std::string_view::npos ? s : s.substr(0, nl);
}

// ---------------------------------------------------------------------------------------------
// Numbers.

std::string Printf(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// 1h2m3s, 2m3s, 6s; days past 24 h.
std::string FormatUptime(double seconds) {
  if (!(seconds >= 0)) return "-";
  uint64_t s = static_cast<uint64_t>(seconds);
  uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
  if (d) return std::to_string(d) + "d" + std::to_string(h) + "h" + std::to_string(m) + "m";
  if (h) return std::to_string(h) + "h" + std::to_string(m) + "m" + std::to_string(sec) + "s";
  if (m) return std::to_string(m) + "m" + std::to_string(sec) + "s";
  return std::to_string(sec) + "s";
}

// A span for "3s ago" / "in 7s": <1s, 7s, 2m5s, 1h4m, 3d2h.
std::string FormatSpan(int64_t ns) {
  if (ns < 1'000'000'000) return "<1s";
  int64_t s = ns / 1'000'000'000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s / 60 % 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s / 3600 % 24) + "h";
}

std::string Ago(int64_t then_ns, int64_t now_ns) {
  if (then_ns <= 0) return "-";
  return FormatSpan(std::max<int64_t>(0, now_ns - then_ns)) + " ago";
}

std::string In(int64_t then_ns, int64_t now_ns) {
  if (then_ns <= 0) return "-";
  if (then_ns <= now_ns) return "now";
  return "in " + FormatSpan(then_ns - now_ns);
}

// 0.4ms, 12ms, 1.25s, 12.5s, 2m5s.
std::string FormatSeconds(double s) {
  if (!(s >= 0)) return "-";
  if (s < 0.01) return Printf("%.1fms", s * 1e3);
  if (s < 1) return Printf("%.0fms", s * 1e3);
  if (s < 10) return Printf("%.2fs", s);
  if (s < 60) return Printf("%.1fs", s);
  return FormatSpan(static_cast<int64_t>(s * 1e9));
}

std::string FormatBytes(uint64_t b) {
  if (b < 1024) return std::to_string(b) + " B";
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  return Printf(v < 10 ? "%.1f " : "%.0f ", v) + kUnits[unit];
}

std::string FormatRate(double per_second) {
  if (!(per_second >= 0)) return "-";
  if (per_second == 0) return "0";
  return Printf(per_second < 10 ? "%.1f" : "%.0f", per_second);
}

// ---------------------------------------------------------------------------------------------
// Lines and tables.

enum class Style { kPlain, kBold, kDim, kGreen, kRed, kYellow };

const char* Sgr(Style style) {
  switch (style) {
    case Style::kPlain:
      return "";
    case Style::kBold:
      return "\x1b[1m";
    case Style::kDim:
      return "\x1b[2m";
    case Style::kGreen:
      return "\x1b[32m";
    case Style::kRed:
      return "\x1b[31m";
    case Style::kYellow:
      return "\x1b[33m";
  }
  return "";
}

Style StateStyle(std::string_view state) {
  if (state == "running") return Style::kGreen;
  if (state == "failing" || state == "timed_out") return Style::kRed;
  if (state == "starting" || state == "restarting" || state == "recycling") return Style::kYellow;
  if (state == "stopped" || state == "idle") return Style::kDim;
  return Style::kPlain;
}

Style CountStyle(uint64_t n, Style when_nonzero) { return n ? when_nonzero : Style::kPlain; }

// One terminal line of at most `width` columns, built from styled segments. The segment that
// would overflow is cut with "…" and later ones are dropped.
class Line {
 public:
  Line(size_t width, bool color) : width_(width), color_(color) {}

  Line& Add(std::string_view text, Style style = Style::kPlain) {
    if (full_) return *this;
    std::string s = Sanitize(text);
    size_t w = DisplayWidth(s);
    if (used_ + w > width_) {
      s = Clip(s, width_ - used_);
      w = DisplayWidth(s);
      full_ = true;
    }
    if (s.empty()) return *this;
    bool styled = color_ && style != Style::kPlain;
    if (styled) out_ += Sgr(style);
    out_ += s;
    if (styled) out_ += "\x1b[0m";
    used_ += w;
    return *this;
  }

  std::string Take() { return std::move(out_); }

 private:
  size_t width_;
  bool color_;
  size_t used_ = 0;
  bool full_ = false;
  std::string out_;
};

struct Column {
  std::string header;
  std::string short_header;  // used when the full headers do not fit
  bool right = false;        // numbers are right-aligned
  bool flexible = false;     // free text: shrinks first
  int drop = 0;              // > 0: left out on a narrow terminal, the highest first
};

Column Text(std::string header, std::string short_header = "", int drop = 0) {
  return {std::move(header), std::move(short_header), false, false, drop};
}
Column Number(std::string header, std::string short_header = "", int drop = 0) {
  return {std::move(header), std::move(short_header), true, false, drop};
}
Column FreeText(std::string header, std::string short_header = "", int drop = 0) {
  return {std::move(header), std::move(short_header), false, true, drop};
}

struct Cell {
  std::string text;
  Style style = Style::kPlain;
};

// Columns two spaces apart, fitted to a width by these steps until it fits: short headers; one
// space between columns, if that is all it takes; free-text columns shrink (the widest first)
// to kFlexibleComfort; one space; optional columns are left out (highest `drop` first); free
// text shrinks to kFlexibleMin, then kFlexibleLast; then the widest of any column. Names and
// states are cut last.
class Table {
 public:
  explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

  void AddRow(std::vector<Cell> row) {
    for (Cell& c : row) c.text = Sanitize(c.text);
    row.resize(columns_.size());
    rows_.push_back(std::move(row));
  }

  void Render(size_t width, bool color, std::vector<std::string>* out) const {
    static constexpr size_t kFlexibleComfort = 16, kFlexibleMin = 8, kFlexibleLast = 4;
    const size_t n = columns_.size();
    size_t gap = 2;
    bool short_headers = false;
    std::vector<bool> shown(n, true);
    std::vector<size_t> w(n);
    auto measure = [&] {
      for (size_t i = 0; i < n; ++i) {
        w[i] = DisplayWidth(Header(i, short_headers));
        for (const auto& row : rows_) w[i] = std::max(w[i], DisplayWidth(row[i].text));
        w[i] = std::min(w[i], width);
      }
    };
    auto total = [&] {
      size_t t = 0, count = 0;
      for (size_t i = 0; i < n; ++i) {
        if (!shown[i]) continue;
        t += w[i];
        ++count;
      }
      return t + gap * (count ? count - 1 : 0);
    };
    // Takes one column at a time from the widest column that may shrink, down to `floor`.
    auto shrink = [&](bool flexible_only, size_t floor) {
      while (total() > width) {
        size_t pick = n;
        for (size_t i = 0; i < n; ++i) {
          if (shown[i] && (columns_[i].flexible || !flexible_only) && w[i] > floor &&
              (pick == n || w[i] > w[pick])) {
            pick = i;
          }
        }
        if (pick == n) return;
        --w[pick];
      }
    };
    measure();
    if (total() > width) {
      short_headers = true;
      measure();
    }
    if (total() > width) {
      gap = 1;
      if (total() > width) {
        gap = 2;
        shrink(true, kFlexibleComfort);
        if (total() > width) gap = 1;
      }
    }
    while (total() > width) {
      size_t pick = n;
      for (size_t i = 0; i < n; ++i) {
        if (shown[i] && columns_[i].drop > 0 &&
            (pick == n || columns_[i].drop > columns_[pick].drop)) {
          pick = i;
        }
      }
      if (pick == n) break;
      shown[pick] = false;
    }
    shrink(true, kFlexibleMin);
    shrink(true, kFlexibleLast);
    shrink(false, 1);  // still too wide with one column each: Line cuts the rest
    size_t last = n;
    for (size_t i = 0; i < n; ++i) {
      if (shown[i]) last = i;
    }
    auto emit = [&](auto cell_at) {
      Line line(width, color);
      for (size_t i = 0; i < n; ++i) {
        if (!shown[i]) continue;
        auto [text, style] = cell_at(i);
        std::string s = Clip(text, w[i]);
        if (i != last || columns_[i].right) s = Pad(std::move(s), w[i], columns_[i].right);
        line.Add(s, style);
        if (i != last) line.Add(std::string(gap, ' '));
      }
      std::string s = line.Take();
      while (!s.empty() && s.back() == ' ') s.pop_back();
      out->push_back(std::move(s));
    };
    emit([&](size_t i) { return std::pair{Header(i, short_headers), Style::kBold}; });
    for (const auto& row : rows_) {
      emit([&](size_t i) { return std::pair{row[i].text, row[i].style}; });
    }
  }

 private:
  std::string Header(size_t i, bool short_headers) const {
    const Column& c = columns_[i];
    return short_headers && !c.short_header.empty() ? c.short_header : c.header;
  }

  std::vector<Column> columns_;
  std::vector<std::vector<Cell>> rows_;
};

// The frame's lines, with the height limit applied at the end.
class Frame {
 public:
  explicit Frame(const RenderOptions& o) : o_(o) {}

  Line NewLine() const { return Line(o_.width, o_.color); }
  size_t width() const { return o_.width; }
  void Push(Line& line) { lines_.push_back(line.Take()); }
  void Text(std::string_view text, Style style = Style::kPlain) {
    Line l = NewLine();
    l.Add(text, style);
    Push(l);
  }
  void Blank() { lines_.emplace_back(); }
  void Add(const Table& t) { t.Render(o_.width, o_.color, &lines_); }

  std::string Finish() {
    if (o_.height > 0 && lines_.size() > o_.height) {
      size_t hidden = lines_.size() - (o_.height - 1);
      lines_.resize(o_.height - 1);
      Line l = NewLine();
      l.Add("… " + std::to_string(hidden) + " more lines (a taller terminal shows them)",
            Style::kDim);
      Push(l);
    }
    std::string out;
    for (const std::string& l : lines_) out += l + "\n";
    return out;
  }

 private:
  const RenderOptions& o_;
  std::vector<std::string> lines_;
};

struct Field {
  std::string label;
  std::string value;
  Style style = Style::kPlain;  // the value's
};

// `title` then "  label value" pairs, wrapped onto further lines (indented by two spaces) where
// the next pair would not fit, rather than cut.
void Fields(Frame& f, std::string_view title, const std::vector<Field>& fields) {
  size_t width = f.width();
  Line line = f.NewLine();
  line.Add(title, Style::kBold);
  size_t used = DisplayWidth(Sanitize(title));
  for (const Field& field : fields) {
    std::string label = Sanitize(field.label), value = Sanitize(field.value);
    size_t w = 2 + DisplayWidth(label) + (label.empty() ? 0 : 1) + DisplayWidth(value);
    if (used + w > width && used > 2) {
      f.Push(line);
      line = f.NewLine();
      used = 0;
    }
    line.Add("  " + label + (label.empty() ? "" : " "));
    line.Add(value, field.style);
    used += w;
  }
  f.Push(line);
}

void KeysLine(Frame& f, const RenderOptions& o) {
  if (!o.interactive) return;
  Line l = f.NewLine();
  l.Add("keys: ", Style::kDim).Add("q", Style::kBold).Add(" quit  ");
  l.Add("e", Style::kBold).Add(o.tracebacks ? " hide tracebacks  " : " show tracebacks  ");
  l.Add("r", Style::kBold).Add(" refresh now  ");
  l.Add("(every " + o.refresh + ")", Style::kDim);
  f.Push(l);
}

const MonitorWorker* FindWorker(const MonitorInput& in, std::string_view label) {
  for (const MonitorWorker& w : in.workers) {
    if (w.label == label) return &w;
  }
  return in.workers.size() == 1 ? &in.workers[0] : nullptr;
}

void PluginsSection(Frame& f, const StatsView& s) {
  size_t plugins = 0;
  std::vector<std::pair<std::string, size_t>> states;  // in order of appearance
  for (const MonitorInput& in : s.inputs) {
    for (const MonitorPlugin& p : in.plugins) {
      ++plugins;
      auto it = std::find_if(states.begin(), states.end(),
                             [&](const auto& e) { return e.first == p.state; });
      if (it == states.end()) {
        states.emplace_back(p.state, 1);
      } else {
        ++it->second;
      }
    }
  }
  Line title = f.NewLine();
  title.Add("Plugins", Style::kBold);
  title.Add("  " + std::to_string(s.inputs.size()) +
            (s.inputs.size() == 1 ? " input, " : " inputs, ") + std::to_string(plugins) +
            (plugins == 1 ? " plugin" : " plugins"));
  for (size_t i = 0; i < states.size(); ++i) {
    title.Add(i ? ", " : ": ");
    title.Add(std::to_string(states[i].second) + " " + states[i].first,
              StateStyle(states[i].first));
  }
  f.Push(title);
  if (s.inputs.empty()) {
    f.Text("no inputs configured (no [[inputs.pythond]] in conf.d)", Style::kDim);
    return;
  }
  Table t({FreeText("input"), FreeText("plugin"), Text("state"), Number("runs"),
           Number("failures", "fail"), Number("timeouts", "tmo", 8), Number("skipped", "skip", 7),
           Number("duration", "dur", 2), Number("p99", "", 9), Number("last run", "last", 1),
           Number("next run", "next", 3), Number("pid", "", 4), Number("rss", "", 5),
           Number("restarts", "rst", 6)});
  auto worker_cells = [](const MonitorWorker* w, std::vector<Cell>& row) {
    row.push_back({w && w->pid > 0 ? std::to_string(w->pid) : "-"});
    row.push_back({w && w->rss_bytes ? FormatBytes(w->rss_bytes) : "-"});
    row.push_back(
        {w ? std::to_string(w->restarts) : "-", w && w->crash_loop ? Style::kRed : Style::kPlain});
  };
  for (const MonitorInput& in : s.inputs) {
    if (in.plugins.empty()) {
      const MonitorWorker* w = in.workers.empty() ? nullptr : &in.workers[0];
      std::string state = w ? w->state : "-";
      std::vector<Cell> row = {{in.name}, {"-"}, {state, StateStyle(state)}};
      for (int i = 0; i < 8; ++i) row.push_back({"-"});
      worker_cells(w, row);
      t.AddRow(std::move(row));
      continue;
    }
    for (const MonitorPlugin& p : in.plugins) {
      bool ran = p.runs > 0;
      std::vector<Cell> row = {
          {in.name},
          {p.name},
          {p.state, StateStyle(p.state)},
          {std::to_string(p.runs)},
          {std::to_string(p.failures), CountStyle(p.failures, Style::kRed)},
          {std::to_string(p.timeouts), CountStyle(p.timeouts, Style::kRed)},
          {std::to_string(p.skipped), CountStyle(p.skipped, Style::kYellow)},
          {ran ? FormatSeconds(p.last_duration_s) : "-"},
          {ran ? FormatSeconds(p.p99_duration_s) : "-"},
          {Ago(p.last_run_unix_ns, s.now_unix_ns)},
          {In(p.next_run_unix_ns, s.now_unix_ns)},
      };
      worker_cells(FindWorker(in, p.worker), row);
      t.AddRow(std::move(row));
    }
  }
  f.Add(t);
}

void IngestSection(Frame& f, const StatsView& now, const StatsView* before) {
  if (!now.ingest) return;
  const MonitorIngest& in = *now.ingest;
  Fields(
      f, "Ingest",
      {{"requests", std::to_string(in.requests)},
       {"writes", std::to_string(in.write_requests)},
       {"bad requests", std::to_string(in.bad_requests), CountStyle(in.bad_requests, Style::kRed)},
       {"busy (503)", std::to_string(in.busy), CountStyle(in.busy, Style::kRed)},
       {"rate limited (429)", std::to_string(in.rate_limited),
        CountStyle(in.rate_limited, Style::kYellow)},
       {"forbidden (403)", std::to_string(in.forbidden),
        CountStyle(in.forbidden, Style::kYellow)}});

  // Rates only between two answers of the same agent process, the later one second.
  const MonitorIngest* prev = nullptr;
  double elapsed_s = 0;
  if (before && before->ingest && before->pid == now.pid &&
      before->started_unix_ns == now.started_unix_ns && now.now_unix_ns > before->now_unix_ns) {
    prev = &*before->ingest;
    elapsed_s = (now.now_unix_ns - before->now_unix_ns) / 1e9;
  }
  auto rate = [&](std::string_view category, uint64_t points) -> std::string {
    if (!prev) return "-";
    uint64_t old = 0;
    for (const auto& [c, n] : prev->points) {
      if (c == category) old = n;
    }
    if (points < old) return "-";
    return FormatRate(static_cast<double>(points - old) / elapsed_s);
  };
  std::vector<Column> columns = {Text("category")};
  std::vector<Cell> points_row = {{"points"}}, rate_row = {{"points/s"}};
  uint64_t total = 0, prev_total = 0;
  for (const auto& [category, n] : in.points) {
    total += n;
    if (n == 0) continue;
    columns.push_back({category, "", true});
    points_row.push_back({std::to_string(n)});
    rate_row.push_back({rate(category, n)});
  }
  if (prev) {
    for (const auto& [c, n] : prev->points) prev_total += n;
  }
  if (total == 0) {
    f.Text("no points yet", Style::kDim);
    return;
  }
  columns.push_back(Number("total"));
  points_row.push_back({std::to_string(total)});
  rate_row.push_back(
      {prev && total >= prev_total ? FormatRate((total - prev_total) / elapsed_s) : "-"});
  Table t(std::move(columns));
  t.AddRow(std::move(points_row));
  t.AddRow(std::move(rate_row));
  f.Add(t);
}

void OutputsSection(Frame& f, const StatsView& s) {
  if (s.outputs) {
    Line title = f.NewLine();
    title.Add("Outputs", Style::kBold);
    if (s.outputs->empty()) title.Add("  none configured (the store only)", Style::kDim);
    f.Push(title);
    if (!s.outputs->empty()) {
      Table t({FreeText("output"), Text("type", "", 2), FreeText("target"), Text("state", "", 1),
               Number("queued", "queue"), Number("queued bytes", "bytes", 4), Number("sent"),
               Number("retries", "retry", 3), Number("dead letters", "dead"),
               FreeText("last error")});
      for (const MonitorOutput& o : *s.outputs) {
        if (!o.has_queue) {
          t.AddRow({{o.name},
                    {o.type},
                    {o.target + " (" + std::to_string(o.series) + " series)"},
                    {o.state.empty() ? "-" : o.state},
                    {"-"},
                    {"-"},
                    {std::to_string(o.samples_written)},
                    {"-"},
                    {"-"},
                    {""}});
          continue;
        }
        // "ok", "retrying" (the backend fails; backing off) or "stopped".
        Style state = o.state == "ok"         ? Style::kGreen
                      : o.state == "retrying" ? Style::kYellow
                      : o.state == "stopped"  ? Style::kDim
                                              : Style::kPlain;
        t.AddRow(
            {{o.name},
             {o.type},
             {o.target},
             {o.state.empty() ? "-" : o.state, state},
             {std::to_string(o.queue_records)},
             {FormatBytes(o.queue_bytes)},
             {std::to_string(o.points_sent)},
             {std::to_string(o.retries), CountStyle(o.retries, Style::kYellow)},
             {std::to_string(o.deadletter_batches), CountStyle(o.deadletter_batches, Style::kRed)},
             {std::string(FirstLine(o.last_error)), Style::kRed}});
      }
      f.Add(t);
    }
  }
  if (s.store) {
    const MonitorStore& st = *s.store;
    std::vector<Field> fields = {
        {"rows written", std::to_string(st.rows_written)},
        {"transactions", std::to_string(st.transactions)},
        {"write errors", std::to_string(st.write_errors), CountStyle(st.write_errors, Style::kRed)},
        {"dropped batches", std::to_string(st.batches_dropped),
         CountStyle(st.batches_dropped, Style::kRed)},
        {"queued", FormatBytes(st.queued_bytes)}};
    if (!st.last_error.empty()) {
      fields.push_back({"last error:", std::string(FirstLine(st.last_error)), Style::kRed});
    }
    Fields(f, "Store", fields);
  }
}

void GitSection(Frame& f, const StatsView& s) {
  if (!s.git_repos) return;
  Line title = f.NewLine();
  title.Add("Git repositories", Style::kBold);
  if (s.git_repos->empty()) title.Add("  none enabled", Style::kDim);
  f.Push(title);
  if (s.git_repos->empty()) return;
  Table t({FreeText("repository", "repo"), FreeText("branch", "", 3), Text("head"),
           FreeText("summary", "", 2), Number("last pull", "pull", 1), Text("last_ok", "ok"),
           Number("pulls", "", 4), Number("failures", "fail"), FreeText("last error")});
  for (const MonitorRepo& r : *s.git_repos) {
    t.AddRow({{r.name},
              {r.branch},
              {r.head.empty() ? "-" : r.head.substr(0, 7)},
              {r.head_summary},
              {Ago(r.last_pull_unix_ns, s.now_unix_ns)},
              {r.last_ok ? "yes" : "no", r.last_ok ? Style::kGreen : Style::kRed},
              {std::to_string(r.pulls)},
              {std::to_string(r.failures), CountStyle(r.failures, Style::kRed)},
              {std::string(FirstLine(r.last_error)), Style::kRed}});
  }
  f.Add(t);
}

void Indented(Frame& f, std::string_view text, Style style) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!(nl == std::string_view::npos && line.empty())) {
      std::string expanded = ReplaceAll(std::string(line), "\t", "    ");
      f.Text("    " + expanded, style);
    }
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
}

void ErrorsSection(Frame& f, const StatsView& s, const RenderOptions& o) {
  Line title = f.NewLine();
  title.Add("Errors", Style::kBold);
  if (o.interactive) {
    title.Add(o.tracebacks ? "  (e: hide tracebacks)" : "  (e: show tracebacks)", Style::kDim);
  }
  f.Push(title);
  size_t count = 0;
  if (s.reload && !s.reload->last_ok) {
    ++count;
    Line l = f.NewLine();
    l.Add("reload rejected", Style::kRed).Add("  ").Add(FirstLine(s.reload->last_result));
    f.Push(l);
  }
  for (const MonitorInput& in : s.inputs) {
    for (const std::string& problem : in.problems) {
      ++count;
      Line l = f.NewLine();
      l.Add(in.name, Style::kBold).Add("  ").Add("problem", Style::kYellow).Add("  " + problem);
      f.Push(l);
    }
    for (const MonitorWorker& w : in.workers) {
      if (w.crash_loop) {
        ++count;
        Line l = f.NewLine();
        l.Add(in.name + " (worker " + w.label + ")", Style::kBold).Add("  ");
        l.Add("crash loop", Style::kRed).Add("  last exit: " + w.last_exit);
        f.Push(l);
      }
      for (const MonitorImportError& e : w.import_errors) {
        ++count;
        Line l = f.NewLine();
        l.Add(in.name + " (worker " + w.label + ")", Style::kBold).Add("  ");
        l.Add("import " + e.module, Style::kRed).Add("  ").Add(FirstLine(e.error));
        f.Push(l);
        if (o.tracebacks) Indented(f, e.traceback.empty() ? e.error : e.traceback, Style::kDim);
      }
    }
    for (const MonitorPlugin& p : in.plugins) {
      if (p.state != "failing" && p.state != "timed_out") continue;
      ++count;
      Line l = f.NewLine();
      l.Add(in.name + "/" + p.name, Style::kBold).Add("  ");
      l.Add(p.state, Style::kRed).Add("  ");
      l.Add(Ago(p.last_error_unix_ns, s.now_unix_ns), Style::kDim).Add("  ");
      l.Add(p.last_error.empty() ? "(no error text)" : FirstLine(p.last_error));
      f.Push(l);
      if (o.tracebacks) {
        if (!p.last_traceback.empty()) Indented(f, p.last_traceback, Style::kDim);
        if (!p.last_hint.empty()) Indented(f, p.last_hint, Style::kYellow);
      }
    }
  }
  if (count == 0) f.Text("none", Style::kDim);
}

void HeaderLine(Frame& f, const StatsView& s, const RenderOptions& o) {
  std::vector<Field> fields = {{"pid", std::to_string(s.pid), Style::kBold},
                               {"up", FormatUptime(s.uptime_s), Style::kBold},
                               {"rss", s.rss_bytes ? FormatBytes(s.rss_bytes) : "-", Style::kBold},
                               {"listen", o.address.empty() ? "-" : o.address, Style::kBold}};
  if (!o.refreshed_at.empty()) fields.push_back({"refreshed", o.refreshed_at, Style::kBold});
  Fields(f, "pythond " + (s.version.empty() ? std::string("?") : s.version), fields);
}

// ---------------------------------------------------------------------------------------------
// JSON.

std::string GetString(element e, const char* key) {
  std::string_view v;
  if (e[key].get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

uint64_t GetUint(element e, const char* key) {
  element v;
  if (e[key].get(v) != simdjson::SUCCESS) return 0;
  uint64_t u;
  if (v.get(u) == simdjson::SUCCESS) return u;
  double d;
  if (v.get(d) == simdjson::SUCCESS && d >= 0 && d < 1.8e19) return static_cast<uint64_t>(d);
  return 0;
}

int64_t GetInt(element e, const char* key) {
  element v;
  if (e[key].get(v) != simdjson::SUCCESS) return 0;
  int64_t i;
  if (v.get(i) == simdjson::SUCCESS) return i;
  double d;
  if (v.get(d) == simdjson::SUCCESS && d > -9.2e18 && d < 9.2e18) return static_cast<int64_t>(d);
  return 0;
}

double GetDouble(element e, const char* key) {
  element v;
  if (e[key].get(v) != simdjson::SUCCESS) return 0;
  double d;
  if (v.get(d) == simdjson::SUCCESS) return d;
  int64_t i;
  if (v.get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  uint64_t u;
  if (v.get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  return 0;
}

bool GetBool(element e, const char* key, bool missing) {
  bool b;
  if (e[key].get(b) != simdjson::SUCCESS) return missing;
  return b;
}

// Iterates an array member; a missing or non-array member has no elements.
template <typename F>
void ForEach(element e, const char* key, F&& f) {
  simdjson::dom::array a;
  if (e[key].get(a) != simdjson::SUCCESS) return;
  for (element item : a) f(item);
}

bool Has(element e, const char* key, simdjson::dom::element_type type) {
  element v;
  return e[key].get(v) == simdjson::SUCCESS && v.type() == type;
}

MonitorPlugin ParsePlugin(element e) {
  MonitorPlugin p;
  p.name = GetString(e, "name");
  p.state = GetString(e, "state");
  p.worker = GetString(e, "worker");
  p.last_error = GetString(e, "last_error");
  p.last_traceback = GetString(e, "last_traceback");
  p.last_hint = GetString(e, "last_hint");
  p.runs = GetUint(e, "runs");
  p.failures = GetUint(e, "failures");
  p.timeouts = GetUint(e, "timeouts");
  p.skipped = GetUint(e, "skipped");
  p.interval_s = GetDouble(e, "interval_s");
  p.last_duration_s = GetDouble(e, "last_duration_s");
  element d;
  if (e["duration_s"].get(d) == simdjson::SUCCESS) p.p99_duration_s = GetDouble(d, "p99");
  p.last_run_unix_ns = GetInt(e, "last_run_unix_ns");
  p.next_run_unix_ns = GetInt(e, "next_run_unix_ns");
  p.last_error_unix_ns = GetInt(e, "last_error_unix_ns");
  return p;
}

MonitorWorker ParseWorker(element e) {
  MonitorWorker w;
  w.label = GetString(e, "label");
  w.state = GetString(e, "state");
  w.last_exit = GetString(e, "last_exit");
  w.pid = GetInt(e, "pid");
  w.restarts = GetUint(e, "restarts");
  w.rss_bytes = GetUint(e, "rss_bytes");
  w.crash_loop = GetBool(e, "crash_loop", false);
  ForEach(e, "import_errors", [&](element ie) {
    w.import_errors.push_back({GetString(ie, "module"), GetString(ie, "file"),
                               GetString(ie, "error"), GetString(ie, "traceback")});
  });
  return w;
}

MonitorOutput ParseOutput(element e) {
  MonitorOutput o;
  o.name = GetString(e, "name");
  o.type = GetString(e, "type");
  o.target = GetString(e, "target");
  o.state = GetString(e, "state");
  o.last_error = GetString(e, "last_error");
  element q;
  if (e["queue"].get(q) == simdjson::SUCCESS && q.is_object()) {
    o.has_queue = true;
    o.queue_records = GetUint(q, "records");
    o.queue_bytes = GetUint(q, "bytes");
    if (o.last_error.empty()) o.last_error = GetString(q, "last_error");
  } else {
    o.target = GetString(e, "path");
  }
  o.points_sent = GetUint(e, "points_sent");
  o.retries = GetUint(e, "retries");
  o.deadletter_batches = GetUint(e, "deadletter_batches");
  o.deadletter_points = GetUint(e, "deadletter_points");
  o.series = GetUint(e, "series");
  o.samples_written = GetUint(e, "samples_written");
  return o;
}

// ---------------------------------------------------------------------------------------------
// HTTP.

std::string LowerFirst(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

std::string ErrnoText(int err) { return LowerFirst(std::strerror(err)); }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

struct ResponseHead {
  int status = 0;
  size_t body_offset = 0;
  bool chunked = false;
  std::optional<size_t> content_length;
};

// Parses the status line and headers; nullopt until "\r\n\r\n" has arrived.
StatusOr<std::optional<ResponseHead>> ParseHead(std::string_view raw) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::optional<ResponseHead>();
  ResponseHead h;
  h.body_offset = end + 4;
  std::string_view head = raw.substr(0, end);
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (!StartsWith(status_line, "HTTP/1.") || status_line.size() < 12 || status_line[8] != ' ') {
    return Status::InvalidArgument("not an HTTP response: " + Sanitize(FirstLine(raw)));
  }
  h.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  if (h.status < 100 || h.status > 599) {
    return Status::InvalidArgument("bad HTTP status line: " + Sanitize(status_line));
  }
  while (eol != std::string_view::npos) {
    size_t start = eol + 2;
    eol = head.find("\r\n", start);
    std::string_view line = head.substr(start, eol == std::string_view::npos ? eol : eol - start);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = TrimSpace(line.substr(0, colon));
    std::string_view value = TrimSpace(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      char* stop = nullptr;
      std::string v(value);
      unsigned long long n = std::strtoull(v.c_str(), &stop, 10);
      if (v.empty() || *stop != '\0') return Status::InvalidArgument("bad Content-Length");
      h.content_length = static_cast<size_t>(n);
    } else if (IEquals(name, "transfer-encoding") && value.find("chunked") != value.npos) {
      h.chunked = true;
    }
  }
  return std::optional<ResponseHead>(h);
}

StatusOr<std::string> DecodeChunked(std::string_view body) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) return Status::InvalidArgument("chunked body cut short");
    std::string size_text(body.substr(pos, eol - pos));
    size_t semi = size_text.find(';');
    if (semi != std::string::npos) size_text.resize(semi);
    char* stop = nullptr;
    unsigned long long n = std::strtoull(size_text.c_str(), &stop, 16);
    if (size_text.empty() || *stop != '\0') return Status::InvalidArgument("bad chunk size");
    pos = eol + 2;
    if (n == 0) return out;
    if (n > body.size() - pos || body.size() - pos - n < 2) {
      return Status::InvalidArgument("chunked body cut short");
    }
    out.append(body.substr(pos, n));
    pos += n;
    if (body.substr(pos, 2) != "\r\n") return Status::InvalidArgument("bad chunk end");
    pos += 2;
  }
}

// Set by the signal handlers; read by the loops (and the HTTP wait, to stop at once).
volatile sig_atomic_t g_stop_signal = 0;
volatile sig_atomic_t g_winch = 0;
volatile sig_atomic_t g_tstp = 0;
int g_wake_fd = -1;  // the self-pipe's write end

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for `events` on fd until the deadline. Returns 1 ready, 0 timed out, -1 stopped.
int WaitFd(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    if (g_stop_signal) return -1;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return 0;
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r > 0) return 1;
    if (r < 0 && errno != EINTR) return 1;  // let the next call report the error
  }
}

StatusOr<std::string> HttpGet(const std::string& address, const std::string& path) {
  std::string host, port;
  if (StartsWith(address, "[")) {
    size_t close = address.find(']');
    if (close == std::string::npos || address.compare(close + 1, 1, ":") != 0) {
      return Status::InvalidArgument("expected HOST:PORT, got '" + address + "'");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return Status::InvalidArgument("expected HOST:PORT, got '" + address + "'");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (host.empty()) host = "127.0.0.1";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return Status::Unavailable(LowerFirst(::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kFetchTimeoutMs);
  const std::string timeout_text =
      "no answer within " + std::to_string(kFetchTimeoutMs / 1000) + "s";

  std::unique_ptr<UniqueFd> sock;
  std::string connect_error = "no address";
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    auto fd = std::make_unique<UniqueFd>(
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd->get() < 0) {
      connect_error = ErrnoText(errno);
      continue;
    }
    if (::connect(fd->get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        connect_error = ErrnoText(errno);
        continue;
      }
      int ready = WaitFd(fd->get(), POLLOUT, deadline);
      if (ready < 0) return Status::Unavailable("interrupted");
      if (ready == 0) return Status::Unavailable(timeout_text);
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd->get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        connect_error = ErrnoText(err);
        continue;
      }
    }
    sock = std::move(fd);
    break;
  }
  if (!sock) return Status::Unavailable(connect_error);

  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + address +
                        "\r\nUser-Agent: pythond-monitor/" PYTHOND_VERSION
                        "\r\nAccept: application/json\r\nConnection: close\r\n\r\n";
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(sock->get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Status::Unavailable(ErrnoText(errno));
    int ready = WaitFd(sock->get(), POLLOUT, deadline);
    if (ready < 0) return Status::Unavailable("interrupted");
    if (ready == 0) return Status::Unavailable(timeout_text);
  }

  std::string raw;
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(sock->get(), buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<size_t>(n));
      if (raw.size() > kMaxResponseBytes) {
        return Status::ResourceExhausted("the answer is over " +
                                         std::to_string(kMaxResponseBytes >> 20) + " MiB");
      }
      // Done as soon as Content-Length bytes are in, whether or not the server closes.
      auto head = ParseHead(raw);
      if (head.ok() && *head && !(*head)->chunked && (*head)->content_length &&
          raw.size() >= (*head)->body_offset + *(*head)->content_length) {
        break;
      }
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      if (raw.empty()) return Status::Unavailable(ErrnoText(errno));
      break;
    }
    int ready = WaitFd(sock->get(), POLLIN, deadline);
    if (ready < 0) return Status::Unavailable("interrupted");
    if (ready == 0) return Status::Unavailable(timeout_text);
  }
  if (raw.empty()) return Status::Unavailable("the connection closed without an answer");
  return ParseHttpResponse(raw);
}

// ---------------------------------------------------------------------------------------------
// Terminal.

void OnSignal(int sig) {
  int saved = errno;
  if (sig == SIGWINCH) {
    g_winch = 1;
  } else if (sig == SIGTSTP) {
    g_tstp = 1;
  } else {
    g_stop_signal = sig;
  }
  if (g_wake_fd >= 0) {
    char c = 0;
    [[maybe_unused]] ssize_t n = ::write(g_wake_fd, &c, 1);
  }
  errno = saved;
}

// False when the output is gone (a closed pipe: SIGPIPE is ignored by main), or when a stop
// signal interrupts a write that blocks (a reader that stopped reading).
bool WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR && !g_stop_signal) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// The terminal's columns and rows: TIOCGWINSZ on stdout, else $COLUMNS (rows: 0, no limit).
std::pair<size_t, size_t> TerminalSize() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return {ws.ws_col, ws.ws_row};
  }
  const char* columns = std::getenv("COLUMNS");
  if (columns && std::atoi(columns) > 0) return {static_cast<size_t>(std::atoi(columns)), 0};
  return {kDefaultWidth, 0};
}

// Puts the terminal in the monitor's mode and back: keys without Enter or echo (stdin), the
// alternate screen with a hidden cursor (stdout). Restores both on Leave() and destruction.
class TerminalMode {
 public:
  TerminalMode(bool keys, bool screen) : keys_(keys), screen_(screen) { Enter(); }
  ~TerminalMode() { Leave(); }
  TerminalMode(const TerminalMode&) = delete;
  TerminalMode& operator=(const TerminalMode&) = delete;

  void Enter() {
    if (entered_) return;
    entered_ = true;
    if (keys_ && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      have_saved_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    if (screen_) WriteAll(STDOUT_FILENO, "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
  }

  void Leave() {
    if (!entered_) return;
    entered_ = false;
    if (screen_) WriteAll(STDOUT_FILENO, "\x1b[0m\x1b[?25h\x1b[?1049l");
    if (have_saved_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    have_saved_ = false;
  }

 private:
  bool keys_, screen_;
  bool entered_ = false;
  bool have_saved_ = false;
  termios saved_{};
};

std::string LocalTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// The frame drawn over the previous one: each line cleared before it is written (clearing
// after a full-width line would erase its last cell), then everything below it.
std::string ScreenUpdate(const std::string& frame, size_t rows) {
  std::string out = "\x1b[H";
  size_t lines = 0;
  size_t start = 0;
  while (start < frame.size()) {
    size_t nl = frame.find('\n', start);
    if (nl == std::string::npos) nl = frame.size();
    if (lines) out += "\r\n";
    out += "\x1b[2K";
    out.append(frame, start, nl - start);
    ++lines;
    start = nl + 1;
  }
  if (rows == 0 || lines < rows) {
    out += "\x1b[" + std::to_string(lines + 1) + ";1H\x1b[J";
  }
  return out;
}

}  // namespace

size_t DisplayWidth(std::string_view text) {
  size_t w = 0;
  for (size_t i = 0; i < text.size();) {
    char32_t c;
    i += DecodeUtf8(text, i, &c);
    w += CodePointWidth(c);
  }
  return w;
}

StatusOr<StatsView> ParseStats(std::string_view json) {
  simdjson::dom::parser parser;
  element doc;
  if (auto err = parser.parse(json.data(), json.size()).get(doc); err != simdjson::SUCCESS) {
    return Status::InvalidArgument(std::string("the stats are not JSON: ") +
                                   simdjson::error_message(err));
  }
  element agent;
  if (!doc.is_object() || doc["agent"].get(agent) != simdjson::SUCCESS || !agent.is_object()) {
    return Status::InvalidArgument("the stats have no \"agent\" object (is this pythond?)");
  }
  StatsView s;
  s.version = GetString(agent, "version");
  s.pid = GetInt(agent, "pid");
  s.now_unix_ns = GetInt(agent, "now_unix_ns");
  s.started_unix_ns = GetInt(agent, "started_unix_ns");
  s.uptime_s = GetDouble(agent, "uptime_s");
  s.rss_bytes = GetUint(agent, "rss_bytes");
  ForEach(doc, "inputs", [&](element e) {
    MonitorInput in;
    in.name = GetString(e, "name");
    ForEach(e, "problems", [&](element p) {
      std::string_view v;
      if (p.get(v) == simdjson::SUCCESS) in.problems.emplace_back(v);
    });
    ForEach(e, "workers", [&](element w) { in.workers.push_back(ParseWorker(w)); });
    ForEach(e, "plugins", [&](element p) { in.plugins.push_back(ParsePlugin(p)); });
    s.inputs.push_back(std::move(in));
  });
  using simdjson::dom::element_type;
  element e;
  if (doc["ingest"].get(e) == simdjson::SUCCESS && e.is_object()) {
    MonitorIngest in;
    in.requests = GetUint(e, "requests");
    in.write_requests = GetUint(e, "write_requests");
    in.bad_requests = GetUint(e, "bad_requests");
    in.busy = GetUint(e, "busy");
    in.rate_limited = GetUint(e, "rate_limited");
    in.forbidden = GetUint(e, "forbidden");
    simdjson::dom::object points;
    if (e["points"].get(points) == simdjson::SUCCESS) {
      for (auto field : points) {
        uint64_t n = 0;
        if (field.value.get(n) != simdjson::SUCCESS) continue;
        in.points.emplace_back(std::string(field.key), n);
      }
    }
    s.ingest = std::move(in);
  }
  if (doc["store"].get(e) == simdjson::SUCCESS && e.is_object()) {
    MonitorStore st;
    st.rows_written = GetUint(e, "rows_written");
    st.transactions = GetUint(e, "transactions");
    st.write_errors = GetUint(e, "write_errors");
    st.batches_dropped = GetUint(e, "batches_dropped");
    st.queued_bytes = GetUint(e, "queued_bytes");
    st.last_error = GetString(e, "last_error");
    s.store = std::move(st);
  }
  if (Has(doc, "outputs", element_type::ARRAY)) {
    s.outputs.emplace();
    ForEach(doc, "outputs", [&](element o) { s.outputs->push_back(ParseOutput(o)); });
  }
  if (Has(doc, "git_repos", element_type::ARRAY)) {
    s.git_repos.emplace();
    ForEach(doc, "git_repos", [&](element r) {
      MonitorRepo repo;
      repo.name = GetString(r, "name");
      repo.branch = GetString(r, "branch");
      repo.head = GetString(r, "head");
      repo.head_summary = GetString(r, "head_summary");
      repo.last_error = GetString(r, "last_error");
      repo.last_ok = GetBool(r, "last_ok", true);
      repo.last_pull_unix_ns = GetInt(r, "last_pull_unix_ns");
      repo.pulls = GetUint(r, "pulls");
      repo.failures = GetUint(r, "failures");
      repo.changes = GetUint(r, "changes");
      s.git_repos->push_back(std::move(repo));
    });
  }
  if (doc["reload"].get(e) == simdjson::SUCCESS && e.is_object()) {
    MonitorReload r;
    r.reloads = GetUint(e, "reloads");
    r.rejected = GetUint(e, "rejected");
    r.last_ok = GetBool(e, "last_ok", true);
    r.last_result = GetString(e, "last_result");
    s.reload = std::move(r);
  }
  return s;
}

std::string RenderMonitor(const StatsView& now, const StatsView* before,
                          const RenderOptions& options) {
  Frame f(options);
  HeaderLine(f, now, options);
  KeysLine(f, options);
  f.Blank();
  PluginsSection(f, now);
  if (now.ingest) {
    f.Blank();
    IngestSection(f, now, before);
  }
  if (now.outputs || now.store) {
    f.Blank();
    OutputsSection(f, now);
  }
  if (now.git_repos) {
    f.Blank();
    GitSection(f, now);
  }
  f.Blank();
  ErrorsSection(f, now, options);
  return f.Finish();
}

std::string RenderUnreachable(std::string_view error, const StatsView* last,
                              std::string_view last_seen_at, const RenderOptions& options) {
  Frame f(options);
  Line h = f.NewLine();
  h.Add("pythond monitor", Style::kBold);
  h.Add("  listen ").Add(options.address.empty() ? "-" : options.address, Style::kBold);
  if (!options.refreshed_at.empty()) h.Add("  refreshed ").Add(options.refreshed_at, Style::kBold);
  f.Push(h);
  KeysLine(f, options);
  f.Blank();
  Line l = f.NewLine();
  l.Add("cannot reach the agent at " + options.address + ": " + std::string(error) +
            "; retrying every " + options.refresh,
        Style::kRed);
  f.Push(l);
  if (last) {
    Line seen = f.NewLine();
    seen.Add("last answer at " + std::string(last_seen_at) + " from pid " +
                 std::to_string(last->pid) + " (pythond " + last->version + ", up " +
                 FormatUptime(last->uptime_s) + ")",
             Style::kDim);
    f.Push(seen);
  } else {
    f.Text("is it running? `pythond run --root DIR` writes its address to DIR/data/run.json",
           Style::kDim);
  }
  return f.Finish();
}

StatusOr<std::string> ParseHttpResponse(std::string_view raw) {
  auto head = ParseHead(raw);
  if (!head.ok()) return head.status();
  if (!*head) return Status::InvalidArgument("the HTTP answer was cut short in its headers");
  const ResponseHead& h = **head;
  std::string_view rest = raw.substr(h.body_offset);
  std::string body;
  if (h.chunked) {
    auto decoded = DecodeChunked(rest);
    if (!decoded.ok()) return decoded.status();
    body = std::move(*decoded);
  } else if (h.content_length) {
    if (rest.size() < *h.content_length) {
      return Status::InvalidArgument(
          "the HTTP answer was cut short: " + std::to_string(rest.size()) + " of " +
          std::to_string(*h.content_length) + " bytes");
    }
    body = std::string(rest.substr(0, *h.content_length));
  } else {
    body = std::string(rest);
  }
  if (h.status != 200) {
    std::string first = Clip(Sanitize(FirstLine(body)), 200);
    return Status::Unavailable("HTTP " + std::to_string(h.status) +
                               (first.empty() ? "" : ": " + first));
  }
  return body;
}

std::string ResolveMonitorAddress(const std::filesystem::path& data_dir, const std::string& to,
                                  const std::string& previous) {
  if (!to.empty()) return to;
  const std::string fallback = previous.empty() ? kDefaultAddress : previous;
  auto text = ReadFile(data_dir / "run.json");
  if (!text.ok()) return fallback;
  simdjson::dom::parser parser;
  element doc;
  std::string_view listen;
  if (parser.parse(text->data(), text->size()).get(doc) != simdjson::SUCCESS ||
      doc["listen"].get(listen) != simdjson::SUCCESS || listen.empty()) {
    return fallback;
  }
  std::string address(listen);
  if (StartsWith(address, "0.0.0.0:")) return "127.0.0.1" + address.substr(7);
  if (StartsWith(address, "[::]:")) return "[::1]" + address.substr(4);
  if (StartsWith(address, ":")) return "127.0.0.1" + address;
  return address;
}

int RunMonitor(const MonitorOptions& options) {
  int64_t refresh_ns = 0;
  if (!ParseDuration(options.refresh, &refresh_ns) || refresh_ns <= 0) {
    std::cerr << "pythond monitor: bad --refresh '" << options.refresh
              << "' (a duration such as 1s, 500ms, 2m)\n";
    return 2;
  }
  refresh_ns = std::max<int64_t>(refresh_ns, 50'000'000);
  if (!options.to.empty() && options.to.find(':') == std::string::npos) {
    std::cerr << "pythond monitor: bad --to '" << options.to << "' (HOST:PORT)\n";
    return 2;
  }
  const char* no_color = std::getenv("NO_COLOR");  // https://no-color.org: set and non-empty
  const bool out_tty = ::isatty(STDOUT_FILENO) == 1;
  RenderOptions ro;
  ro.color = out_tty && !(no_color && *no_color);
  ro.refresh = options.refresh;
  // run.json is in the data folder: ROOT/data, or under [agent] state_dir when set.
  std::filesystem::path data_dir = std::filesystem::path(options.root) / "data";
  if (options.to.empty()) {
    if (auto cfg = config::LoadConfig(options.root, ProcessEnv()); cfg.ok()) {
      data_dir = cfg->data_dir();
    }
  }
  auto fetch = [&]() -> StatusOr<StatsView> {
    ro.address = ResolveMonitorAddress(data_dir, options.to, ro.address);
    auto body = HttpGet(ro.address, "/v1/stats");
    if (!body.ok()) return body.status();
    return ParseStats(*body);
  };

  if (options.once) {
    auto view = fetch();
    if (!view.ok()) {
      std::cerr << "pythond monitor: cannot reach the agent at " << ro.address << ": "
                << view.status().message() << "\n";
      return 1;
    }
    ro.width = TerminalSize().first;
    ro.refreshed_at = LocalTime(std::chrono::system_clock::now());
    return WriteAll(STDOUT_FILENO, RenderMonitor(*view, nullptr, ro)) ? 0 : 1;
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::cerr << "pythond monitor: pipe: " << std::strerror(errno) << "\n";
    return 1;
  }
  UniqueFd wake_read(pipe_fds[0]), wake_write(pipe_fds[1]);
  g_wake_fd = wake_write.get();
  const bool keys = ::isatty(STDIN_FILENO) == 1;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a signal ends a poll() at once
  struct sigaction old_int, old_term, old_hup, old_winch, old_tstp;
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);
  ::sigaction(SIGHUP, &sa, &old_hup);
  ::sigaction(SIGWINCH, &sa, &old_winch);
  if (out_tty) ::sigaction(SIGTSTP, &sa, &old_tstp);

  {
    TerminalMode mode(keys, out_tty);
    ro.interactive = keys;
    std::optional<StatsView> last;
    // Earlier answers of the same agent process, oldest first: the front is the one rates are
    // computed against (the previous answer, or the newest one kRateWindowNs old at least when
    // refreshing faster, so that a plugin's run every second does not read 0, 5, 0, 0, 0).
    std::deque<StatsView> history;
    std::string last_seen_at, error;
    bool dirty = false, fetch_now = true, stdin_open = keys;
    auto [width, height] = TerminalSize();
    using Clock = std::chrono::steady_clock;
    Clock::time_point next_fetch = Clock::now();

    while (!g_stop_signal) {
      if (g_tstp) {  // Ctrl-Z: give the terminal back while stopped
        g_tstp = 0;
        mode.Leave();
        ::signal(SIGTSTP, SIG_DFL);
        ::raise(SIGTSTP);
        ::sigaction(SIGTSTP, &sa, nullptr);
        mode.Enter();
        g_winch = 1;
      }
      if (g_winch) {
        g_winch = 0;
        std::tie(width, height) = TerminalSize();
        dirty = true;
      }
      if (fetch_now || Clock::now() >= next_fetch) {
        fetch_now = false;
        auto view = fetch();
        if (g_stop_signal) break;
        std::string at = LocalTime(std::chrono::system_clock::now());
        ro.refreshed_at = at;
        if (view.ok()) {
          error.clear();
          if (last && last->pid == view->pid && last->started_unix_ns == view->started_unix_ns) {
            history.push_back(std::move(*last));
          } else {
            history.clear();
          }
          while (history.size() > 1 &&
                 view->now_unix_ns - history[1].now_unix_ns >= kRateWindowNs) {
            history.pop_front();
          }
          last = std::move(*view);
          last_seen_at = at;
        } else {
          error = view.status().message();
        }
        next_fetch = Clock::now() + std::chrono::nanoseconds(refresh_ns);
        dirty = true;
      }
      if (dirty) {
        dirty = false;
        ro.width = width;
        ro.height = out_tty ? height : 0;
        std::string frame =
            error.empty() && last
                ? RenderMonitor(*last, history.empty() ? nullptr : &history.front(), ro)
                : RenderUnreachable(error, last ? &*last : nullptr, last_seen_at, ro);
        if (!WriteAll(STDOUT_FILENO, out_tty ? ScreenUpdate(frame, height) : frame + "\n")) {
          break;  // nobody reads the frames any more
        }
      }
      pollfd fds[2] = {{wake_read.get(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next_fetch - Clock::now());
      int timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()) + 1);
      int r = ::poll(fds, stdin_open ? 2 : 1, timeout_ms);
      if (r <= 0) continue;  // timeout or EINTR: the loop's checks see why
      if (fds[0].revents & POLLIN) {
        char drain[64];
        while (::read(wake_read.get(), drain, sizeof drain) > 0) {
        }
      }
      if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        char keys_read[64];
        ssize_t n = ::read(STDIN_FILENO, keys_read, sizeof keys_read);
        if (n <= 0 && !(n < 0 && errno == EINTR)) stdin_open = false;  // no more keys
        for (ssize_t i = 0; i < n; ++i) {
          char c = keys_read[i];
          if (c == 'q' || c == 'Q' || c == 3 /* Ctrl-C without ISIG */) {
            g_stop_signal = -1;
          } else if (c == 'e' || c == 'E') {
            ro.tracebacks = !ro.tracebacks;
            dirty = true;
          } else if (c == 'r' || c == 'R') {
            fetch_now = true;
          }
        }
      }
    }
  }  // the terminal is restored here

  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  ::sigaction(SIGWINCH, &old_winch, nullptr);
  if (out_tty) ::sigaction(SIGTSTP, &old_tstp, nullptr);
  g_wake_fd = -1;
  g_stop_signal = 0;
  return 0;
}

}  // namespace pythond::agent
