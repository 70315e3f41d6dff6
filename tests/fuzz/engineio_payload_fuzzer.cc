// Engine.IO v4 polling bodies: decoding never fails other than with a status, and the packets of
// a body that decodes survive being written into a payload and read back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/engineio/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sidecar::engineio::Packet;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<Packet>> packets = sidecar::engineio::DecodePayload(body);
  if (!packets.ok()) return 0;
  std::string payload;
  for (const Packet& packet : *packets) sidecar::engineio::AppendToPayload(payload, packet);
  absl::StatusOr<std::vector<Packet>> again = sidecar::engineio::DecodePayload(payload);
  if (!again.ok() || *again != *packets) std::abort();
  return 0;
}
