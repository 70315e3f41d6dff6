// The sidecar's JSON scanner (CheckJson) against nlohmann's full parser, both ways: what the
// scanner accepts, nlohmann accepts; what nlohmann accepts within the depth limit (and without a
// NUL byte, which nlohmann takes for the end of the input), the scanner accepts, with the same
// verdict on each shape. Arguments ValidateArgs accepts are a JSON array.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "sidecar/socketio/json_check.h"
#include "sidecar/socketio/packet.h"

namespace {

using Json = nlohmann::json;
using sidecar::socketio::JsonShape;

size_t Depth(const Json& value) {
  size_t deepest = 0;
  if (value.is_array() || value.is_object()) {
    for (const Json& child : value) deepest = std::max(deepest, Depth(child));
    return deepest + 1;
  }
  return 0;
}

bool Fits(const Json& value, JsonShape shape) {
  switch (shape) {
    case JsonShape::kAny:
      return true;
    case JsonShape::kObject:
      return value.is_object();
    case JsonShape::kArray:
      return value.is_array();
    case JsonShape::kEventArray:
      return value.is_array() && !value.empty() && value[0].is_string();
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace socketio = sidecar::socketio;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  bool accepted = !parsed.is_discarded();
  bool comparable = text.find('\0') == std::string_view::npos &&
                    (!accepted || Depth(parsed) <= socketio::kMaxJsonDepth);
  for (JsonShape shape :
       {JsonShape::kAny, JsonShape::kObject, JsonShape::kArray, JsonShape::kEventArray}) {
    bool checked = socketio::CheckJson(text, shape);
    if (checked && !(accepted && Fits(parsed, shape))) std::abort();
    if (comparable && checked != (accepted && Fits(parsed, shape))) std::abort();
  }
  absl::StatusOr<std::string> args = socketio::ValidateArgs(text);
  if (args.ok()) {
    Json array = Json::parse(*args, nullptr, /*allow_exceptions=*/false);
    if (!array.is_array()) std::abort();
  }
  return 0;
}
