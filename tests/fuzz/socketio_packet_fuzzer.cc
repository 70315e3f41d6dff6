// Socket.IO v5 packets from clients, binary ones with their attachment placeholders included:
// decoding never fails other than with a status; what decodes encodes to text that decodes to
// the same packet; an event splits into a name and arguments that join back into an event.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/socketio/packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace socketio = sidecar::socketio;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<socketio::Packet> packet = socketio::DecodePacket(text);
  if (!packet.ok()) return 0;
  absl::StatusOr<socketio::Packet> again = socketio::DecodePacket(socketio::EncodePacket(*packet));
  if (!again.ok() || *again != *packet) std::abort();
  bool event = packet->type == socketio::PacketType::kEvent ||
               packet->type == socketio::PacketType::kBinaryEvent;
  if (event || packet->type == socketio::PacketType::kAck ||
      packet->type == socketio::PacketType::kBinaryAck) {
    if (!socketio::CheckPlaceholders(packet->data, packet->attachments).ok()) std::abort();
  }
  if (!event) return 0;
  absl::StatusOr<socketio::EventParts> parts = socketio::SplitEvent(packet->data);
  if (!parts.ok()) std::abort();
  absl::StatusOr<std::string> joined = socketio::JoinEvent(parts->name, parts->args);
  if (!joined.ok()) std::abort();
  absl::StatusOr<socketio::EventParts> split_again = socketio::SplitEvent(*joined);
  if (!split_again.ok() || split_again->name != parts->name) std::abort();
  return 0;
}
