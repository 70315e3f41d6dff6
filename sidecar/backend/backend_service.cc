#include "sidecar/backend/backend_service.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <deque>
#include <functional>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/runtime/log.h"
#include "sidecar/runtime/strings.h"
#include "sidecar/socketio/packet.h"

namespace sidecar::backend {

using runtime::Log;
using runtime::LogLevel;

namespace {
constexpr char kVersion[] = "0.1.0";
}  // namespace

// The shared half of a backend stream: outlives the gRPC reactor, so shards
// holding it after the stream ended just see it as not alive.
class BackendStream : public socketio::BackendLink {
 public:
  using Writer = std::function<void(const pb::SidecarMessage*)>;

  explicit BackendStream(Writer writer) : writer_(std::move(writer)) {}

  void Send(pb::SidecarMessage message) override {
    std::lock_guard lock(mutex_);
    if (!writer_) return;
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      writer_(&queue_.front());
    }
  }

  // Called by the reactor when the previous write finished.
  void OnWriteDone(bool ok) {
    std::lock_guard lock(mutex_);
    if (!queue_.empty()) queue_.pop_front();
    if (ok && writer_ && !queue_.empty()) {
      writer_(&queue_.front());
    } else {
      writing_ = false;
    }
  }

  bool alive() const override { return alive_.load(std::memory_order_acquire); }

  bool HandlesEvent(std::string_view nsp, std::string_view event) const override {
    auto it = namespaces_.find(nsp);
    if (it == namespaces_.end()) return false;
    return it->second.empty() || it->second.contains(event);
  }

  bool HandlesNamespace(std::string_view nsp) const { return namespaces_.contains(nsp); }

  // Set once from Hello, before the stream is registered; read-only afterwards.
  void Declare(const pb::Hello& hello) {
    name_ = hello.name();
    for (const pb::NamespaceHandlers& handlers : hello.namespaces()) {
      auto& events = namespaces_[handlers.namespace_()];
      bool all = handlers.events().empty();
      for (const std::string& event : handlers.events()) {
        if (event == "*") all = true;
        events.insert(event);
      }
      if (all) events.clear();
    }
    alive_ = true;
  }

  // The reactor is finishing: no more writes may start.
  void Detach() {
    alive_ = false;
    std::lock_guard lock(mutex_);
    writer_ = nullptr;
  }

  bool writing() {
    std::lock_guard lock(mutex_);
    return writing_;
  }

  const std::string& name() const { return name_; }

 private:
  std::mutex mutex_;
  Writer writer_;
  std::deque<pb::SidecarMessage> queue_;
  bool writing_ = false;
  std::atomic<bool> alive_{false};
  std::string name_;
  // Namespace -> declared events (empty: all events).
  runtime::StringMap<runtime::StringSet> namespaces_;
};

// --- BackendRegistry ---------------------------------------------------------

std::shared_ptr<socketio::BackendLink> BackendRegistry::Pick(std::string_view nsp,
                                                             std::string_view sid) const {
  std::shared_lock lock(mutex_);
  std::vector<BackendStream*> candidates;
  for (const auto& stream : streams_) {
    if (stream->alive() && stream->HandlesNamespace(nsp)) candidates.push_back(stream.get());
  }
  if (candidates.empty()) return nullptr;
  size_t choice = std::hash<std::string_view>{}(sid) % candidates.size();
  for (const auto& stream : streams_) {
    if (stream.get() == candidates[choice]) return stream;
  }
  return nullptr;
}

void BackendRegistry::Add(std::shared_ptr<BackendStream> stream) {
  std::unique_lock lock(mutex_);
  streams_.push_back(std::move(stream));
}

void BackendRegistry::Remove(const BackendStream* stream) {
  std::unique_lock lock(mutex_);
  std::erase_if(streams_, [stream](const auto& each) { return each.get() == stream; });
}

size_t BackendRegistry::size() const {
  std::shared_lock lock(mutex_);
  return streams_.size();
}

// --- AttachReactor -----------------------------------------------------------

class AttachReactor : public grpc::ServerBidiReactor<pb::BackendMessage, pb::SidecarMessage> {
 public:
  explicit AttachReactor(BackendService& service)
      : service_(service),
        stream_(std::make_shared<BackendStream>(
            [this](const pb::SidecarMessage* message) { StartWrite(message); })) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return End(grpc::Status::OK);
    if (!said_hello_) {
      if (!incoming_.has_hello()) {
        return End(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                "the first message on Attach must be Hello"));
      }
      if (grpc::Status status = Greet(incoming_.hello()); !status.ok()) return End(status);
      said_hello_ = true;
    } else {
      service_.Handle(stream_, incoming_);
    }
    incoming_.Clear();
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }

  void OnDone() override {
    stream_->Detach();
    service_.registry_.Remove(stream_.get());
    if (said_hello_) Log(LogLevel::kInfo, "backend ", stream_->name(), " detached");
    delete this;
  }

 private:
  grpc::Status Greet(const pb::Hello& hello) {
    if (hello.namespaces().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Hello declares no namespace");
    }
    for (const pb::NamespaceHandlers& handlers : hello.namespaces()) {
      if (handlers.namespace_().empty() || handlers.namespace_()[0] != '/') {
        return grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            absl::StrCat("namespace \"", handlers.namespace_(), "\" must start with '/'"));
      }
    }
    stream_->Declare(hello);
    pb::SidecarMessage welcome;
    welcome.mutable_welcome()->set_sidecar_version(kVersion);
    welcome.mutable_welcome()->set_always_connect(service_.config_.always_connect);
    welcome.mutable_welcome()->set_connect_decision_timeout_ms(
        service_.config_.connect_decision_timeout_ms);
    stream_->Send(std::move(welcome));
    service_.registry_.Add(stream_);
    Log(LogLevel::kInfo, "backend ", hello.name(), " attached for ", hello.namespaces_size(),
        " namespace(s)");
    return grpc::Status::OK;
  }

  void End(grpc::Status status) {
    if (!status.ok()) Log(LogLevel::kWarning, "backend stream refused: ", status.error_message());
    // No write may start once Finish is called; a write in flight completes first.
    stream_->Detach();
    Finish(status);
  }

  BackendService& service_;
  std::shared_ptr<BackendStream> stream_;
  pb::BackendMessage incoming_;
  bool said_hello_ = false;
};

// --- BackendService ----------------------------------------------------------

BackendService::BackendService(runtime::Shards& shards, BackendServiceConfig config)
    : shards_(shards), config_(config) {}

grpc::ServerBidiReactor<pb::BackendMessage, pb::SidecarMessage>* BackendService::Attach(
    grpc::CallbackServerContext*) {
  return new AttachReactor(*this);
}

std::vector<uint32_t> BackendService::AllShards() const {
  std::vector<uint32_t> all(shards_.size());
  for (uint32_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

std::vector<uint32_t> BackendService::ShardOf(const std::string& sid) const {
  std::optional<uint32_t> shard = runtime::ShardOfId(sid, shards_.size());
  if (!shard) return {};
  return {*shard};
}

// Commands aimed only at sids go to the shards owning them; any room (or no
// target at all) concerns every shard.
std::vector<uint32_t> BackendService::ShardsFor(const pb::Target& target) const {
  if (!target.rooms().empty() || target.sids().empty()) return AllShards();
  std::vector<uint32_t> shards;
  for (const std::string& sid : target.sids()) {
    std::optional<uint32_t> shard = runtime::ShardOfId(sid, shards_.size());
    if (shard && std::find(shards.begin(), shards.end(), *shard) == shards.end()) {
      shards.push_back(*shard);
    }
  }
  return shards;
}

template <typename Command, typename Run>
void BackendService::Dispatch(const std::shared_ptr<BackendStream>& stream, uint64_t request_id,
                              std::vector<uint32_t> shards, std::shared_ptr<const Command> command,
                              Run run) {
  auto collector = std::make_shared<socketio::CommandCollector>(stream, request_id,
                                                                std::max<size_t>(1, shards.size()));
  if (shards.empty()) {
    collector->ShardDone();
    return;
  }
  for (uint32_t index : shards) {
    runtime::Shard& shard = shards_.at(index);
    boost::asio::post(shard.io, [&shard, command, collector, run] {
      run(*shard.hub, *command, collector);
      collector->ShardDone();
    });
  }
}

template <typename Command>
void BackendService::DispatchToTarget(const std::shared_ptr<BackendStream>& stream,
                                      Command* command, HubCommand<Command> run) {
  auto shared = std::make_shared<const Command>(std::move(*command));
  Dispatch(stream, shared->request_id(), ShardsFor(shared->target()), shared,
           [run](socketio::Hub& hub, const Command& command,
                 const std::shared_ptr<socketio::CommandCollector>& collector) {
             (hub.*run)(command, collector);
           });
}

namespace {

void Refuse(socketio::BackendLink& stream, uint64_t request_id, pb::Code code,
            std::string message) {
  Log(LogLevel::kWarning, "backend command refused: ", message);
  pb::SidecarMessage reply;
  auto* result = reply.mutable_command_result();
  result->set_request_id(request_id);
  result->set_code(code);
  result->set_message(std::move(message));
  stream.Send(std::move(reply));
}

std::vector<std::shared_ptr<const std::string>> Attachments(const pb::Payload& payload) {
  std::vector<std::shared_ptr<const std::string>> attachments;
  attachments.reserve(payload.binary_size());
  for (const std::string& binary : payload.binary()) {
    attachments.push_back(std::make_shared<const std::string>(binary));
  }
  return attachments;
}

bool ValidNamespace(const std::string& nsp) { return !nsp.empty() && nsp[0] == '/'; }

}  // namespace

void BackendService::Handle(const std::shared_ptr<BackendStream>& stream,
                            pb::BackendMessage& message) {
  using socketio::Hub;
  using Collector = std::shared_ptr<socketio::CommandCollector>;
  switch (message.kind_case()) {
    case pb::BackendMessage::kHello:
      Refuse(*stream, 0, pb::CODE_FAILED_PRECONDITION, "Hello was already sent on this stream");
      return;
    case pb::BackendMessage::kConnectDecision: {
      const pb::ConnectDecision& decision = message.connect_decision();
      if (!decision.error_data_json().empty() &&
          !socketio::IsValidJson(decision.error_data_json())) {
        Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT,
               "ConnectDecision.error_data_json is not JSON");
        return;
      }
      if (!decision.session_json().empty() && !socketio::IsValidJson(decision.session_json())) {
        Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT, "ConnectDecision.session_json is not JSON");
        return;
      }
      auto command = std::make_shared<const pb::ConnectDecision>(
          std::move(*message.mutable_connect_decision()));
      Dispatch(stream, 0, ShardOf(command->sid()), command,
               [](Hub& hub, const pb::ConnectDecision& decision, const Collector&) {
                 hub.Decide(decision);
               });
      return;
    }
    case pb::BackendMessage::kEmit: {
      const pb::Emit& emit = message.emit();
      if (!ValidNamespace(emit.namespace_())) {
        Refuse(*stream, emit.request_id(), pb::CODE_INVALID_ARGUMENT,
               "Emit.namespace must start with '/'");
        return;
      }
      if (emit.event().empty()) {
        Refuse(*stream, emit.request_id(), pb::CODE_INVALID_ARGUMENT, "Emit.event is empty");
        return;
      }
      if (emit.want_ack() && emit.request_id() == 0) {
        Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT, "Emit.want_ack needs a request_id");
        return;
      }
      absl::StatusOr<std::string> data = socketio::JoinEvent(emit.event(), emit.args().json());
      if (!data.ok()) {
        Refuse(*stream, emit.request_id(), pb::CODE_INVALID_ARGUMENT,
               absl::StrCat("Emit.args.json: ", data.status().message()));
        return;
      }
      auto plan = std::make_shared<socketio::EmitPlan>();
      plan->nsp = emit.namespace_();
      plan->target = emit.target();
      plan->attachments = Attachments(emit.args());
      plan->want_ack = emit.want_ack();
      plan->ack_timeout =
          std::chrono::milliseconds(emit.ack_timeout_ms() > 0 ? emit.ack_timeout_ms() : 10000);
      plan->is_volatile = emit.is_volatile();
      socketio::Packet packet{plan->attachments.empty() ? socketio::PacketType::kEvent
                                                        : socketio::PacketType::kBinaryEvent,
                              plan->nsp, std::nullopt, plan->attachments.size(), *data};
      plan->frame = engineio::Frame{
          std::make_shared<const std::string>(absl::StrCat("4", socketio::EncodePacket(packet))),
          false};
      plan->data = *std::move(data);
      std::vector<uint32_t> shards = ShardsFor(plan->target);
      Dispatch(stream, emit.request_id(), std::move(shards),
               std::shared_ptr<const socketio::EmitPlan>(plan),
               [](Hub& hub, const socketio::EmitPlan& plan, const Collector& collector) {
                 hub.Emit(plan, collector);
               });
      return;
    }
    case pb::BackendMessage::kAck: {
      absl::StatusOr<std::string> args = socketio::ValidateArgs(message.ack().args().json());
      if (!args.ok()) {
        Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT,
               absl::StrCat("Ack.args.json: ", args.status().message()));
        return;
      }
      message.mutable_ack()->mutable_args()->set_json(*std::move(args));
      auto command = std::make_shared<const pb::Ack>(std::move(*message.mutable_ack()));
      Dispatch(stream, 0, ShardOf(command->sid()), command,
               [](Hub& hub, const pb::Ack& ack, const Collector&) { hub.Ack(ack); });
      return;
    }
    case pb::BackendMessage::kJoinRooms:
      DispatchToTarget(stream, message.mutable_join_rooms(), &Hub::JoinRooms);
      return;
    case pb::BackendMessage::kLeaveRooms:
      DispatchToTarget(stream, message.mutable_leave_rooms(), &Hub::LeaveRooms);
      return;
    case pb::BackendMessage::kDisconnect:
      DispatchToTarget(stream, message.mutable_disconnect(), &Hub::Disconnect);
      return;
    case pb::BackendMessage::kCloseRoom: {
      auto command =
          std::make_shared<const pb::CloseRoom>(std::move(*message.mutable_close_room()));
      Dispatch(stream, command->request_id(), AllShards(), command,
               [](Hub& hub, const pb::CloseRoom& close, const Collector& collector) {
                 hub.CloseRoom(close, collector);
               });
      return;
    }
    case pb::BackendMessage::kSetSession: {
      const pb::SetSession& set = message.set_session();
      if (set.session_json().size() > config_.max_session_bytes) {
        Refuse(*stream, set.request_id(), pb::CODE_RESOURCE_EXHAUSTED,
               absl::StrCat("SetSession.session_json is larger than ", config_.max_session_bytes,
                            " bytes"));
        return;
      }
      if (!socketio::IsValidJson(set.session_json())) {
        Refuse(*stream, set.request_id(), pb::CODE_INVALID_ARGUMENT,
               "SetSession.session_json is not JSON");
        return;
      }
      auto command =
          std::make_shared<const pb::SetSession>(std::move(*message.mutable_set_session()));
      std::vector<uint32_t> shards = ShardOf(command->sid());
      if (shards.empty()) {
        Refuse(*stream, command->request_id(), pb::CODE_NOT_FOUND,
               absl::StrCat("no socket ", command->sid()));
        return;
      }
      Dispatch(stream, command->request_id(), std::move(shards), command,
               [](Hub& hub, const pb::SetSession& set, const Collector& collector) {
                 hub.SetSession(set, collector);
               });
      return;
    }
    case pb::BackendMessage::kGetSocket: {
      auto command =
          std::make_shared<const pb::GetSocket>(std::move(*message.mutable_get_socket()));
      std::vector<uint32_t> shards = ShardOf(command->sid());
      if (shards.empty()) {
        Refuse(*stream, command->request_id(), pb::CODE_NOT_FOUND,
               absl::StrCat("no socket ", command->sid()));
        return;
      }
      Dispatch(stream, command->request_id(), std::move(shards), command,
               [](Hub& hub, const pb::GetSocket& get, const Collector& collector) {
                 hub.GetSocket(get, collector);
               });
      return;
    }
    case pb::BackendMessage::KIND_NOT_SET:
      Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT, "empty BackendMessage");
      return;
  }
}

}  // namespace sidecar::backend
