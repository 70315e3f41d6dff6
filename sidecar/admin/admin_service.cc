#include "sidecar/admin/admin_service.h"

#include <mutex>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace sidecar::admin {
namespace {

constexpr char kDefaultNamespace[] = "/";

// Compares in time independent of where the strings differ, so that response
// times do not leak the token.
bool SameSecret(std::string_view given, std::string_view expected) {
  if (given.size() != expected.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < given.size(); ++i) difference |= given[i] ^ expected[i];
  return difference == 0;
}

std::string NamespaceOr(const std::string& nsp) { return nsp.empty() ? kDefaultNamespace : nsp; }

grpc::Status StatusOf(const cluster::Outcome& outcome) {
  switch (outcome.code()) {
    case pb::CODE_OK_UNSPECIFIED:
      return grpc::Status::OK;
    case pb::CODE_INVALID_ARGUMENT:
      return {grpc::StatusCode::INVALID_ARGUMENT, outcome.message()};
    case pb::CODE_DEADLINE_EXCEEDED:
      return {grpc::StatusCode::DEADLINE_EXCEEDED, outcome.message()};
    case pb::CODE_NOT_FOUND:
      return {grpc::StatusCode::NOT_FOUND, outcome.message()};
    case pb::CODE_FAILED_PRECONDITION:
      return {grpc::StatusCode::FAILED_PRECONDITION, outcome.message()};
    case pb::CODE_RESOURCE_EXHAUSTED:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, outcome.message()};
    case pb::CODE_UNAVAILABLE:
      return {grpc::StatusCode::UNAVAILABLE, outcome.message()};
    default:
      return {grpc::StatusCode::INTERNAL, outcome.message()};
  }
}

// Answers one Admin call: client acks go into the response as they come,
// and the outcome finishes the call (or Abandon does, when the sidecar stops
// first).
template <typename Response, typename Fill>
class AnswerCall : public socketio::OutcomeSink, public AdminService::Pending {
 public:
  AnswerCall(grpc::ServerUnaryReactor* reactor, Response* response, Fill fill,
             std::shared_ptr<AdminService::Calls> calls, uint64_t id)
      : reactor_(reactor),
        response_(response),
        fill_(std::move(fill)),
        calls_(std::move(calls)),
        id_(id) {}

  void OnClientAck(const std::string& sid, pb::Payload args) override {
    if constexpr (std::is_same_v<Response, pb::EmitResponse>) {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      pb::ClientAckResult* ack = response_->add_acks();
      ack->set_sid(sid);
      *ack->mutable_args() = std::move(args);
    }
  }

  void OnOutcome(cluster::Outcome outcome) override {
    grpc::Status status = StatusOf(outcome);
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      finished_ = true;
      if (status.ok()) fill_(outcome, *response_);
      // The call (and `response_`) may be gone once Finish returns.
      reactor_->Finish(status);
    }
    calls_->Remove(id_);
  }

  void Abandon(const grpc::Status& status) override {
    {
      std::lock_guard lock(mutex_);
      if (finished_) return;
      finished_ = true;
      reactor_->Finish(status);
    }
    calls_->Remove(id_);
  }

 private:
  grpc::ServerUnaryReactor* reactor_;
  std::mutex mutex_;
  bool finished_ = false;
  Response* response_;
  Fill fill_;
  std::shared_ptr<AdminService::Calls> calls_;
  uint64_t id_;
};

const grpc::Status kStopping{grpc::StatusCode::UNAVAILABLE, "the sidecar is stopping"};

}  // namespace

AdminService::AdminService(cluster::Router& router, std::string token)
    : router_(router), token_(std::move(token)) {}

grpc::Status AdminService::Authorize(grpc::CallbackServerContext* context) const {
  if (token_.empty()) return grpc::Status::OK;
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return {grpc::StatusCode::UNAUTHENTICATED, "Admin calls need `authorization: Bearer <token>`"};
  }
  std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kScheme = "Bearer ";
  if (!value.starts_with(kScheme) || !SameSecret(value.substr(kScheme.size()), token_)) {
    return {grpc::StatusCode::UNAUTHENTICATED, "wrong admin token"};
  }
  return grpc::Status::OK;
}

template <typename Response, typename Fill>
grpc::ServerUnaryReactor* AdminService::Run(grpc::CallbackServerContext* context,
                                            cluster::Command command, Response* response,
                                            Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status status = Authorize(context); !status.ok()) {
    reactor->Finish(status);
    return reactor;
  }
  uint64_t id = calls_->NextId();
  auto call =
      std::make_shared<AnswerCall<Response, Fill>>(reactor, response, std::move(fill), calls_, id);
  if (!calls_->Add(id, call)) {
    reactor->Finish(kStopping);
    return reactor;
  }
  router_.Run(std::make_shared<const cluster::Command>(std::move(command)), std::move(call),
              /*wait_for_nodes=*/true);
  return reactor;
}

uint64_t AdminService::Calls::NextId() {
  std::lock_guard lock(mutex_);
  return ++next_id_;
}

bool AdminService::Calls::Add(uint64_t id, std::shared_ptr<Pending> call) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  calls_.emplace(id, std::move(call));
  return true;
}

void AdminService::Calls::Remove(uint64_t id) {
  std::lock_guard lock(mutex_);
  calls_.erase(id);
  changed_.notify_all();
}

void AdminService::Calls::Stop(std::chrono::steady_clock::time_point deadline) {
  std::vector<std::shared_ptr<Pending>> left;
  {
    std::unique_lock lock(mutex_);
    stopping_ = true;
    changed_.wait_until(lock, deadline, [this] { return calls_.empty(); });
    for (const auto& [id, call] : calls_) left.push_back(call);
  }
  // Outside the lock: abandoning a call removes it.
  for (const std::shared_ptr<Pending>& call : left) call->Abandon(kStopping);
}

void AdminService::Stop(std::chrono::steady_clock::time_point deadline) { calls_->Stop(deadline); }

grpc::ServerUnaryReactor* AdminService::Emit(grpc::CallbackServerContext* context,
                                             const pb::EmitRequest* request,
                                             pb::EmitResponse* response) {
  cluster::Command command;
  pb::Emit* emit = command.mutable_emit();
  emit->set_namespace_(NamespaceOr(request->namespace_()));
  emit->set_event(request->event());
  *emit->mutable_args() = request->args();
  *emit->mutable_target() = request->target();
  emit->set_want_ack(request->want_ack());
  emit->set_ack_timeout_ms(request->ack_timeout_ms());
  emit->set_is_volatile(request->is_volatile());
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::EmitResponse& response) {
               response.set_socket_count(outcome.socket_count());
               *response.mutable_ack_timed_out_sids() = outcome.ack_timed_out_sids();
             });
}

grpc::ServerUnaryReactor* AdminService::JoinRooms(grpc::CallbackServerContext* context,
                                                  const pb::JoinRoomsRequest* request,
                                                  pb::JoinRoomsResponse* response) {
  cluster::Command command;
  pb::JoinRooms* join = command.mutable_join_rooms();
  join->set_namespace_(NamespaceOr(request->namespace_()));
  *join->mutable_target() = request->target();
  *join->mutable_rooms() = request->rooms();
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::JoinRoomsResponse& response) {
               response.set_socket_count(outcome.socket_count());
             });
}

grpc::ServerUnaryReactor* AdminService::LeaveRooms(grpc::CallbackServerContext* context,
                                                   const pb::LeaveRoomsRequest* request,
                                                   pb::LeaveRoomsResponse* response) {
  cluster::Command command;
  pb::LeaveRooms* leave = command.mutable_leave_rooms();
  leave->set_namespace_(NamespaceOr(request->namespace_()));
  *leave->mutable_target() = request->target();
  *leave->mutable_rooms() = request->rooms();
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::LeaveRoomsResponse& response) {
               response.set_socket_count(outcome.socket_count());
             });
}

grpc::ServerUnaryReactor* AdminService::DisconnectSockets(
    grpc::CallbackServerContext* context, const pb::DisconnectSocketsRequest* request,
    pb::DisconnectSocketsResponse* response) {
  cluster::Command command;
  pb::Disconnect* disconnect = command.mutable_disconnect();
  disconnect->set_namespace_(NamespaceOr(request->namespace_()));
  *disconnect->mutable_target() = request->target();
  disconnect->set_close_transport(request->close_transport());
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::DisconnectSocketsResponse& response) {
               response.set_socket_count(outcome.socket_count());
             });
}

grpc::ServerUnaryReactor* AdminService::CloseRoom(grpc::CallbackServerContext* context,
                                                  const pb::CloseRoomRequest* request,
                                                  pb::CloseRoomResponse* response) {
  if (request->room().empty()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish({grpc::StatusCode::INVALID_ARGUMENT, "CloseRoomRequest.room is empty"});
    return reactor;
  }
  cluster::Command command;
  pb::CloseRoom* close = command.mutable_close_room();
  close->set_namespace_(NamespaceOr(request->namespace_()));
  close->set_room(request->room());
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::CloseRoomResponse& response) {
               response.set_socket_count(outcome.socket_count());
             });
}

grpc::ServerUnaryReactor* AdminService::ListRooms(grpc::CallbackServerContext* context,
                                                  const pb::ListRoomsRequest* request,
                                                  pb::ListRoomsResponse* response) {
  cluster::Command command;
  command.mutable_list_rooms()->set_namespace_(NamespaceOr(request->namespace_()));
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::ListRoomsResponse& response) {
               *response.mutable_rooms() = outcome.rooms();
             });
}

grpc::ServerUnaryReactor* AdminService::ListSockets(grpc::CallbackServerContext* context,
                                                    const pb::ListSocketsRequest* request,
                                                    pb::ListSocketsResponse* response) {
  cluster::Command command;
  pb::ListSocketsRequest* list = command.mutable_list_sockets();
  list->set_namespace_(NamespaceOr(request->namespace_()));
  *list->mutable_target() = request->target();
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::ListSocketsResponse& response) {
               *response.mutable_sockets() = outcome.sockets();
             });
}

grpc::ServerUnaryReactor* AdminService::GetSocket(grpc::CallbackServerContext* context,
                                                  const pb::GetSocketRequest* request,
                                                  pb::GetSocketResponse* response) {
  cluster::Command command;
  pb::GetSocket* get = command.mutable_get_socket();
  get->set_sid(request->sid());
  get->set_namespace_(NamespaceOr(request->namespace_()));
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::GetSocketResponse& response) {
               if (outcome.sockets_size() > 0) *response.mutable_socket() = outcome.sockets(0);
             });
}

grpc::ServerUnaryReactor* AdminService::Stats(grpc::CallbackServerContext* context,
                                              const pb::StatsRequest*,
                                              pb::StatsResponse* response) {
  cluster::Command command;
  command.mutable_stats();
  return Run(context, std::move(command), response,
             [](const cluster::Outcome& outcome, pb::StatsResponse& response) {
               uint32_t clients = 0;
               uint32_t sockets = 0;
               for (const pb::NodeStats& node : outcome.nodes()) {
                 clients += node.client_count();
                 for (const pb::NamespaceStats& nsp : node.namespaces()) {
                   sockets += nsp.socket_count();
                 }
               }
               *response.mutable_nodes() = outcome.nodes();
               response.set_client_count(clients);
               response.set_socket_count(sockets);
             });
}

}  // namespace sidecar::admin
