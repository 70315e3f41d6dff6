// The sidecar's JSON validation against nlohmann's full parser: whatever the validator accepts,
// the parser accepts too, and arguments it accepts are a JSON array.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "sidecar/socketio/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace socketio = sidecar::socketio;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (socketio::IsValidJson(text) && !nlohmann::json::accept(text)) std::abort();
  absl::StatusOr<std::string> args = socketio::ValidateArgs(text);
  if (args.ok()) {
    nlohmann::json parsed = nlohmann::json::parse(*args, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_array()) std::abort();
  }
  return 0;
}
