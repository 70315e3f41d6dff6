#include "sidecar/backend/backend_stream.h"

#include <utility>

namespace sidecar::backend {

void BackendStream::Send(pb::SidecarMessage message) {
  size_t bytes = message.ByteSizeLong();
  size_t overflowed_at = 0;
  {
    std::lock_guard lock(mutex_);
    if (!writer_) return;
    if (writing_ && queued_bytes_ + bytes > max_queued_bytes_) {
      overflowed_at = queued_bytes_;
      alive_ = false;
      writer_ = nullptr;
    } else {
      queued_bytes_ += bytes;
      if (writing_) {
        queue_.push_back({std::move(message), bytes});
      } else {
        writing_ = true;
        in_flight_ = std::move(message);
        in_flight_bytes_ = bytes;
        writer_(&in_flight_);
      }
    }
  }
  if (overflowed_at != 0) {
    // Recursive: `overflow` finishes the RPC, whose OnDone may run inline.
    std::lock_guard lock(overflow_mutex_);
    if (Overflow overflow = std::exchange(overflow_, nullptr)) overflow(overflowed_at);
  }
}

void BackendStream::Release() {
  std::lock_guard lock(overflow_mutex_);
  overflow_ = nullptr;
}

// What was queued meanwhile leaves in one write when the backend accepts
// batches: one grpc_call_start_batch and one HTTP/2 frame instead of one per
// message, and nothing waits to fill a batch while the stream is idle.
void BackendStream::OnWriteDone(bool ok) {
  std::lock_guard lock(mutex_);
  queued_bytes_ -= in_flight_bytes_;
  in_flight_bytes_ = 0;
  if (!ok || !writer_ || queue_.empty()) {
    in_flight_.Clear();
    writing_ = false;
    return;
  }
  // As many queued messages as fit in a batch; one alone is sent as it is.
  size_t count = 1;
  size_t bytes = queue_.front().bytes;
  while (accepts_batches_ && count < queue_.size() &&
         bytes + queue_[count].bytes <= kMaxBatchBytes) {
    bytes += queue_[count++].bytes;
  }
  in_flight_bytes_ = bytes;
  if (count == 1) {
    in_flight_ = std::move(queue_.front().message);
    queue_.pop_front();
  } else {
    in_flight_.Clear();
    pb::SidecarBatch* batch = in_flight_.mutable_batch();
    batch->mutable_messages()->Reserve(static_cast<int>(count));
    for (size_t i = 0; i < count; ++i) {
      *batch->add_messages() = std::move(queue_.front().message);
      queue_.pop_front();
    }
  }
  writer_(&in_flight_);
}

bool BackendStream::HandlesEvent(std::string_view nsp, std::string_view event) const {
  auto it = namespaces_.find(nsp);
  if (it == namespaces_.end()) return false;
  return it->second.empty() || it->second.contains(event);
}

void BackendStream::Declare(const pb::Hello& hello) {
  name_ = hello.name();
  accepts_batches_ = hello.accepts_batches();
  for (const pb::NamespaceHandlers& handlers : hello.namespaces()) {
    auto& events = namespaces_[handlers.namespace_()];
    bool all = handlers.events().empty();
    for (const std::string& event : handlers.events()) {
      if (event == "*") all = true;
      events.insert(event);
    }
    if (all) events.clear();
  }
}

void BackendStream::Detach() {
  alive_ = false;
  std::lock_guard lock(mutex_);
  writer_ = nullptr;
}

}  // namespace sidecar::backend
