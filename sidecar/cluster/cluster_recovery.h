#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "sidecar/cluster/recovery_log.h"
#include "sidecar/runtime/strings.h"
#include "sidecar/socketio/recovery.h"

namespace sidecar::cluster {

class Cluster;
class Router;
using Command = ::socketio::sidecar::cluster::Command;

// Connection state recovery across the replicas of a cluster, on Redis
// (RecoveryLog). A logged emit is appended to `<channel>:log` and published
// by one script; every node, its origin too, delivers it when the published
// message arrives, so all deliver in stream order with the stream id as the
// offset. While Redis is down logged emits wait in the cluster's outbox (their
// offset comes from the stream), local receivers included.
//
// Sockets are kept in Redis while connected (saved on connect and on every
// change of rooms or session, and saved again by their node every third of
// the window, which also restores them after Redis lost its data), so a
// client whose replica was SIGKILLed still recovers elsewhere within the
// window; parking a socket saves it with a fresh TTL, and a socket that ends
// for good is deleted. The cost is one Redis write per connect, room change
// and refresh period per socket.
//
// Every call but LastOffset and IsAfter is posted to the cluster thread.
class ClusterRecoveryStore : public socketio::RecoveryStore {
 public:
  ClusterRecoveryStore(RecoveryLogConfig config, Cluster& cluster, Router& router,
                       socketio::SocketLocations& locations, uint32_t shard_count);
  ~ClusterRecoveryStore() override;

  // Logs the plan (not the command: receivers need its encoded event).
  void Append(std::shared_ptr<const Command> command,
              std::shared_ptr<const socketio::EmitPlan> plan, Deliver deliver) override;
  std::string LastOffset() const override;
  void Park(socketio::SessionState state) override;
  void Restore(socketio::RestoreRequest request, Restored done) override;
  bool IsAfter(std::string_view offset, std::string_view than) const override;
  bool tracks_connected() const override { return true; }
  void Track(const socketio::SessionState& state) override;
  void Forget(std::string_view pid) override;

  // On the cluster thread: after the publishing connection (re)connected, and
  // for each logged emit published on the channel.
  void OnRedisUp(RedisConnection& publisher);
  void OnLogged(const ::socketio::sidecar::cluster::Envelope& envelope);
  // Stops the refresh timer (cluster thread).
  void Stop();

 private:
  struct PendingAppend {
    std::shared_ptr<const socketio::EmitPlan> plan;
    Deliver deliver;
  };
  struct Recent {
    StreamId id;
    std::shared_ptr<const socketio::EmitPlan> plan;
  };

  void Save(const socketio::SessionState& state);
  void ScheduleRefresh();
  void Finish(const socketio::RestoreRequest& request, absl::StatusOr<StoredRestore> stored,
              const Restored& done);

  RecoveryLog log_;
  Cluster& cluster_;
  Router& router_;
  socketio::SocketLocations& locations_;
  const uint32_t shard_count_;

  // Cluster thread.
  // Starts at the process's start time in microseconds, so it keeps increasing across a
  // restart with the same node id.
  uint64_t next_seq_;
  // The highest seq delivered per origin node.
  runtime::StringMap<uint64_t> delivered_seq_;
  absl::flat_hash_map<uint64_t, PendingAppend> appends_;
  // The logged emits delivered last, for a restore whose snapshot is older
  // than what this node already delivered.
  std::deque<Recent> recent_;
  bool recent_trimmed_ = false;
  runtime::StringMap<socketio::SessionState> tracked_;
  boost::asio::steady_timer refresh_timer_;

  mutable std::mutex last_mutex_;
  // The id of the last logged emit this node delivered.
  std::string last_offset_;
};

}  // namespace sidecar::cluster
