#include "sidecar/engineio/packet.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace sidecar::engineio {
namespace {

constexpr char kRecordSeparator = '\x1e';

}  // namespace

absl::StatusOr<Packet> DecodePacket(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty packet");
  char type = text[0];
  if (type < '0' || type > '6') {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown packet type '", std::string(1, type), "'"));
  }
  return Packet{static_cast<PacketType>(type), std::string(text.substr(1)), false};
}

absl::StatusOr<std::vector<Packet>> DecodePayload(std::string_view body) {
  if (body.empty()) return absl::InvalidArgumentError("empty payload");
  std::vector<Packet> packets;
  size_t start = 0;
  while (true) {
    size_t end = body.find(kRecordSeparator, start);
    std::string_view part =
        body.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!part.empty() && part[0] == 'b') {
      Packet packet{PacketType::kMessage, "", true};
      if (!absl::Base64Unescape(absl::string_view(part.data() + 1, part.size() - 1),
                                &packet.data)) {
        return absl::InvalidArgumentError("invalid base64 in binary packet");
      }
      packets.push_back(std::move(packet));
    } else {
      absl::StatusOr<Packet> packet = DecodePacket(part);
      if (!packet.ok()) return packet.status();
      packets.push_back(*std::move(packet));
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return packets;
}

std::string EncodePacket(const Packet& packet) {
  std::string text;
  text.reserve(packet.data.size() + 1);
  text.push_back(static_cast<char>(packet.type));
  text.append(packet.data);
  return text;
}

void AppendToPayload(std::string& payload, const Packet& packet) {
  if (!payload.empty()) payload.push_back(kRecordSeparator);
  if (packet.binary) {
    payload.push_back('b');
    payload.append(absl::Base64Escape(packet.data));
  } else {
    payload.push_back(static_cast<char>(packet.type));
    payload.append(packet.data);
  }
}

}  // namespace sidecar::engineio
