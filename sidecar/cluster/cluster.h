#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "sidecar/cluster/redis.h"
#include "sidecar/cluster/router.h"
#include "sidecar/runtime/nodes.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::cluster {

struct ClusterConfig {
  // redis://[:password@]host[:port]
  std::string redis_url;
  // Prefix of the pub/sub channels: clusters sharing a Redis need different ones.
  std::string channel;
  // This node's Socket.IO listener as other nodes reach it, "host:port".
  std::string address;
  // Commands for other nodes (without answers) kept while Redis is down, and
  // published in order once it is back; 0 keeps none.
  size_t outbox_bytes = 16 << 20;
};

// This node's membership of a cluster over Redis pub/sub (Flask-SocketIO's
// message_queue). Every node subscribes to `<channel>` (commands for all) and
// `<channel>#<node id>` (answers and commands for it alone). Commands that may
// concern other nodes are published; a command expecting answers counts the
// nodes that received it (PUBLISH's reply) and gathers that many outcomes
// until a deadline. Nodes announce their HTTP address every second.
//
// Redis runs on a thread of its own, never on an io thread. While Redis is
// unreachable, commands reach this node's sockets at once, and the connection
// is retried with backoff. Commands that expect no answer wait in a bounded
// outbox (`outbox_bytes`; beyond it they are dropped, counted and logged)
// and are published in order once Redis is back and as many nodes have
// subscribed again as were alive when it went away (or after kOutboxWait):
// Redis pub/sub keeps nothing for a subscriber that is not there yet.
class ClusterRecoveryStore;

class Cluster : public Peers, public runtime::NodeDirectory {
 public:
  Cluster(ClusterConfig config, Router& router);
  ~Cluster() override;

  // Connection state recovery over Redis; set before Start.
  void set_recovery(ClusterRecoveryStore* recovery) { recovery_ = recovery; }
  const std::string& channel() const { return config_.channel; }

  absl::Status Start();
  void Stop();

  void Publish(std::shared_ptr<const Command> command, std::string_view node,
               std::shared_ptr<socketio::CommandCollector> collector,
               std::chrono::milliseconds timeout) override;
  std::optional<std::string> AddressOf(std::string_view node) const override;

  // "connected" or "disconnected".
  std::string redis_state() const;
  // Commands waiting for Redis, and those dropped because the outbox was full.
  uint64_t outbox_messages() const { return outbox_messages_; }
  uint64_t outbox_dropped() const { return outbox_dropped_; }
  const std::string& address() const { return config_.address; }

 private:
  struct Pending {
    std::shared_ptr<socketio::CommandCollector> collector;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  // A Redis command for other nodes that expects no answer they send.
  struct Queued {
    std::vector<std::string> command;
    RedisConnection::ReplyHandler on_reply;
    size_t bytes = 0;
  };
  struct Node {
    std::string address;
    std::chrono::steady_clock::time_point seen;
  };

  // All on the cluster thread.
  void OnUp();
  void OnMessage(const std::string& channel, const std::string& payload);
  void Answer(const std::string& origin, ::socketio::sidecar::cluster::Envelope envelope);
  void Announce(bool reply_wanted);
  void PublishEnvelope(const std::string& channel,
                       const ::socketio::sidecar::cluster::Envelope& envelope,
                       std::function<void(std::optional<long long>)> on_published);
  std::string ChannelOf(std::string_view node) const;
  // Sends a Redis command that expects no answer now, or queues it while
  // Redis is down or the outbox is not yet flushed.
  void SendOrQueue(std::vector<std::string> command, RedisConnection::ReplyHandler on_reply);
  void OnPublisherDown();
  // Sends a queued command, keeping it until Redis answers; false when not connected.
  bool SendTracked(Queued& queued);
  // Flushes the outbox once enough nodes listen again.
  void FlushOutboxWhenHeard(std::chrono::steady_clock::time_point give_up);
  size_t LiveNodes() const;

  friend class ReplyToNode;
  friend class ClusterRecoveryStore;
  RedisConnection& publisher() { return *publisher_; }
  // Stops Redis once what was sent is answered and the outbox is empty (or at `deadline`).
  void StopWhenFlushed(std::chrono::steady_clock::time_point deadline);

  ClusterConfig config_;
  Router& router_;
  ClusterRecoveryStore* recovery_ = nullptr;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::shared_ptr<RedisConnection> publisher_;
  std::shared_ptr<RedisConnection> subscriber_;
  std::atomic<bool> publisher_up_{false};
  std::atomic<bool> subscriber_up_{false};
  boost::asio::steady_timer announce_timer_;
  uint64_t next_request_id_ = 1;

  std::deque<Queued> outbox_;
  // Sent, not yet answered, in order.
  std::deque<Queued> unacked_;
  size_t outbox_bytes_ = 0;
  // Nodes (this one included) subscribed when Redis went away.
  size_t nodes_before_outage_ = 1;
  bool flushing_ = false;
  boost::asio::steady_timer outbox_timer_;
  std::atomic<uint64_t> outbox_messages_{0};
  std::atomic<uint64_t> outbox_dropped_{0};
  absl::flat_hash_map<uint64_t, Pending> pending_;

  mutable std::mutex nodes_mutex_;
  runtime::StringMap<Node> nodes_;
};

}  // namespace sidecar::cluster
