#pragma once

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::runtime {

// std::string_view is not absl::string_view here (see strings.h).
inline absl::string_view Loggable(std::string_view text) { return ToAbsl(text); }
template <typename T>
const T& Loggable(const T& value) {
  return value;
}

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

inline std::atomic<LogLevel>& MinLogLevel() {
  static std::atomic<LogLevel> level{LogLevel::kInfo};
  return level;
}

// JSON lines (`{"time":...,"level":...,"msg":...}`) for log collectors, or text for people.
inline std::atomic<bool>& JsonLogs() {
  static std::atomic<bool> json{false};
  return json;
}

// Appends `text` as a JSON string literal.
inline void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

// One line per record on stderr, written with a single fwrite so lines from
// different io threads never interleave.
template <typename... Parts>
void Log(LogLevel level, const Parts&... parts) {
  if (level < MinLogLevel().load(std::memory_order_relaxed)) return;
  static constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
  std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::string message = absl::StrCat(Loggable(parts)...);
  std::string line;
  if (JsonLogs().load(std::memory_order_relaxed)) {
    line = absl::StrCat(R"({"time":")", time, R"(","level":")", kNames[static_cast<int>(level)],
                        R"(","msg":)");
    AppendJsonString(line, message);
    line.append("}\n");
  } else {
    line = absl::StrCat(time, " ", kNames[static_cast<int>(level)], " ", message, "\n");
  }
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace sidecar::runtime
