#include "sidecar/socketio/packet.h"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "sidecar/socketio/json_check.h"

namespace sidecar::socketio {
namespace {

using Json = nlohmann::json;

bool Validate(std::string_view text, JsonShape shape) { return CheckJson(text, shape); }

// Finds the objects that claim to be attachment placeholders and checks each one. Runs only on
// text that validated, so it need not recheck the structure.
class PlaceholderChecker : public nlohmann::json_sax<Json> {
 public:
  explicit PlaceholderChecker(size_t attachments) : attachments_(attachments) {}

  bool null() override { return Value(Kind::kOther); }
  bool boolean(bool value) override { return Value(value ? Kind::kTrue : Kind::kOther); }
  bool number_integer(number_integer_t value) override {
    return value >= 0 ? Index(static_cast<uint64_t>(value)) : Value(Kind::kBadNumber);
  }
  bool number_unsigned(number_unsigned_t value) override { return Index(value); }
  bool number_float(number_float_t, const string_t&) override { return Value(Kind::kBadNumber); }
  bool string(string_t&) override { return Value(Kind::kOther); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override {
    if (!Value(Kind::kOther)) return false;
    containers_.push_back(Container{.is_object = true});
    return containers_.size() <= kMaxJsonDepth;
  }
  bool key(string_t& key) override {
    Container& object = containers_.back();
    ++object.keys;
    object.key = key == "_placeholder" ? Key::kPlaceholder : key == "num" ? Key::kNum : Key::kOther;
    return true;
  }
  bool end_object() override {
    Container object = containers_.back();
    containers_.pop_back();
    if (!object.flagged) return true;
    // Flagged as a placeholder: it must be exactly one, naming an attachment that exists.
    return object.keys == 2 && object.num == Kind::kIndex;
  }
  bool start_array(std::size_t) override {
    if (!Value(Kind::kOther)) return false;
    containers_.push_back(Container{.is_object = false});
    return containers_.size() <= kMaxJsonDepth;
  }
  bool end_array() override {
    containers_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  enum class Kind { kOther, kTrue, kIndex, kBadNumber };
  enum class Key { kOther, kPlaceholder, kNum };
  struct Container {
    bool is_object = false;
    size_t keys = 0;
    Key key = Key::kOther;
    bool flagged = false;
    Kind num = Kind::kOther;
  };

  bool Index(uint64_t value) {
    return Value(value < attachments_ ? Kind::kIndex : Kind::kBadNumber);
  }
  // A value, recorded when it belongs to the "_placeholder" or "num" key of an object.
  bool Value(Kind kind) {
    if (containers_.empty() || !containers_.back().is_object) return true;
    Container& object = containers_.back();
    if (object.key == Key::kPlaceholder && kind == Kind::kTrue) object.flagged = true;
    if (object.key == Key::kNum) object.num = kind;
    object.key = Key::kOther;
    return true;
  }

  size_t attachments_;
  std::vector<Container> containers_;
};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string_view StripWhitespace(std::string_view text) {
  constexpr std::string_view kWhitespace = " \t\r\n";
  size_t start = text.find_first_not_of(kWhitespace);
  if (start == std::string_view::npos) return {};
  return text.substr(start, text.find_last_not_of(kWhitespace) - start + 1);
}

// Largest id socket.io-client can produce without losing precision (2^53).
constexpr uint64_t kMaxAckId = 9007199254740991ULL;

}  // namespace

bool IsValidJson(std::string_view text) { return Validate(text, JsonShape::kAny); }

absl::Status CheckPlaceholders(std::string_view data, size_t attachments) {
  // A key can only spell "_placeholder" literally or with \u escapes; most packets have neither.
  if (data.find("_placeholder") == std::string_view::npos &&
      data.find("\\u") == std::string_view::npos) {
    return absl::OkStatus();
  }
  PlaceholderChecker checker(attachments);
  if (!Json::sax_parse(data.begin(), data.end(), &checker, nlohmann::detail::input_format_t::json,
                       /*strict=*/true)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid attachment placeholder (", attachments, " attachments)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Packet> DecodePacket(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty packet");
  Packet packet;
  char type = text[0];
  if (type < '0' || type > '6') return absl::InvalidArgumentError("unknown packet type");
  packet.type = static_cast<PacketType>(type);
  size_t i = 1;
  bool binary = packet.type == PacketType::kBinaryEvent || packet.type == PacketType::kBinaryAck;
  if (binary) {
    size_t start = i;
    uint64_t count = 0;
    while (i < text.size() && IsDigit(text[i]) && i - start < 7)
      count = count * 10 + (text[i++] - '0');
    if (i == start || i >= text.size() || text[i] != '-') {
      return absl::InvalidArgumentError("invalid attachment count");
    }
    if (count > kMaxAttachments) return absl::InvalidArgumentError("too many attachments");
    packet.attachments = count;
    ++i;
  }
  if (i < text.size() && text[i] == '/') {
    size_t comma = text.find(',', i);
    size_t end = comma == std::string_view::npos ? text.size() : comma;
    packet.nsp = std::string(text.substr(i, end - i));
    i = comma == std::string_view::npos ? text.size() : comma + 1;
  }
  if (i < text.size() && IsDigit(text[i])) {
    uint64_t id = 0;
    size_t start = i;
    while (i < text.size() && IsDigit(text[i])) {
      if (i - start >= 16) return absl::InvalidArgumentError("ack id too large");
      id = id * 10 + (text[i++] - '0');
    }
    if (id > kMaxAckId) return absl::InvalidArgumentError("ack id too large");
    packet.id = id;
  }
  packet.data = std::string(text.substr(i));

  switch (packet.type) {
    case PacketType::kConnect:
      if (!packet.data.empty() && !Validate(packet.data, JsonShape::kObject)) {
        return absl::InvalidArgumentError("CONNECT payload must be an object");
      }
      break;
    case PacketType::kDisconnect:
      if (!packet.data.empty()) return absl::InvalidArgumentError("DISCONNECT takes no payload");
      break;
    case PacketType::kEvent:
    case PacketType::kBinaryEvent:
      if (!Validate(packet.data, JsonShape::kEventArray)) {
        return absl::InvalidArgumentError("EVENT payload must be an array starting with a name");
      }
      if (absl::Status placeholders = CheckPlaceholders(packet.data, packet.attachments);
          !placeholders.ok()) {
        return placeholders;
      }
      break;
    case PacketType::kAck:
    case PacketType::kBinaryAck:
      if (!packet.id.has_value()) return absl::InvalidArgumentError("ACK without an id");
      if (!Validate(packet.data, JsonShape::kArray)) {
        return absl::InvalidArgumentError("ACK payload must be an array");
      }
      if (absl::Status placeholders = CheckPlaceholders(packet.data, packet.attachments);
          !placeholders.ok()) {
        return placeholders;
      }
      break;
    case PacketType::kConnectError:
      return absl::InvalidArgumentError("CONNECT_ERROR is sent by servers only");
  }
  return packet;
}

std::string EncodePacket(const Packet& packet) {
  std::string text;
  text.reserve(packet.data.size() + packet.nsp.size() + 24);
  text.push_back(static_cast<char>(packet.type));
  if (packet.type == PacketType::kBinaryEvent || packet.type == PacketType::kBinaryAck) {
    absl::StrAppend(&text, packet.attachments, "-");
  }
  if (packet.nsp != "/") absl::StrAppend(&text, packet.nsp, ",");
  if (packet.id.has_value()) absl::StrAppend(&text, *packet.id);
  text.append(packet.data);
  return text;
}

absl::StatusOr<EventParts> SplitEvent(std::string_view data) {
  // The caller validated `data` as an array whose first element is a string, so
  // the scan below only has to find where that string ends.
  size_t open = data.find('"');
  if (open == std::string_view::npos) return absl::InvalidArgumentError("event without a name");
  size_t close = open + 1;
  while (close < data.size() && data[close] != '"') close += data[close] == '\\' ? 2 : 1;
  if (close >= data.size()) return absl::InvalidArgumentError("unterminated event name");
  EventParts parts;
  std::string_view quoted = data.substr(open + 1, close - open - 1);
  if (quoted.find('\\') == std::string_view::npos) {
    // Without escapes the name is its text (already checked as UTF-8).
    parts.name = std::string(quoted);
  } else {
    try {
      parts.name = Json::parse(data.substr(open, close - open + 1)).get<std::string>();
    } catch (const Json::exception& error) {
      return absl::InvalidArgumentError(absl::StrCat("invalid event name: ", error.what()));
    }
  }
  std::string_view rest = StripWhitespace(data.substr(close + 1));
  if (!rest.empty() && rest[0] == ',') {
    parts.args = "[" + std::string(rest.substr(1));
  } else {
    parts.args = "[]";
  }
  return parts;
}

absl::StatusOr<std::string> ValidateArgs(std::string_view args) {
  std::string_view trimmed = StripWhitespace(args);
  if (trimmed.empty()) return std::string("[]");
  if (!Validate(trimmed, JsonShape::kArray)) {
    return absl::InvalidArgumentError("arguments must be a JSON array");
  }
  return std::string(trimmed);
}

absl::StatusOr<std::string> JoinEvent(std::string_view name, std::string_view args) {
  absl::StatusOr<std::string> valid = ValidateArgs(args);
  if (!valid.ok()) return valid.status();
  std::string_view inner = StripWhitespace(std::string_view(*valid).substr(1));
  std::string quoted = Json(std::string(name)).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (inner == "]") return "[" + quoted + "]";
  return "[" + quoted + "," + std::string(inner);
}

NamespaceQuery SplitNamespaceQuery(std::string_view nsp) {
  NamespaceQuery result;
  size_t question = nsp.find('?');
  result.nsp = std::string(nsp.substr(0, question));
  Json auth = Json::object();
  // Boost.URL 1.81's parse_query runs strlen over its input: hand it a C string, and
  // leave out queries with NUL bytes (never valid in a query) so that strlen sees all of it.
  if (question != std::string_view::npos && nsp.find('\0', question) == std::string_view::npos) {
    std::string query(nsp.substr(question + 1));
    if (boost::urls::parse_query(query)) {
      boost::urls::encoding_opts options;
      options.space_as_plus = true;
      for (const boost::urls::param& param : boost::urls::params_view(query, options)) {
        if (param.key.empty()) continue;
        Json& slot = auth[param.key];
        if (slot.is_null()) {
          slot = param.value;
        } else {
          if (!slot.is_array()) slot = Json::array({slot});
          slot.push_back(param.value);
        }
      }
    }
  }
  result.auth_json = auth.dump(-1, ' ', false, Json::error_handler_t::replace);
  return result;
}

}  // namespace sidecar::socketio
