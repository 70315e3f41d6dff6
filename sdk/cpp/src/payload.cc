#include "socketio/payload.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

// Whether `value` is exactly a placeholder, {"_placeholder":true,"num":N}.
bool IsPlaceholder(const Json& value) {
  if (!value.is_object() || value.size() != 2) return false;
  auto flag = value.find("_placeholder");
  auto num = value.find("num");
  return flag != value.end() && num != value.end() && flag->is_boolean() && flag->get<bool>() &&
         num->is_number();
}

absl::Status Substitute(Json& value, const pb::Payload& payload) {
  if (IsPlaceholder(value)) {
    const Json& num = value["num"];
    if (!num.is_number_integer() || num.get<int64_t>() < 0 ||
        num.get<int64_t>() >= payload.binary_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("placeholder ", num.dump(), " but ", payload.binary_size(), " attachments"));
    }
    const std::string& bytes = payload.binary(num.get<int>());
    value = Json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
    return absl::OkStatus();
  }
  if (value.is_array() || value.is_object()) {
    for (Json& child : value) {
      if (absl::Status status = Substitute(child, payload); !status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

bool HasBinary(const Json& value) {
  if (value.is_binary()) return true;
  if (!value.is_array() && !value.is_object()) return false;
  return std::any_of(value.begin(), value.end(), HasBinary);
}

Json Extract(const Json& value, pb::Payload& payload) {
  if (value.is_binary()) {
    const auto& bytes = value.get_binary();
    Json placeholder = {{"_placeholder", true}, {"num", payload.binary_size()}};
    payload.add_binary(std::string(bytes.begin(), bytes.end()));
    return placeholder;
  }
  if (value.is_array()) {
    Json copy = Json::array();
    for (const Json& child : value) copy.push_back(Extract(child, payload));
    return copy;
  }
  if (value.is_object()) {
    Json copy = Json::object();
    for (const auto& [key, child] : value.items()) copy[key] = Extract(child, payload);
    return copy;
  }
  return value;
}

}  // namespace

absl::StatusOr<Args> DecodeArgs(const pb::Payload& payload) {
  if (payload.json().empty()) return Args{};
  Json parsed = Json::parse(payload.json(), nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_array()) return absl::InvalidArgumentError("arguments are not a JSON array");
  if (payload.binary_size() > 0) {
    if (absl::Status status = Substitute(parsed, payload); !status.ok()) return status;
  }
  // Args is the array's own vector: moved out, not copied value by value.
  return std::move(parsed.get_ref<Json::array_t&>());
}

pb::Payload EncodeArgs(const Args& args) {
  pb::Payload payload;
  if (std::none_of(args.begin(), args.end(), HasBinary)) {
    // Nothing to extract: each argument is dumped as it is instead of copied into an array.
    std::string* json = payload.mutable_json();
    json->push_back('[');
    for (size_t i = 0; i < args.size(); ++i) {
      if (i > 0) json->push_back(',');
      json->append(args[i].dump(-1, ' ', false, Json::error_handler_t::replace));
    }
    json->push_back(']');
    return payload;
  }
  Json array = Json::array();
  for (const Json& arg : args) array.push_back(Extract(arg, payload));
  // Invalid UTF-8 in strings is replaced rather than thrown on: a handler's
  // answer must not fail for one bad string.
  payload.set_json(array.dump(-1, ' ', false, Json::error_handler_t::replace));
  return payload;
}

}  // namespace socketio
