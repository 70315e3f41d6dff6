#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sidecar/socketio/json_check.h"

// Socket.IO v5 packets, as pure functions over bytes. User JSON is validated
// but never re-encoded: events are split and built by slicing text.
namespace sidecar::socketio {

enum class PacketType : char {
  kConnect = '0',
  kDisconnect = '1',
  kEvent = '2',
  kAck = '3',
  kConnectError = '4',
  kBinaryEvent = '5',
  kBinaryAck = '6',
};

struct Packet {
  PacketType type = PacketType::kEvent;
  std::string nsp = "/";
  std::optional<uint64_t> id;
  // Number of binary attachments that follow (binary types only).
  size_t attachments = 0;
  // JSON text; empty when the packet has none.
  std::string data;

  friend bool operator==(const Packet&, const Packet&) = default;
};

// Limits that protect the parser from hostile input (and kMaxJsonDepth).
inline constexpr size_t kMaxAttachments = 1000;

// Decodes and validates a packet sent by a client: the data must suit the type
// (an object or nothing for CONNECT, an array starting with a string for an
// event, an array for an ack, nothing for DISCONNECT).
absl::StatusOr<Packet> DecodePacket(std::string_view text);

std::string EncodePacket(const Packet& packet);

struct EventParts {
  std::string name;
  // The arguments as a JSON array text, e.g. `[1,"2"]` or `[]`.
  std::string args;
};

// Splits a validated event array `["name",arg...]` into its name and arguments.
absl::StatusOr<EventParts> SplitEvent(std::string_view data);

// Builds `["name",arg...]` from a name and an arguments array text, which is
// validated (it comes from a backend). Names that are not valid UTF-8 are
// written with replacement characters.
absl::StatusOr<std::string> JoinEvent(std::string_view name, std::string_view args);

// Checks that `args` is a JSON array (empty text counts as `[]`) and returns
// it normalised (`[]` for empty).
absl::StatusOr<std::string> ValidateArgs(std::string_view args);

// Checks the attachment placeholders of a client's event or ack array, as socket.io-parser
// does: an object with "_placeholder": true must be exactly {"_placeholder":true,"num":N} with
// N an integer below `attachments`, so a packet without attachments may hold none. Otherwise a
// backend would be handed a reference to an attachment that does not exist.
absl::Status CheckPlaceholders(std::string_view data, size_t attachments);

// True if `text` is a JSON value within the depth limit.
bool IsValidJson(std::string_view text);

// Socket.IO protocol v4 (socket.io-client 1.x/2.x), which has no CONNECT payload:
// its credentials come in the namespace's query string (`/admin?token=abc`).
// Splits a CONNECT's namespace into the name and the query as a JSON object of
// decoded strings (a repeated key gives an array), which the Node server hands
// its middleware as the auth payload; `{}` without a query.
struct NamespaceQuery {
  std::string nsp;
  std::string auth_json;
};
NamespaceQuery SplitNamespaceQuery(std::string_view nsp);

}  // namespace sidecar::socketio
