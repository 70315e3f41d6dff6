#include "sidecar/engineio/packet.h"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace sidecar::engineio {
namespace {

constexpr char kRecordSeparator = '\x1e';
constexpr char kBinaryMessageType = 4;
// Longest length prefix accepted: bodies are bounded by max_http_buffer_size anyway.
constexpr size_t kMaxLengthDigits = 10;

// Bytes of the UTF-8 character at `i`: a byte that starts no complete sequence
// counts alone, as a decoder's replacement character would.
size_t CharLength(std::string_view text, size_t i) {
  auto byte = [&](size_t at) { return static_cast<unsigned char>(text[at]); };
  size_t length = byte(i) >= 0xF0 && byte(i) <= 0xF7   ? 4
                  : byte(i) >= 0xE0 && byte(i) <= 0xEF ? 3
                  : byte(i) >= 0xC0 && byte(i) <= 0xDF ? 2
                                                       : 1;
  if (i + length > text.size()) return 1;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 1;
  }
  return length;
}

// A v3 packet as text: `b4<base64>` is a binary message, anything else a packet.
absl::StatusOr<Packet> DecodePacketV3(std::string_view text) {
  if (!text.empty() && text[0] == 'b') {
    if (text.size() < 2 || text[1] != '4') {
      return absl::InvalidArgumentError("base64 packet that is not a message");
    }
    Packet packet{PacketType::kMessage, "", true};
    if (!absl::Base64Unescape(absl::string_view(text.data() + 2, text.size() - 2), &packet.data)) {
      return absl::InvalidArgumentError("invalid base64 in binary packet");
    }
    return packet;
  }
  return DecodePacket(text);
}

void AppendLengthDigits(std::string& payload, size_t length) {
  for (char digit : std::to_string(length)) payload.push_back(static_cast<char>(digit - '0'));
  payload.push_back(static_cast<char>(0xFF));
}

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

size_t Utf16Length(std::string_view utf8) {
  size_t units = 0;
  for (size_t i = 0; i < utf8.size();) {
    size_t length = CharLength(utf8, i);
    units += length == 4 ? 2 : 1;
    i += length;
  }
  return units;
}

absl::StatusOr<std::vector<Packet>> DecodePayloadV3(std::string_view body) {
  if (body.empty()) return absl::InvalidArgumentError("empty payload");
  std::vector<Packet> packets;
  size_t i = 0;
  while (i < body.size()) {
    size_t colon = body.find(':', i);
    if (colon == std::string_view::npos || colon == i || colon - i > kMaxLengthDigits) {
      return absl::InvalidArgumentError("payload without a valid length prefix");
    }
    size_t units = 0;
    for (size_t d = i; d < colon; ++d) {
      if (body[d] < '0' || body[d] > '9') return absl::InvalidArgumentError("non-digit length");
      units = units * 10 + static_cast<size_t>(body[d] - '0');
    }
    // Walk `units` UTF-16 code units forward to find where the packet ends.
    size_t end = colon + 1;
    for (size_t counted = 0; counted < units;) {
      if (end >= body.size()) return absl::InvalidArgumentError("payload shorter than its length");
      size_t length = CharLength(body, end);
      counted += length == 4 ? 2 : 1;
      if (counted > units) return absl::InvalidArgumentError("length splits a character");
      end += length;
    }
    if (end > body.size()) return absl::InvalidArgumentError("payload shorter than its length");
    if (units == 0) return absl::InvalidArgumentError("empty packet");
    absl::StatusOr<Packet> packet = DecodePacketV3(body.substr(colon + 1, end - colon - 1));
    if (!packet.ok()) return packet.status();
    packets.push_back(*std::move(packet));
    i = end;
  }
  return packets;
}

absl::StatusOr<std::vector<Packet>> DecodeBinaryPayloadV3(std::string_view body) {
  if (body.empty()) return absl::InvalidArgumentError("empty payload");
  std::vector<Packet> packets;
  size_t i = 0;
  while (i < body.size()) {
    unsigned char kind = static_cast<unsigned char>(body[i++]);
    if (kind > 1) return absl::InvalidArgumentError("binary payload with an unknown packet kind");
    size_t length = 0, digits = 0;
    while (i < body.size() && static_cast<unsigned char>(body[i]) != 0xFF) {
      unsigned char digit = static_cast<unsigned char>(body[i++]);
      if (digit > 9 || ++digits > kMaxLengthDigits) {
        return absl::InvalidArgumentError("invalid length in binary payload");
      }
      length = length * 10 + digit;
    }
    if (i >= body.size() || digits == 0 || length == 0 || body.size() - i - 1 < length) {
      return absl::InvalidArgumentError("truncated binary payload");
    }
    std::string_view data = body.substr(i + 1, length);
    i += 1 + length;
    if (kind == 0) {
      absl::StatusOr<Packet> packet = DecodePacketV3(data);
      if (!packet.ok()) return packet.status();
      packets.push_back(*std::move(packet));
    } else {
      if (data[0] != kBinaryMessageType) {
        return absl::InvalidArgumentError("binary packet that is not a message");
      }
      packets.push_back(Packet{PacketType::kMessage, std::string(data.substr(1)), true});
    }
  }
  return packets;
}

void AppendToPayloadV3(std::string& payload, std::string_view data, bool binary) {
  if (binary) {
    std::string encoded = absl::Base64Escape(absl::string_view(data.data(), data.size()));
    absl::StrAppend(&payload, encoded.size() + 2, ":b4", encoded);
    return;
  }
  absl::StrAppend(&payload, Utf16Length(data), ":");
  payload.append(data);
}

void AppendToBinaryPayloadV3(std::string& payload, std::string_view data, bool binary) {
  payload.push_back(binary ? '\x01' : '\x00');
  AppendLengthDigits(payload, data.size() + (binary ? 1 : 0));
  if (binary) payload.push_back(kBinaryMessageType);
  payload.append(data);
}

std::string JsonpScript(std::string_view index, std::string_view payload) {
  std::string literal = nlohmann::json(std::string(payload))
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // U+2028 and U+2029 are valid in JSON but end a line in JavaScript before ES2019.
  std::string script = "___eio[";
  for (char c : index) {
    if (c >= '0' && c <= '9') script.push_back(c);
  }
  script.append("](");
  for (size_t i = 0; i < literal.size(); ++i) {
    if (literal.compare(i, 2, "\xE2\x80") == 0 && i + 2 < literal.size() &&
        (literal[i + 2] == '\xA8' || literal[i + 2] == '\xA9')) {
      script.append(literal[i + 2] == '\xA8' ? "\\u2028" : "\\u2029");
      i += 2;
      continue;
    }
    script.push_back(literal[i]);
  }
  script.append(");");
  return script;
}

absl::StatusOr<std::string> DecodeJsonpBody(std::string_view body) {
  // Boost.URL 1.81's parse_query runs strlen over its input: hand it a C string, and
  // refuse NUL bytes (never valid in a form) so that strlen sees all of it.
  if (body.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("NUL byte in form body");
  }
  std::string form(body);
  if (!boost::urls::parse_query(form)) return absl::InvalidArgumentError("malformed form body");
  boost::urls::encoding_opts options;
  options.space_as_plus = true;
  boost::urls::params_view params(form, options);
  auto found = params.find("d");
  if (found == params.end() || !(*found).has_value) {
    return absl::InvalidArgumentError("form body without a d field");
  }
  std::string escaped = (*found).value;
  // The client writes a newline as \n and an escaped newline as \\n (a textarea
  // would normalise real newlines); undo both, as the Node server does.
  std::string data;
  data.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped.compare(i, 3, "\\\\n") == 0) {
      data.append("\\n");
      i += 2;
    } else if (escaped.compare(i, 2, "\\n") == 0) {
      data.push_back('\n');
      i += 1;
    } else {
      data.push_back(escaped[i]);
    }
  }
  return data;
}

}  // namespace sidecar::engineio
