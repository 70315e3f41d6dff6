#include "batching_link.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

// A batch stays far below the sidecar's 4 MiB receive limit; a larger message goes alone.
constexpr size_t kMaxBatchBytes = 1 << 20;
// Past this much queued, writers wait for the stream (a sidecar that stopped reading).
constexpr size_t kMaxQueuedBytes = 8 * kMaxBatchBytes;

}  // namespace

bool BatchingLink::Write(const pb::BackendMessage& message) {
  std::unique_lock lock(mutex_);
  if (writing_) {
    drained_.wait(lock, [&] { return !writing_ || failed_ || queued_bytes_ < kMaxQueuedBytes; });
    if (failed_) return false;
    if (writing_) {
      size_t bytes = message.ByteSizeLong();
      queued_.push_back({message, bytes});
      queued_bytes_ += bytes;
      return true;
    }
  }
  if (failed_) return false;
  // This thread writes its own message, then whatever others queued meanwhile.
  writing_ = true;
  lock.unlock();
  bool written = inner_->Write(message);
  lock.lock();
  bool ok = written;
  pb::BackendMessage next;
  while (ok && !queued_.empty()) {
    TakeQueued(next);
    drained_.notify_all();
    lock.unlock();
    ok = inner_->Write(next);
    lock.lock();
  }
  if (!ok) {
    failed_ = true;
    queued_.clear();
    queued_bytes_ = 0;
  }
  writing_ = false;
  drained_.notify_all();
  return written;
}

void BatchingLink::TakeQueued(pb::BackendMessage& next) {
  // As many queued messages as fit in a batch; one alone is sent as it is.
  size_t count = 1;
  size_t bytes = queued_.front().bytes;
  while (count < queued_.size() && bytes + queued_[count].bytes <= kMaxBatchBytes) {
    bytes += queued_[count++].bytes;
  }
  queued_bytes_ -= bytes;
  next.Clear();
  if (count == 1) {
    next = std::move(queued_.front().message);
    queued_.pop_front();
    return;
  }
  pb::BackendBatch* batch = next.mutable_batch();
  batch->mutable_messages()->Reserve(static_cast<int>(count));
  for (size_t i = 0; i < count; ++i) {
    *batch->add_messages() = std::move(queued_.front().message);
    queued_.pop_front();
  }
}

}  // namespace socketio
