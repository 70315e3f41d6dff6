#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

// Engine.IO v4 packets and polling payloads, as pure functions over bytes.
namespace sidecar::engineio {

enum class PacketType : char {
  kOpen = '0',
  kClose = '1',
  kPing = '2',
  kPong = '3',
  kMessage = '4',
  kUpgrade = '5',
  kNoop = '6',
};

struct Packet {
  PacketType type = PacketType::kMessage;
  std::string data;
  // A binary message: `data` holds raw bytes (only for kMessage).
  bool binary = false;

  friend bool operator==(const Packet&, const Packet&) = default;
};

// A text packet as it arrives in a WebSocket text frame: type digit + data.
absl::StatusOr<Packet> DecodePacket(std::string_view text);

// A polling request body: packets separated by '\x1e'; a part starting with 'b'
// is a base64 binary message. Empty bodies and empty parts are errors.
absl::StatusOr<std::vector<Packet>> DecodePayload(std::string_view body);

// The text form of a non-binary packet (WebSocket text frame).
std::string EncodePacket(const Packet& packet);

// Appends a packet to a polling response payload, with the separator.
void AppendToPayload(std::string& payload, const Packet& packet);

}  // namespace sidecar::engineio
