#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "sidecar/runtime/strings.h"
#include "sidecar/socketio/hub.h"
#include "socketio/sidecar/v1/sidecar.pb.h"

namespace sidecar::backend {

namespace pb = ::socketio::sidecar::v1;

// Largest batch of queued messages sent in one write (a larger message goes alone); far below
// the 4 MiB a gRPC client receives by default.
inline constexpr size_t kMaxBatchBytes = 1 << 20;

// The shared half of a backend stream: outlives the gRPC reactor, so shards
// holding it after the stream ended just see it as not alive. Writes one
// message at a time through `writer` (the reactor's StartWrite); what is sent
// while a write is in flight is queued, and leaves as one SidecarBatch when
// the backend accepts batches.
class BackendStream : public socketio::BackendLink {
 public:
  using Writer = std::function<void(const pb::SidecarMessage*)>;
  using Overflow = std::function<void(size_t queued_bytes)>;

  // `overflow` runs at most once, when a message would take the bytes queued
  // for a backend that stopped reading past `max_queued_bytes`; the stream has
  // detached itself by then and drops everything sent to it. Release() waits
  // for a running `overflow` and prevents later ones.
  BackendStream(Writer writer, size_t max_queued_bytes, Overflow overflow)
      : writer_(std::move(writer)),
        max_queued_bytes_(max_queued_bytes),
        overflow_(std::move(overflow)) {}

  void Send(pb::SidecarMessage message) override;
  void Release();
  // Called by the reactor when the previous write finished (`ok`: it was sent).
  void OnWriteDone(bool ok);

  bool alive() const override { return alive_.load(std::memory_order_acquire); }
  bool HandlesEvent(std::string_view nsp, std::string_view event) const override;
  bool HandlesNamespace(std::string_view nsp) const { return namespaces_.contains(nsp); }
  const runtime::StringMap<runtime::StringSet>& namespaces() const { return namespaces_; }

  // Set once from Hello, before the stream is registered; read-only afterwards.
  void Declare(const pb::Hello& hello);
  // Welcomed: from now on sockets may be pinned to this stream.
  void Activate() { alive_.store(true, std::memory_order_release); }
  // The reactor is finishing: no more writes may start.
  void Detach();

  const std::string& name() const { return name_; }

 private:
  struct Queued {
    pb::SidecarMessage message;
    size_t bytes = 0;
  };

  std::mutex mutex_;
  Writer writer_;
  const size_t max_queued_bytes_;
  std::recursive_mutex overflow_mutex_;
  Overflow overflow_;
  // The message (or batch) being written, and the bytes it stands for.
  pb::SidecarMessage in_flight_;
  size_t in_flight_bytes_ = 0;
  // Messages waiting for the write in flight; queued_bytes_ counts both.
  std::deque<Queued> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool accepts_batches_ = false;
  std::atomic<bool> alive_{false};
  std::string name_;
  // Namespace -> declared events (empty: all events).
  runtime::StringMap<runtime::StringSet> namespaces_;
};

}  // namespace sidecar::backend
