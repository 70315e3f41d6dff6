#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "socketio/sidecar/v1/sidecar.grpc.pb.h"

namespace socketio {

// One Backend.Attach stream as the Server uses it: the gRPC one (DialSidecar)
// or the test client's in-memory sidecar.
class Link {
 public:
  virtual ~Link() = default;
  // Thread-safe; false once the stream is gone.
  virtual bool Write(const ::socketio::sidecar::v1::BackendMessage& message) = 0;
  // Blocks for the next message; false at the end of the stream.
  virtual bool Read(::socketio::sidecar::v1::SidecarMessage* message) = 0;
  // Ends the stream: a blocked Read returns false.
  virtual void Close() = 0;
  // The message last returned by Read has been handled completely, its
  // handler included (the test client waits on this).
  virtual void Processed() {}
};

// Opens Backend.Attach on a channel.
std::unique_ptr<Link> OpenGrpcLink(const std::shared_ptr<grpc::Channel>& channel);

}  // namespace socketio
