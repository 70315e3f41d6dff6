#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/cluster/cluster.pb.h"
#include "sidecar/runtime/shards.h"
#include "sidecar/socketio/hub.h"

namespace sidecar::cluster {

namespace pb = ::socketio::sidecar::v1;
using Command = ::socketio::sidecar::cluster::Command;
using Outcome = ::socketio::sidecar::cluster::Outcome;

// The other nodes of a cluster, as the router sees them (implemented over
// Redis by Cluster). Thread-safe.
class Peers {
 public:
  virtual ~Peers() = default;
  // Sends a command to every other node, or to `node` alone. With a
  // collector, the nodes' answers are gathered into it as parts (it must hold
  // one part for the publish itself, which this call finishes), until
  // `timeout`; without one, nodes run the command without answering.
  virtual void Publish(std::shared_ptr<const Command> command, std::string_view node,
                       std::shared_ptr<socketio::CommandCollector> collector,
                       std::chrono::milliseconds timeout) = 0;
};

// Runs commands (from backends, Admin calls and other nodes) on the shards
// and nodes that own the sockets they concern.
class Router {
 public:
  explicit Router(runtime::Shards& shards);

  // Cluster mode: commands that may concern sockets elsewhere are published.
  void set_peers(Peers* peers) { peers_ = peers; }
  // Connection state recovery: emits that are logged get their offset from
  // the store before they reach the shards, and sockets restored on another
  // shard than their sid names are found there.
  void set_recovery(socketio::RecoveryStore* store, const socketio::SocketLocations* locations) {
    recovery_ = store;
    locations_ = locations;
  }
  // Cluster mode: logged emits reach the other nodes through the store's log
  // (which delivers them everywhere by DeliverLogged), not as commands.
  void set_log_reaches_every_node(bool value) { log_reaches_every_node_ = value; }
  // Delivers a logged emit (with its offset) that another node logged to
  // this node's receivers.
  void DeliverLogged(std::shared_ptr<const socketio::EmitPlan> plan);
  // The shard of this node that owns a sid, if one may.
  std::optional<uint32_t> LocalShardOf(std::string_view sid) const;
  // Fills node-level facts (backends, Redis state) into this node's Stats.
  void set_describe_node(std::function<void(pb::NodeStats&)> describe) {
    describe_node_ = std::move(describe);
  }

  // Validates a command: an error names the field at fault.
  absl::Status Validate(const Command& command) const;

  // Runs a validated command wherever it applies; the sink gets the clients'
  // acks and one outcome. Without `wait_for_nodes`, other nodes run it
  // without answering and the outcome covers this node only.
  void Run(std::shared_ptr<const Command> command, std::shared_ptr<socketio::OutcomeSink> sink,
           bool wait_for_nodes);

  // Runs a command on this node's shards only (commands from other nodes,
  // and local views such as metrics). A logged emit that already has its
  // offset (`logged_offset`, assigned by the node that logged it) is not
  // logged again: it reaches the shards with that offset.
  void RunHere(std::shared_ptr<const Command> command, std::shared_ptr<socketio::OutcomeSink> sink,
               std::string logged_offset = {});

 private:
  struct Scope {
    std::vector<uint32_t> shards;
    // Publish to other nodes: every one (node empty) or the one named.
    bool remote = false;
    std::string node;
  };
  Scope ScopeOf(const Command& command) const;
  // Cluster mode with recovery: a socket may live on another node than its sid names (restored
  // there), so a command about one sid (GetSocket, SetSession) runs here if the socket may be
  // here, and goes to every other node if it is not.
  bool SocketsMayMove() const { return peers_ != nullptr && recovery_ != nullptr; }
  void RunBySid(std::shared_ptr<const Command> command, std::shared_ptr<socketio::OutcomeSink> sink,
                bool wait_for_nodes);
  void AskOtherNodes(std::shared_ptr<const Command> command,
                     std::shared_ptr<socketio::OutcomeSink> sink, bool wait_for_nodes);
  friend class ElsewhereIfNotFound;
  std::vector<uint32_t> AllShards() const;
  // A collector for `parts` parts, with this node's facts for Stats; finished at once with none.
  std::shared_ptr<socketio::CommandCollector> NewCollector(
      const Command& command, std::shared_ptr<socketio::OutcomeSink> sink, size_t parts) const;
  // How many parts of a collector RunOnShards finishes for these shards.
  size_t LocalParts(const Command& command, const std::vector<uint32_t>& shards) const;
  void RunOnShards(const std::vector<uint32_t>& shards, std::shared_ptr<const Command> command,
                   const std::shared_ptr<socketio::CommandCollector>& collector,
                   std::string logged_offset = {});
  void PostToShards(const std::vector<uint32_t>& shards, std::shared_ptr<const Command> command,
                    std::shared_ptr<const socketio::EmitPlan> plan,
                    const std::shared_ptr<socketio::CommandCollector>& collector);

  runtime::Shards& shards_;
  Peers* peers_ = nullptr;
  socketio::RecoveryStore* recovery_ = nullptr;
  const socketio::SocketLocations* locations_ = nullptr;
  bool log_reaches_every_node_ = false;
  std::function<void(pb::NodeStats&)> describe_node_;
};

}  // namespace sidecar::cluster
