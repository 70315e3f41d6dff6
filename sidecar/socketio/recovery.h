#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/cluster/cluster.pb.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::socketio {

// Socket.IO's connection state recovery (socket.io 4.6+). A socket's CONNECT
// reply carries a private id (`pid`) and every logged event the offset under
// which it was logged, as its last argument. A client that lost its transport
// connects again with `{pid, offset}` merged into its auth payload and gets its
// socket back — sid, rooms, session — with the logged events it missed, in
// order, then live ones.
//
// The store keeps the log and the sessions of sockets whose transport
// dropped. One per process, shared by every shard; in cluster mode it lives
// in Redis, so Append and Restore answer asynchronously. Offsets are opaque
// strings (JSON-safe: no quote or backslash) that only the store compares.

struct EmitPlan;

// What a socket needs to be restored.
struct SessionState {
  std::string pid{};
  std::string sid{};
  std::string nsp{};
  // Every room, its own sid included.
  std::vector<std::string> rooms{};
  std::string session_json{};
  // LastOffset() when the socket connected: a client that received no logged
  // event since (and so sends no offset) missed everything after it.
  std::string offset_at_connect{};
};

struct RestoreRequest {
  std::string pid{};
  std::string nsp{};
  // The last offset the client received; nullopt when it received none.
  std::optional<std::string> offset{};
  // The shard the socket is restored on: sid-addressed commands must find it
  // there from the moment the session is taken from the store.
  uint32_t shard = 0;
};

struct RestoredSession {
  SessionState state{};
  // The logged events for its rooms after the client's offset, in order, each
  // with its offset (the frames every receiver got).
  std::vector<std::shared_ptr<const EmitPlan>> missed{};
  // The last offset the snapshot covers (empty when the log was empty): a live
  // event reaching the socket with an offset not after it is a duplicate.
  std::string through{};
};

// Sockets restored on another shard than the one their sid names (a client's
// new transport lands on any shard). Thread-safe; read by whoever routes a
// command by sid.
class SocketLocations {
 public:
  // Records `sid` as living on `shard` when its id names another one; true if
  // it did (the socket must call Erase when it ends).
  bool Restored(const std::string& sid, uint32_t shard, uint32_t shard_count);
  void Erase(std::string_view sid);
  std::optional<uint32_t> ShardOf(std::string_view sid) const;

 private:
  mutable std::mutex mutex_;
  runtime::StringMap<uint32_t> shards_;
};

class RecoveryStore {
 public:
  // Posts the plan (its frame carrying the offset) to the shards it concerns.
  using Deliver = std::function<void(std::shared_ptr<const EmitPlan> plan)>;
  // Posts the result to the shard that asked.
  using Restored = std::function<void(std::optional<RestoredSession> restored)>;

  virtual ~RecoveryStore() = default;

  // Logs an emit without ack request and not volatile (`command`, and `plan`
  // made from it, without offset yet), assigns its offset and calls `deliver`
  // with the plan for that offset (MakeOffsetPlan). Calls to `deliver` never
  // overlap and come in offset order, so every shard gets logged events in
  // offset order.
  virtual void Append(std::shared_ptr<const ::socketio::sidecar::cluster::Command> command,
                      std::shared_ptr<const EmitPlan> plan, Deliver deliver) = 0;
  // An offset such that every event delivered from now on is logged after it
  // (empty: before any). Thread-safe, cheap.
  virtual std::string LastOffset() const = 0;
  // Keeps a socket whose transport dropped for the window.
  virtual void Park(SessionState state) = 0;
  // Takes the session parked under the pid for the namespace, with the logged
  // events of its rooms after the offset, and calls `done` with it — or with
  // nullopt when there is none, it expired, or an event it missed already left
  // the log (or the offset is not one of the log's). Ordering: any logged event
  // delivered to the request's shard after `done` posted the result is either
  // after `through` or skipped by the hub as a duplicate; none logged after
  // `through` reached that shard before the result.
  virtual void Restore(RestoreRequest request, Restored done) = 0;
  // Whether `offset` was logged after `than` (both offsets of this store).
  virtual bool IsAfter(std::string_view offset, std::string_view than) const = 0;

  // A store that must restore sockets even when this process dies before it
  // could park them (cluster mode) keeps connected sockets too: when this is
  // true, the hub calls Track when a socket connects or is restored and after
  // its rooms or session change, and Forget when it ends without being parked.
  virtual bool tracks_connected() const { return false; }
  virtual void Track(const SessionState& /*state*/) {}
  virtual void Forget(std::string_view /*pid*/) {}
};

struct MemoryRecoveryConfig {
  // How long a parked session can be restored, and events stay in the log.
  std::chrono::milliseconds window{120000};
  // Events kept (over all namespaces); older ones leave the log even inside
  // the window.
  size_t max_packets = 10000;
};

// The store of one replica: everything in memory, under one lock, so Append
// and Restore answer before they return. Offsets are `<start>-<n>`: the
// process's start time in milliseconds (an offset from an earlier process is
// not taken for one of ours) and a counter.
class MemoryRecoveryStore : public RecoveryStore {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  MemoryRecoveryStore(MemoryRecoveryConfig config, SocketLocations& locations, uint32_t shard_count,
                      Clock clock = std::chrono::steady_clock::now);

  void Append(std::shared_ptr<const ::socketio::sidecar::cluster::Command> command,
              std::shared_ptr<const EmitPlan> plan, Deliver deliver) override;
  std::string LastOffset() const override;
  void Park(SessionState state) override;
  void Restore(RestoreRequest request, Restored done) override;
  bool IsAfter(std::string_view offset, std::string_view than) const override;

  // Events in the log and sessions parked, for tests.
  size_t logged() const;
  size_t parked() const;

 private:
  struct Logged {
    uint64_t number = 0;
    std::chrono::steady_clock::time_point time{};
    std::shared_ptr<const EmitPlan> plan;
  };
  struct Parked {
    SessionState state;
    std::chrono::steady_clock::time_point expiry{};
  };

  std::string Format(uint64_t number) const;
  std::string LastOffsetLocked() const;
  // The counter of one of our offsets; nullopt for anything else.
  std::optional<uint64_t> Parse(std::string_view offset) const;
  void PruneLocked(std::chrono::steady_clock::time_point now);

  const MemoryRecoveryConfig config_;
  SocketLocations& locations_;
  const uint32_t shard_count_;
  const Clock clock_;
  const std::string prefix_;  // "<start>-"
  mutable std::mutex mutex_;
  uint64_t last_number_ = 0;
  // The highest number that left the log (0: none did).
  uint64_t dropped_through_ = 0;
  std::deque<Logged> log_;
  runtime::StringMap<Parked> parked_;
  // Pids in the order they expire (the window is the same for all).
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> expiries_;
};

// Whether a disconnect reason lets the client recover (its transport was lost,
// as opposed to a deliberate disconnect), as socket.io decides.
bool IsRecoverableReason(std::string_view reason);

// A logged emit's plan for `offset`: the same event with the offset appended
// as its last argument, encoded once for every receiver.
std::shared_ptr<const EmitPlan> MakeOffsetPlan(const EmitPlan& plan, std::string offset);

}  // namespace sidecar::socketio
