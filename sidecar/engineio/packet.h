#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

// Engine.IO packets and polling payloads, as pure functions over bytes: v4, and
// v3 (socket.io-client 1.x/2.x) where its framing differs.
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

// --- Engine.IO v3 ------------------------------------------------------------
// Payloads are `<length>:<packet>` concatenated, the length in UTF-16 code units
// (what JavaScript's String.length counts); a binary message is `b4<base64>`.
// Clients that support binary may also send and receive a binary payload: per
// packet a 0 (text) or 1 (binary) byte, the length's decimal digits one byte
// each, 255, then the packet (a binary packet's first byte is its type, 4).

// UTF-16 code units of UTF-8 text: 2 for a 4-byte sequence, else 1 per character
// (and 1 per byte of an invalid sequence).
size_t Utf16Length(std::string_view utf8);

absl::StatusOr<std::vector<Packet>> DecodePayloadV3(std::string_view body);
absl::StatusOr<std::vector<Packet>> DecodeBinaryPayloadV3(std::string_view body);

// Appends one packet to a text payload: `text` is a whole text packet ("4hi"),
// or with `binary` the raw bytes of a binary message (written as b4<base64>).
void AppendToPayloadV3(std::string& payload, std::string_view data, bool binary);
// The same for a binary payload (text packets as UTF-8).
void AppendToBinaryPayloadV3(std::string& payload, std::string_view data, bool binary);

// JSONP polling (the `j` query parameter): a response is a script calling
// `___eio[j]` with the payload as a JavaScript string literal, and a request
// body is a form whose `d` field holds the payload, with newlines escaped.
std::string JsonpScript(std::string_view index, std::string_view payload);
absl::StatusOr<std::string> DecodeJsonpBody(std::string_view form);

}  // namespace sidecar::engineio
