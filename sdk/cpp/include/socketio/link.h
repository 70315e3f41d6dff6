#pragma once

#include <memory>

#include "absl/status/status.h"
#include "socketio/sidecar/v1/sidecar.pb.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace socketio {

// One Backend.Attach stream as the Server uses it: the gRPC one (OpenGrpcLink)
// or the test client's in-memory sidecar. Reads happen on one thread; writes
// and Close may come from any.
class Link {
 public:
  virtual ~Link() = default;
  // False once the stream is gone.
  virtual bool Write(const ::socketio::sidecar::v1::BackendMessage& message) = 0;
  // Blocks for the next message; false at the end of the stream.
  virtual bool Read(::socketio::sidecar::v1::SidecarMessage* message) = 0;
  // Ends our side of the stream; a blocked Read returns false once the
  // sidecar has ended its side too.
  virtual void Close() = 0;
  // Ends the stream at once, for a sidecar that does not end its side.
  virtual void Cancel() { Close(); }
  // Once Read returned false: why the stream ended (the sidecar's status).
  virtual absl::Status Finish() { return absl::OkStatus(); }
  // The message last returned by Read has been handled completely, its
  // handler included (the test client waits on this).
  virtual void Processed() {}
};

// Opens Backend.Attach on a channel.
std::unique_ptr<Link> OpenGrpcLink(const std::shared_ptr<grpc::Channel>& channel);

}  // namespace socketio
