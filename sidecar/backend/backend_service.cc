#include "sidecar/backend/backend_service.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "sidecar/backend/backend_stream.h"
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

std::optional<std::chrono::steady_clock::time_point> BackendRegistry::GraceDeadline(
    std::string_view nsp) const {
  auto now = std::chrono::steady_clock::now();
  std::shared_lock lock(mutex_);
  for (const auto& stream : streams_) {
    if (!stream->HandlesNamespace(nsp)) continue;
    if (stream->alive()) return std::nullopt;
    // Ended but not yet removed: its grace period is about to start.
    return now + grace_period_;
  }
  auto it = orphaned_.find(nsp);
  if (it == orphaned_.end() || it->second <= now) return std::nullopt;
  return it->second;
}

void BackendRegistry::Add(std::shared_ptr<BackendStream> stream) {
  std::unique_lock lock(mutex_);
  for (const auto& [nsp, events] : stream->namespaces()) orphaned_.erase(nsp);
  streams_.push_back(std::move(stream));
}

void BackendRegistry::Remove(const BackendStream* stream) {
  std::unique_lock lock(mutex_);
  std::erase_if(streams_, [stream](const auto& each) { return each.get() == stream; });
  auto deadline = std::chrono::steady_clock::now() + grace_period_;
  for (const auto& [nsp, events] : stream->namespaces()) {
    bool served = std::any_of(streams_.begin(), streams_.end(),
                              [&](const auto& each) { return each->HandlesNamespace(nsp); });
    if (!served) orphaned_[nsp] = deadline;
  }
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
            [this](const pb::SidecarMessage* message) { StartWrite(message); },
            service.config_.max_backend_queue_bytes,
            [this](size_t queued_bytes) {
              // Its sockets move to another backend, or wait for one, as when a
              // backend dies; the sidecar's memory stays bounded. The stream
              // has detached itself.
              Stop(grpc::Status(
                  grpc::StatusCode::RESOURCE_EXHAUSTED,
                  absl::StrCat("the backend stopped reading: ", queued_bytes,
                               " bytes were queued for it (--max_backend_queue_bytes)")));
            })) {
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
    } else if (incoming_.has_batch()) {
      for (pb::BackendMessage& message : *incoming_.mutable_batch()->mutable_messages()) {
        service_.Handle(stream_, message);
      }
    } else {
      service_.Handle(stream_, incoming_);
    }
    incoming_.Clear();
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override { stream_->OnWriteDone(ok); }

  void OnDone() override {
    stream_->Release();
    stream_->Detach();
    service_.registry_.Remove(stream_.get());
    // The shared pointer keeps the address from being reused while shards compare it.
    service_.PostToAll(
        [stream = stream_](socketio::Hub& hub) { hub.BackendDetached(stream.get()); });
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
    welcome.mutable_welcome()->set_accepts_batches(true);
    // Registered before the Welcome leaves, since a backend that saw it may tell clients to
    // connect; picked for sockets only once the Welcome is queued, which must come first.
    service_.registry_.Add(stream_);
    stream_->Send(std::move(welcome));
    stream_->Activate();
    service_.PostToAll([](socketio::Hub& hub) { hub.BackendAttached(); });
    Log(LogLevel::kInfo, "backend ", hello.name(), " attached for ", hello.namespaces_size(),
        " namespace(s)");
    return grpc::Status::OK;
  }

  void End(grpc::Status status) {
    // No write may start once Finish is called; a write in flight completes first.
    stream_->Detach();
    Stop(std::move(status));
  }

  // Finishes the RPC once: from the reactor's thread, or a shard's on overflow.
  void Stop(grpc::Status status) {
    if (ended_.exchange(true)) return;
    if (!status.ok()) Log(LogLevel::kWarning, "backend stream ended: ", status.error_message());
    Finish(status);
  }

  BackendService& service_;
  std::shared_ptr<BackendStream> stream_;
  pb::BackendMessage incoming_;
  bool said_hello_ = false;
  std::atomic<bool> ended_{false};
};

// --- BackendService ----------------------------------------------------------

BackendService::BackendService(runtime::Shards& shards, cluster::Router& router,
                               BackendServiceConfig config)
    : shards_(shards), router_(router), config_(config), registry_(config.backend_grace_period) {}

void BackendService::PostToAll(const std::function<void(socketio::Hub&)>& run) {
  for (uint32_t i = 0; i < shards_.size(); ++i) {
    runtime::Shard& shard = shards_.at(i);
    boost::asio::post(shard.io, [&shard, run] {
      if (shard.hub) run(*shard.hub);
    });
  }
}

grpc::ServerBidiReactor<pb::BackendMessage, pb::SidecarMessage>* BackendService::Attach(
    grpc::CallbackServerContext*) {
  return new AttachReactor(*this);
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

// Hands a command's result back to the backend: each client ack as a
// ClientAck, then a CommandResult when the backend asked for one (request_id)
// or the command failed.
class ReplyToBackend : public socketio::OutcomeSink {
 public:
  ReplyToBackend(std::shared_ptr<socketio::BackendLink> stream, uint64_t request_id)
      : stream_(std::move(stream)), request_id_(request_id) {}

  void OnClientAck(const std::string& sid, pb::Payload args) override {
    pb::SidecarMessage message;
    auto* ack = message.mutable_client_ack();
    ack->set_request_id(request_id_);
    ack->set_sid(sid);
    *ack->mutable_args() = std::move(args);
    stream_->Send(std::move(message));
  }

  void OnOutcome(cluster::Outcome outcome) override {
    if (request_id_ == 0 && outcome.code() == pb::CODE_OK_UNSPECIFIED) return;
    if (outcome.code() != pb::CODE_OK_UNSPECIFIED) {
      Log(LogLevel::kWarning, "backend command failed: ", outcome.message());
    }
    pb::SidecarMessage message;
    auto* result = message.mutable_command_result();
    result->set_request_id(request_id_);
    result->set_code(outcome.code());
    result->set_message(std::move(*outcome.mutable_message()));
    result->set_socket_count(outcome.socket_count());
    *result->mutable_ack_timed_out_sids() = std::move(*outcome.mutable_ack_timed_out_sids());
    if (outcome.sockets_size() > 0) *result->mutable_socket() = std::move(outcome.sockets(0));
    stream_->Send(std::move(message));
  }

 private:
  std::shared_ptr<socketio::BackendLink> stream_;
  uint64_t request_id_;
};

}  // namespace

void BackendService::PostToOwner(const std::string& sid, std::function<void(socketio::Hub&)> run) {
  std::optional<uint32_t> index = router_.LocalShardOf(sid);
  if (!index) return;
  runtime::Shard& shard = shards_.at(*index);
  boost::asio::post(shard.io, [&shard, run = std::move(run)] { run(*shard.hub); });
}

void BackendService::Run(const std::shared_ptr<BackendStream>& stream, uint64_t request_id,
                         cluster::Command command) {
  router_.Run(std::make_shared<const cluster::Command>(std::move(command)),
              std::make_shared<ReplyToBackend>(stream, request_id),
              /*wait_for_nodes=*/request_id != 0);
}

void BackendService::Handle(const std::shared_ptr<BackendStream>& stream,
                            pb::BackendMessage& message) {
  cluster::Command command;
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
      auto shared = std::make_shared<const pb::ConnectDecision>(
          std::move(*message.mutable_connect_decision()));
      PostToOwner(shared->sid(), [shared](socketio::Hub& hub) { hub.Decide(*shared); });
      return;
    }
    case pb::BackendMessage::kEmit: {
      const pb::Emit& emit = message.emit();
      if (emit.want_ack() && emit.request_id() == 0) {
        Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT, "Emit.want_ack needs a request_id");
        return;
      }
      uint64_t request_id = emit.request_id();
      *command.mutable_emit() = std::move(*message.mutable_emit());
      return Run(stream, request_id, std::move(command));
    }
    case pb::BackendMessage::kAck: {
      absl::StatusOr<std::string> args = socketio::ValidateArgs(message.ack().args().json());
      if (!args.ok()) {
        Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT,
               absl::StrCat("Ack.args.json: ", args.status().message()));
        return;
      }
      message.mutable_ack()->mutable_args()->set_json(*std::move(args));
      auto shared = std::make_shared<const pb::Ack>(std::move(*message.mutable_ack()));
      PostToOwner(shared->sid(), [shared](socketio::Hub& hub) { hub.Ack(*shared); });
      return;
    }
    case pb::BackendMessage::kJoinRooms: {
      uint64_t request_id = message.join_rooms().request_id();
      *command.mutable_join_rooms() = std::move(*message.mutable_join_rooms());
      return Run(stream, request_id, std::move(command));
    }
    case pb::BackendMessage::kLeaveRooms: {
      uint64_t request_id = message.leave_rooms().request_id();
      *command.mutable_leave_rooms() = std::move(*message.mutable_leave_rooms());
      return Run(stream, request_id, std::move(command));
    }
    case pb::BackendMessage::kDisconnect: {
      uint64_t request_id = message.disconnect().request_id();
      *command.mutable_disconnect() = std::move(*message.mutable_disconnect());
      return Run(stream, request_id, std::move(command));
    }
    case pb::BackendMessage::kCloseRoom: {
      uint64_t request_id = message.close_room().request_id();
      *command.mutable_close_room() = std::move(*message.mutable_close_room());
      return Run(stream, request_id, std::move(command));
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
      uint64_t request_id = set.request_id();
      *command.mutable_set_session() = std::move(*message.mutable_set_session());
      return Run(stream, request_id, std::move(command));
    }
    case pb::BackendMessage::kGetSocket: {
      uint64_t request_id = message.get_socket().request_id();
      *command.mutable_get_socket() = std::move(*message.mutable_get_socket());
      return Run(stream, request_id, std::move(command));
    }
    case pb::BackendMessage::kBatch:
      // The reactor unpacks a batch; one inside a batch is refused.
      Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT, "a BackendBatch may not hold another");
      return;
    case pb::BackendMessage::KIND_NOT_SET:
      Refuse(*stream, 0, pb::CODE_INVALID_ARGUMENT, "empty BackendMessage");
      return;
  }
}

}  // namespace sidecar::backend
