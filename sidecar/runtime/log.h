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

// One line per record on stderr, written with a single fwrite so lines from
// different io threads never interleave.
template <typename... Parts>
void Log(LogLevel level, const Parts&... parts) {
  if (level < MinLogLevel().load(std::memory_order_relaxed)) return;
  static constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
  std::string line =
      absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ",
                   kNames[static_cast<int>(level)], " ", Loggable(parts)..., "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace sidecar::runtime
