// Engine.IO v3 polling bodies (text payloads with UTF-16 lengths, binary payloads, JSONP forms)
// and Socket.IO v4 namespace queries: decoding never fails other than with a status, and the
// packets of a body that decodes survive being written into a payload and read back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/engineio/packet.h"
#include "sidecar/socketio/packet.h"

namespace {

using sidecar::engineio::Packet;

// Writes packets back as a text (`binary_payload` false) or binary payload.
std::string Reencode(const std::vector<Packet>& packets, bool binary_payload) {
  std::string payload;
  for (const Packet& packet : packets) {
    std::string data = packet.binary ? packet.data : sidecar::engineio::EncodePacket(packet);
    if (binary_payload) {
      sidecar::engineio::AppendToBinaryPayloadV3(payload, data, packet.binary);
    } else {
      sidecar::engineio::AppendToPayloadV3(payload, data, packet.binary);
    }
  }
  return payload;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (bool binary_payload : {false, true}) {
    absl::StatusOr<std::vector<Packet>> packets =
        binary_payload ? sidecar::engineio::DecodeBinaryPayloadV3(body)
                       : sidecar::engineio::DecodePayloadV3(body);
    if (!packets.ok()) continue;
    for (bool as_binary : {false, true}) {
      std::string payload = Reencode(*packets, as_binary);
      absl::StatusOr<std::vector<Packet>> again =
          as_binary ? sidecar::engineio::DecodeBinaryPayloadV3(payload)
                    : sidecar::engineio::DecodePayloadV3(payload);
      if (!again.ok() || *again != *packets) std::abort();
    }
  }
  absl::StatusOr<std::string> form = sidecar::engineio::DecodeJsonpBody(body);
  // Whatever a script carries is one valid JavaScript string literal.
  std::string script = sidecar::engineio::JsonpScript(body, form.ok() ? *form : body);
  std::string_view literal = std::string_view(script).substr(script.find("](") + 2);
  literal.remove_suffix(2);
  if (!nlohmann::json::accept(literal)) std::abort();
  sidecar::socketio::NamespaceQuery query = sidecar::socketio::SplitNamespaceQuery(body);
  if (!nlohmann::json::parse(query.auth_json).is_object()) std::abort();
  return 0;
}
