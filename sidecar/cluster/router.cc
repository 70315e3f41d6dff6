#include "sidecar/cluster/router.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "sidecar/runtime/ids.h"

namespace sidecar::cluster {
namespace {

using socketio::CommandCollector;

// How long a node waits for the others' answers to a command without acks.
constexpr std::chrono::milliseconds kNodeAnswerTimeout{5000};
// Acks are counted by the nodes that own the sockets; the origin waits a
// little longer than they do.
constexpr std::chrono::milliseconds kAckGrace{1000};

const pb::Target* TargetOf(const Command& command) {
  switch (command.kind_case()) {
    case Command::kEmit:
      return &command.emit().target();
    case Command::kJoinRooms:
      return &command.join_rooms().target();
    case Command::kLeaveRooms:
      return &command.leave_rooms().target();
    case Command::kDisconnect:
      return &command.disconnect().target();
    case Command::kListSockets:
      return &command.list_sockets().target();
    default:
      return nullptr;
  }
}

// The socket a command is about, for commands about one socket.
const std::string* SidOf(const Command& command) {
  switch (command.kind_case()) {
    case Command::kGetSocket:
      return &command.get_socket().sid();
    case Command::kSetSession:
      return &command.set_session().sid();
    default:
      return nullptr;
  }
}

const std::string* NamespaceOf(const Command& command) {
  switch (command.kind_case()) {
    case Command::kEmit:
      return &command.emit().namespace_();
    case Command::kJoinRooms:
      return &command.join_rooms().namespace_();
    case Command::kLeaveRooms:
      return &command.leave_rooms().namespace_();
    case Command::kDisconnect:
      return &command.disconnect().namespace_();
    case Command::kCloseRoom:
      return &command.close_room().namespace_();
    case Command::kGetSocket:
      return &command.get_socket().namespace_();
    case Command::kSetSession:
      return &command.set_session().namespace_();
    case Command::kListSockets:
      return &command.list_sockets().namespace_();
    case Command::kListRooms:
      return &command.list_rooms().namespace_();
    default:
      return nullptr;
  }
}

std::chrono::milliseconds AnswerTimeout(const Command& command) {
  if (command.has_emit() && command.emit().want_ack()) {
    return socketio::AckTimeout(command.emit()) + kAckGrace;
  }
  return kNodeAnswerTimeout;
}

void FailNow(const std::shared_ptr<socketio::OutcomeSink>& sink, pb::Code code,
             std::string message) {
  Outcome outcome;
  outcome.set_code(code);
  outcome.set_message(std::move(message));
  sink->OnOutcome(std::move(outcome));
}

size_t WebSocketSessions(const runtime::Shard& shard) {
  size_t count = 0;
  for (const auto& [sid, session] : shard.sessions) {
    if (session->transport() == engineio::Session::Transport::kWebSocket) ++count;
  }
  return count;
}

}  // namespace

Router::Router(runtime::Shards& shards) : shards_(shards) {}

std::optional<uint32_t> Router::LocalShardOf(std::string_view sid) const {
  if (locations_ != nullptr) {
    if (std::optional<uint32_t> shard = locations_->ShardOf(sid)) return shard;
  }
  if (!runtime::IsLocalId(sid)) return std::nullopt;
  return runtime::ShardOfId(sid, shards_.size());
}

std::vector<uint32_t> Router::AllShards() const {
  std::vector<uint32_t> all(shards_.size());
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

absl::Status Router::Validate(const Command& command) const {
  if (command.kind_case() == Command::KIND_NOT_SET) {
    return absl::InvalidArgumentError("empty command");
  }
  if (const std::string* nsp = NamespaceOf(command); nsp && (nsp->empty() || (*nsp)[0] != '/')) {
    return absl::InvalidArgumentError(absl::StrCat("namespace \"", *nsp, "\" must start with '/'"));
  }
  if (const std::string* sid = SidOf(command); sid && sid->empty()) {
    return absl::InvalidArgumentError("sid is empty");
  }
  if (command.has_emit()) return socketio::MakeEmitPlan(command.emit()).status();
  return absl::OkStatus();
}

// Commands aimed only at sids go to the shards (and nodes) owning them; a
// room, or no target at all, concerns every shard of every node.
Router::Scope Router::ScopeOf(const Command& command) const {
  Scope scope;
  auto add_sid = [&](const std::string& sid) {
    if (std::optional<uint32_t> shard = LocalShardOf(sid)) {
      if (std::find(scope.shards.begin(), scope.shards.end(), *shard) == scope.shards.end()) {
        scope.shards.push_back(*shard);
      }
    } else if (runtime::NodeOfId(sid).has_value()) {
      scope.remote = true;
    }
  };
  if (const std::string* sid = SidOf(command)) {
    add_sid(*sid);
    if (scope.remote) scope.node = std::string(*runtime::NodeOfId(*sid));
  } else if (const pb::Target* target = TargetOf(command);
             target != nullptr && target->rooms().empty() && !target->sids().empty()) {
    for (const std::string& sid : target->sids()) add_sid(sid);
  } else {
    scope.shards = AllShards();
    scope.remote = true;
  }
  if (peers_ == nullptr) scope.remote = false;
  return scope;
}

std::shared_ptr<CommandCollector> Router::NewCollector(const Command& command,
                                                       std::shared_ptr<socketio::OutcomeSink> sink,
                                                       size_t parts) const {
  auto collector = std::make_shared<CommandCollector>(std::move(sink), parts);
  if (command.has_stats()) {
    collector->local_node().set_node_id(runtime::LocalNodeId());
    if (describe_node_) describe_node_(collector->local_node());
  }
  // Nothing here to run it on: done at once (a socket of this node that does not exist).
  if (parts == 0) {
    if (const std::string* sid = SidOf(command)) {
      collector->Fail(pb::CODE_NOT_FOUND, absl::StrCat("no socket ", *sid));
    }
    collector->PartDone();
  }
  return collector;
}

// Passes a by-sid command's outcome on, unless this node did not have the socket: then the
// other nodes are asked (it may have been restored on one of them).
class ElsewhereIfNotFound : public socketio::OutcomeSink {
 public:
  ElsewhereIfNotFound(Router& router, std::shared_ptr<const Command> command,
                      std::shared_ptr<socketio::OutcomeSink> sink, bool wait_for_nodes)
      : router_(router),
        command_(std::move(command)),
        sink_(std::move(sink)),
        wait_for_nodes_(wait_for_nodes) {}

  void OnClientAck(const std::string& sid, pb::Payload args) override {
    sink_->OnClientAck(sid, std::move(args));
  }

  void OnOutcome(Outcome outcome) override {
    if (outcome.code() != pb::CODE_NOT_FOUND) return sink_->OnOutcome(std::move(outcome));
    router_.AskOtherNodes(command_, sink_, wait_for_nodes_);
  }

 private:
  Router& router_;
  std::shared_ptr<const Command> command_;
  std::shared_ptr<socketio::OutcomeSink> sink_;
  bool wait_for_nodes_;
};

void Router::RunBySid(std::shared_ptr<const Command> command,
                      std::shared_ptr<socketio::OutcomeSink> sink, bool wait_for_nodes) {
  std::optional<uint32_t> shard = LocalShardOf(*SidOf(*command));
  // Named by another node (which may be gone): it may live on any node now.
  if (!shard) return AskOtherNodes(std::move(command), std::move(sink), wait_for_nodes);
  auto fallback =
      std::make_shared<ElsewhereIfNotFound>(*this, command, std::move(sink), wait_for_nodes);
  auto collector = std::make_shared<CommandCollector>(std::move(fallback), 1);
  PostToShards({*shard}, std::move(command), nullptr, collector);
}

void Router::AskOtherNodes(std::shared_ptr<const Command> command,
                           std::shared_ptr<socketio::OutcomeSink> sink, bool wait_for_nodes) {
  // One part for the publish; NOT_FOUND unless a node has the socket.
  auto collector = std::make_shared<CommandCollector>(std::move(sink), 1);
  if (!wait_for_nodes) {
    // Nobody answers: the nodes without the socket ignore it.
    peers_->Publish(command, "", nullptr, AnswerTimeout(*command));
    collector->PartDone();
    return;
  }
  collector->Fail(pb::CODE_NOT_FOUND, absl::StrCat("no socket ", *SidOf(*command), " on any node"));
  peers_->Publish(command, "", collector, AnswerTimeout(*command));
}

void Router::Run(std::shared_ptr<const Command> command,
                 std::shared_ptr<socketio::OutcomeSink> sink, bool wait_for_nodes) {
  if (absl::Status status = Validate(*command); !status.ok()) {
    return FailNow(sink, pb::CODE_INVALID_ARGUMENT, std::string(status.message()));
  }
  if (SocketsMayMove() && SidOf(*command) != nullptr) {
    return RunBySid(std::move(command), std::move(sink), wait_for_nodes);
  }
  Scope scope = ScopeOf(*command);
  if (log_reaches_every_node_ && recovery_ != nullptr && command->has_emit() &&
      socketio::IsLogged(command->emit())) {
    // Logged and published by the store; every node delivers it to its own receivers.
    auto collector = NewCollector(*command, std::move(sink), 1);
    return RunOnShards(AllShards(), command, collector);
  }
  const bool collect_remote = scope.remote && wait_for_nodes;
  auto collector = NewCollector(*command, std::move(sink),
                                LocalParts(*command, scope.shards) + (collect_remote ? 1 : 0));
  RunOnShards(scope.shards, command, collector);
  if (scope.remote) {
    peers_->Publish(command, scope.node, collect_remote ? collector : nullptr,
                    AnswerTimeout(*command));
  }
}

void Router::RunHere(std::shared_ptr<const Command> command,
                     std::shared_ptr<socketio::OutcomeSink> sink, std::string logged_offset) {
  if (absl::Status status = Validate(*command); !status.ok()) {
    return FailNow(sink, pb::CODE_INVALID_ARGUMENT, std::string(status.message()));
  }
  std::vector<uint32_t> shards = ScopeOf(*command).shards;
  auto collector = NewCollector(*command, std::move(sink), LocalParts(*command, shards));
  RunOnShards(shards, std::move(command), collector, std::move(logged_offset));
}

namespace {

// Logged emits from other nodes answer nobody.
class NoAnswer : public socketio::OutcomeSink {
 public:
  void OnClientAck(const std::string&, pb::Payload) override {}
  void OnOutcome(Outcome) override {}
};

}  // namespace

void Router::DeliverLogged(std::shared_ptr<const socketio::EmitPlan> plan) {
  auto command = std::make_shared<Command>();
  command->mutable_emit()->set_namespace_(plan->nsp);
  *command->mutable_emit()->mutable_target() = plan->target;
  std::vector<uint32_t> shards = ScopeOf(*command).shards;
  auto collector = std::make_shared<CommandCollector>(std::make_shared<NoAnswer>(), 1);
  collector->AddParts(shards.size());
  PostToShards(shards, command, std::move(plan), collector);
  collector->PartDone();
}

size_t Router::LocalParts(const Command& command, const std::vector<uint32_t>& shards) const {
  if (shards.empty()) return 0;
  // A logged emit is one part until the store has logged it.
  if (recovery_ != nullptr && command.has_emit() && socketio::IsLogged(command.emit())) return 1;
  return shards.size();
}

void Router::RunOnShards(const std::vector<uint32_t>& shards,
                         std::shared_ptr<const Command> command,
                         const std::shared_ptr<CommandCollector>& collector,
                         std::string logged_offset) {
  if (shards.empty()) return;
  std::shared_ptr<const socketio::EmitPlan> plan;
  if (command->has_emit()) plan = *socketio::MakeEmitPlan(command->emit());
  if (recovery_ == nullptr || !command->has_emit() || !socketio::IsLogged(command->emit())) {
    return PostToShards(shards, std::move(command), std::move(plan), collector);
  }
  auto deliver = [this, command, collector](std::shared_ptr<const socketio::EmitPlan> logged) {
    // Where the sockets are now: one may have been restored on another shard
    // since the command was routed, before this event was logged.
    std::vector<uint32_t> shards = ScopeOf(*command).shards;
    collector->AddParts(shards.size());
    PostToShards(shards, command, std::move(logged), collector);
    collector->PartDone();
  };
  if (!logged_offset.empty()) {
    return deliver(socketio::MakeOffsetPlan(*plan, std::move(logged_offset)));
  }
  recovery_->Append(command, std::move(plan), std::move(deliver));
}

void Router::PostToShards(const std::vector<uint32_t>& shards,
                          std::shared_ptr<const Command> command,
                          std::shared_ptr<const socketio::EmitPlan> plan,
                          const std::shared_ptr<CommandCollector>& collector) {
  for (uint32_t index : shards) {
    runtime::Shard& shard = shards_.at(index);
    boost::asio::post(shard.io, [&shard, command, plan, collector] {
      socketio::Hub& hub = *shard.hub;
      switch (command->kind_case()) {
        case Command::kEmit:
          hub.Emit(*plan, collector);
          break;
        case Command::kJoinRooms:
          hub.JoinRooms(command->join_rooms(), collector);
          break;
        case Command::kLeaveRooms:
          hub.LeaveRooms(command->leave_rooms(), collector);
          break;
        case Command::kDisconnect:
          hub.Disconnect(command->disconnect(), collector);
          break;
        case Command::kCloseRoom:
          hub.CloseRoom(command->close_room(), collector);
          break;
        case Command::kGetSocket:
          hub.GetSocket(command->get_socket(), collector);
          break;
        case Command::kSetSession:
          hub.SetSession(command->set_session(), collector);
          break;
        case Command::kListSockets:
          hub.ListSockets(command->list_sockets(), collector);
          break;
        case Command::kListRooms:
          hub.ListRooms(command->list_rooms(), collector);
          break;
        case Command::kStats:
          hub.Stats(shard.sessions.size(), WebSocketSessions(shard), collector);
          break;
        case Command::KIND_NOT_SET:
          break;
      }
      collector->PartDone();
    });
  }
}

}  // namespace sidecar::cluster
