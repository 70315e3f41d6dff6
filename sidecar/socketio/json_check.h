#pragma once

#include <cstddef>
#include <string_view>

// A validating JSON scanner: checks structure without building anything.
namespace sidecar::socketio {

// Deepest nesting of arrays and objects accepted from clients and backends.
inline constexpr size_t kMaxJsonDepth = 64;

// What the top-level value must be.
enum class JsonShape {
  kAny,
  kObject,
  kArray,
  // An array whose first element is a string (a Socket.IO event).
  kEventArray,
};

// True if `text` is exactly one JSON value of the given shape, nested at most
// kMaxJsonDepth deep. Accepts what nlohmann::json's strict parser accepts:
// RFC 8259 JSON with surrounding whitespace and an optional leading UTF-8 BOM,
// strings of valid UTF-8 without lone surrogate escapes, and numbers that are
// finite as doubles; but a NUL byte outside a string, which nlohmann takes for
// the end of the input, is rejected. A pure function of its input (tested
// against nlohmann in tests/socketio/json_check_test.cc).
bool CheckJson(std::string_view text, JsonShape shape);

}  // namespace sidecar::socketio
