#pragma once

#include <atomic>
#include <cstdint>

namespace sidecar::runtime {

// A counter written by one thread (its shard's) and read by metric scrapes:
// relaxed atomics, no read-modify-write, no contention on the hot path.
class Counter {
 public:
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Sub(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// What one shard counts for /metrics. Each shard has its own, on its own
// cache lines, so counting costs the hot path a plain store.
struct alignas(64) ShardMetrics {
  // Engine.IO.
  Counter sessions_opened;
  Counter sessions_open;  // a gauge: opened minus closed
  Counter bytes_received;
  Counter bytes_sent;
  Counter frames_dropped;  // volatile packets dropped for a client that was behind
  Counter slow_consumers;  // clients disconnected because their queue was full
  // Socket.IO.
  Counter connects_accepted;
  Counter connects_rejected;
  Counter disconnects;
  Counter events_received;  // client -> backend
  Counter events_sent;      // backend -> client, one per receiving socket
  Counter acks_received;    // client answers to server emits
  Counter acks_sent;        // backend answers to client emits
  Counter ack_timeouts;     // server emits a client did not answer in time
  // Backend faults.
  Counter events_buffered;       // client messages held while no backend served the namespace
  Counter events_redelivered;    // events delivered again after their backend went away unacked
  Counter backend_abandoned;     // sockets refused or disconnected: no backend in time, or full
  Counter backend_ack_timeouts;  // client events a backend did not ack in time (forgotten)
  // Connection state recovery.
  Counter recoveries;          // sockets restored with their sid, rooms and session
  Counter recoveries_refused;  // reconnections naming a pid that got a fresh socket
  Counter events_replayed;     // missed events sent to restored sockets
};

}  // namespace sidecar::runtime
