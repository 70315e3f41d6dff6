#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>

#include "socketio/link.h"

namespace socketio {

// Writes to a sidecar that accepts batches (Welcome.accepts_batches): while one
// thread's write is in flight, messages written by others are queued, and the
// writing thread sends them next as one BackendBatch. An idle stream writes
// each message at once, as the inner link does; nothing waits to fill a batch.
// Every other call goes to the inner link.
class BatchingLink : public Link {
 public:
  explicit BatchingLink(std::shared_ptr<Link> inner) : inner_(std::move(inner)) {}

  // True once queued: a queued message that the stream then fails to carry is
  // lost as one written into a stream that breaks would be.
  bool Write(const ::socketio::sidecar::v1::BackendMessage& message) override;
  bool Read(::socketio::sidecar::v1::SidecarMessage* message) override {
    return inner_->Read(message);
  }
  void Close() override { inner_->Close(); }
  void Cancel() override { inner_->Cancel(); }
  absl::Status Finish() override { return inner_->Finish(); }
  void Processed() override { inner_->Processed(); }

 private:
  struct Queued {
    ::socketio::sidecar::v1::BackendMessage message;
    size_t bytes = 0;
  };

  // Moves what is queued (up to a batch's bound) into `next`.
  void TakeQueued(::socketio::sidecar::v1::BackendMessage& next);

  std::shared_ptr<Link> inner_;
  std::mutex mutex_;
  // Signalled when the writing thread takes from the queue or stops.
  std::condition_variable drained_;
  bool writing_ = false;
  bool failed_ = false;
  std::deque<Queued> queued_;
  size_t queued_bytes_ = 0;
};

}  // namespace socketio
