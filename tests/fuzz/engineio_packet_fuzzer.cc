// Engine.IO v4 packets as they arrive in WebSocket text frames: decoding never fails other than
// with a status, and what decodes encodes back to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/engineio/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<sidecar::engineio::Packet> packet = sidecar::engineio::DecodePacket(text);
  if (!packet.ok()) return 0;
  if (sidecar::engineio::EncodePacket(*packet) != text) std::abort();
  return 0;
}
