#include <mutex>

#include "socketio/link.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

class GrpcLink : public Link {
 public:
  explicit GrpcLink(const std::shared_ptr<grpc::Channel>& channel)
      : stub_(pb::Backend::NewStub(channel)), stream_(stub_->Attach(&context_)) {}

  ~GrpcLink() override {
    Close();
    // Finish may only follow the end of reads; Close made that happen.
    pb::SidecarMessage ignored;
    while (stream_->Read(&ignored)) {
    }
    stream_->Finish().ok();
  }

  bool Write(const pb::BackendMessage& message) override {
    std::lock_guard lock(write_mutex_);
    return !closed_writes_ && stream_->Write(message);
  }

  bool Read(pb::SidecarMessage* message) override { return stream_->Read(message); }

  void Close() override {
    {
      std::lock_guard lock(write_mutex_);
      if (!closed_writes_) {
        closed_writes_ = true;
        stream_->WritesDone();
      }
    }
    context_.TryCancel();
  }

 private:
  std::unique_ptr<pb::Backend::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::BackendMessage, pb::SidecarMessage>> stream_;
  std::mutex write_mutex_;
  bool closed_writes_ = false;
};

}  // namespace

std::unique_ptr<Link> OpenGrpcLink(const std::shared_ptr<grpc::Channel>& channel) {
  return std::make_unique<GrpcLink>(channel);
}

}  // namespace socketio
