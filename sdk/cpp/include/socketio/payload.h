#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "absl/status/statusor.h"
#include "socketio/sidecar/v1/sidecar.pb.h"

namespace socketio {

using Json = nlohmann::json;
// The arguments of an event or an ack. Binary attachments are Json binary
// values (Json::binary(...)) at any depth.
using Args = std::vector<Json>;

// The arguments of an event or an ack as they cross the stream, undecoded:
// `json()` is the JSON array text, with {"_placeholder":true,"num":N} where
// binary attachment N stands, and `binary()` the attachments. A handler taking
// RawArgs (Server::On) skips the JSON parse and dump, for handlers that pass
// arguments on without reading them.
using RawArgs = ::socketio::sidecar::v1::Payload;

// Arguments from the wire form: the JSON array, with each
// {"_placeholder":true,"num":N} replaced by binary attachment N (at any
// depth, only when there are attachments, as on the Socket.IO wire).
// INVALID_ARGUMENT for text that is not a JSON array, or a placeholder
// without its attachment.
absl::StatusOr<Args> DecodeArgs(const ::socketio::sidecar::v1::Payload& payload);
// The wire form of arguments: binary values become placeholders and attachments.
::socketio::sidecar::v1::Payload EncodeArgs(const Args& args);

}  // namespace socketio
