#include <grpcpp/grpcpp.h>

#include <chrono>
#include <mutex>
#include <optional>

#include "socketio/link.h"
#include "socketio/sidecar/v1/sidecar.grpc.pb.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

class GrpcLink : public Link {
 public:
  explicit GrpcLink(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(pb::Backend::NewStub(channel)), stream_(stub_->Attach(&context_)) {}

  ~GrpcLink() override {
    // Finish may only follow the end of reads.
    if (!finished_.has_value()) {
      Cancel();
      pb::SidecarMessage ignored;
      while (stream_->Read(&ignored)) {
      }
      Finish().IgnoreError();
    }
  }

  bool Write(const pb::BackendMessage& message) override {
    std::lock_guard lock(write_mutex_);
    return !closed_writes_ && stream_->Write(message);
  }

  bool Read(pb::SidecarMessage* message) override { return stream_->Read(message); }

  // Half-closes: the sidecar ends the stream once it has read what we wrote,
  // so the last acks are not lost as they would be to a cancellation.
  void Close() override {
    // A write stuck on a sidecar that stopped reading holds the lock; Cancel
    // then ends the stream instead.
    std::unique_lock lock(write_mutex_, std::chrono::milliseconds(200));
    if (lock.owns_lock() && !closed_writes_) {
      closed_writes_ = true;
      stream_->WritesDone();
    }
  }

  void Cancel() override { context_.TryCancel(); }

  // Called on the reading thread once Read returned false, at most once by
  // the Server; later calls return the first answer.
  absl::Status Finish() override {
    if (!finished_.has_value()) {
      grpc::Status status = stream_->Finish();
      // gRPC's codes and absl's share google.rpc.Code's numbering.
      finished_ =
          absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
    }
    return *finished_;
  }

 private:
  std::unique_ptr<pb::Backend::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::BackendMessage, pb::SidecarMessage>> stream_;
  std::timed_mutex write_mutex_;
  bool closed_writes_ = false;
  std::optional<absl::Status> finished_;
};

}  // namespace

std::unique_ptr<Link> OpenGrpcLink(const std::shared_ptr<grpc::Channel>& channel) {
  return std::make_unique<GrpcLink>(channel);
}

}  // namespace socketio
