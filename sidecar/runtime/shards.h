#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sidecar/engineio/session.h"
#include "sidecar/runtime/metrics.h"
#include "sidecar/runtime/strings.h"
#include "sidecar/runtime/timer_wheel.h"
#include "sidecar/socketio/hub.h"

namespace sidecar::runtime {

// One io thread and everything it owns: connections, Engine.IO sessions and
// Socket.IO sockets. Nothing here is shared between shards, so the hot path
// takes no locks; other threads post work to the shard's io_context.
struct Shard {
  explicit Shard(uint32_t index) : index(index), io(1), timers(io, kTimerGranularity) {}

  // Engine.IO heartbeats are this much late at most: a small fraction of any ping interval.
  static constexpr std::chrono::milliseconds kTimerGranularity{10};

  uint32_t index;
  boost::asio::io_context io;
  // Declared before what holds timers, so that it outlives them.
  TimerWheel timers;
  std::unique_ptr<socketio::Hub> hub;
  // Keyed by a view of each session's own sid, which the entry keeps alive: a second copy of
  // every sid would cost an idle connection 32 bytes more.
  absl::flat_hash_map<std::string_view, std::shared_ptr<engineio::Session>, StringHash,
                      std::equal_to<>>
      sessions;
  ShardMetrics metrics;
};

class Shards {
 public:
  explicit Shards(uint32_t count);
  ~Shards();

  uint32_t size() const { return static_cast<uint32_t>(shards_.size()); }
  Shard& at(uint32_t index) { return *shards_[index]; }

  // Starts one thread per shard.
  void Run();
  // Stops every shard and joins its thread.
  void Stop();

 private:
  using WorkGuard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::vector<WorkGuard> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace sidecar::runtime
