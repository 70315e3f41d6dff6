#include "socketio/testing/test_client.h"

#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"

namespace socketio::testing {
namespace {

namespace pb = ::socketio::sidecar::v1;
constexpr std::chrono::seconds kWait{10};

// The server's end of an in-memory Backend.Attach stream. What the server
// writes goes straight to the fake sidecar; what the sidecar sends is queued
// for the server's reader and counted until the server has handled it.
class MemoryLink : public Link {
 public:
  explicit MemoryLink(std::function<void(const pb::BackendMessage&)> deliver)
      : deliver_(std::move(deliver)) {}

  bool Write(const pb::BackendMessage& message) override {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
    }
    deliver_(message);
    return true;
  }

  bool Read(pb::SidecarMessage* message) override {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return closed_ || !inbox_.empty(); });
    if (inbox_.empty()) return false;
    *message = std::move(inbox_.front());
    inbox_.pop_front();
    return true;
  }

  void Close() override {
    std::lock_guard lock(mutex_);
    closed_ = true;
    cv_.notify_all();
  }

  void Processed() override {
    std::lock_guard lock(mutex_);
    --unhandled_;
    cv_.notify_all();
  }

  void Push(pb::SidecarMessage message) {
    std::lock_guard lock(mutex_);
    ++unhandled_;
    inbox_.push_back(std::move(message));
    cv_.notify_all();
  }

  // Waits until the server has handled everything pushed so far.
  bool WaitHandled() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kWait, [this] { return closed_ || unhandled_ == 0; });
  }

 private:
  std::function<void(const pb::BackendMessage&)> deliver_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<pb::SidecarMessage> inbox_;
  int64_t unhandled_ = 0;
  bool closed_ = false;
};

}  // namespace

// What one test client has and has received, per namespace.
struct ClientState {
  std::map<std::string, std::string> sids;
  std::map<std::string, std::vector<Received>> received;
  std::map<std::string, Json> connect_errors;
  std::map<uint64_t, std::optional<Args>> answers;  // ack id -> the server's ack
  uint64_t next_ack_id = 1;
  std::function<Args(const std::string&, const Args&)> on_call;
};

// The sidecar's side of the stream, in memory: sockets, rooms, sessions, acks.
class FakeSidecar {
 public:
  explicit FakeSidecar(Server& server)
      : server_(server),
        link_(std::make_shared<MemoryLink>(
            [this](const pb::BackendMessage& message) { Handle(message); })) {
    serving_ = std::thread([this] {
      absl::Status status = server_.Serve(link_);
      // UNAVAILABLE is the end of the stream when the last client goes.
      if (!status.ok() && !absl::IsUnavailable(status)) {
        std::cerr << "socketio test client: " << status << std::endl;
      }
    });
    // Clients may talk once the server is attached (its Hello welcomed).
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!server_.attached() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  ~FakeSidecar() {
    link_->Close();
    serving_.join();
  }

  struct SocketState {
    std::string nsp;
    ClientState* client = nullptr;
    bool connected = false;
    std::set<std::string> rooms;
    std::string session_json = "{}";
    pb::Handshake handshake;
  };

  std::mutex mutex;
  std::map<std::string, SocketState> sockets;

  std::string NewSid() { return absl::StrCat("test-sid-", next_sid_++); }
  void Push(pb::SidecarMessage message) { link_->Push(std::move(message)); }
  bool WaitHandled() { return link_->WaitHandled(); }

 private:
  std::vector<std::string> Resolve(const std::string& nsp, const pb::Target& target) {
    std::set<std::string> wanted(target.rooms().begin(), target.rooms().end());
    wanted.insert(target.sids().begin(), target.sids().end());
    std::set<std::string> excluded(target.except_rooms().begin(), target.except_rooms().end());
    excluded.insert(target.except_sids().begin(), target.except_sids().end());
    std::vector<std::string> matched;
    for (const auto& [sid, socket] : sockets) {
      if (socket.nsp != nsp || !socket.connected) continue;
      auto in = [&](const std::set<std::string>& rooms) {
        for (const std::string& room : rooms) {
          if (socket.rooms.contains(room)) return true;
        }
        return false;
      };
      if (!wanted.empty() && !in(wanted)) continue;
      if (in(excluded)) continue;
      matched.push_back(sid);
    }
    return matched;
  }

  void Answer(uint64_t request_id, pb::CommandResult result) {
    if (request_id == 0 && result.code() == pb::CODE_OK_UNSPECIFIED) return;
    result.set_request_id(request_id);
    pb::SidecarMessage message;
    *message.mutable_command_result() = std::move(result);
    Push(std::move(message));
  }

  pb::CommandResult Count(size_t sockets) {
    pb::CommandResult result;
    result.set_socket_count(static_cast<uint32_t>(sockets));
    return result;
  }

  pb::CommandResult NotFound(const std::string& sid) {
    pb::CommandResult result;
    result.set_code(pb::CODE_NOT_FOUND);
    result.set_message(absl::StrCat("no socket ", sid));
    return result;
  }

  template <typename Command>
  void ChangeRooms(const Command& command, bool join) {
    std::vector<std::string> targets = Resolve(command.namespace_(), command.target());
    for (const std::string& sid : targets) {
      for (const std::string& room : command.rooms()) {
        if (join) {
          sockets[sid].rooms.insert(room);
        } else {
          sockets[sid].rooms.erase(room);
        }
      }
    }
    Answer(command.request_id(), Count(targets.size()));
  }

  void Handle(const pb::BackendMessage& message) {
    std::lock_guard lock(mutex);
    switch (message.kind_case()) {
      case pb::BackendMessage::kHello: {
        pb::SidecarMessage welcome;
        welcome.mutable_welcome()->set_sidecar_version("test");
        Push(std::move(welcome));
        return;
      }
      case pb::BackendMessage::kConnectDecision: {
        const pb::ConnectDecision& decision = message.connect_decision();
        auto it = sockets.find(decision.sid());
        if (it == sockets.end()) return;
        SocketState& socket = it->second;
        if (decision.accept()) {
          socket.connected = true;
          socket.rooms.insert(decision.sid());
          if (!decision.session_json().empty()) socket.session_json = decision.session_json();
          return;
        }
        Json error = {{"message", decision.error_message().empty() ? "Connection rejected by server"
                                                                   : decision.error_message()}};
        if (!decision.error_data_json().empty()) {
          error["data"] = Json::parse(decision.error_data_json(), nullptr, false);
        }
        socket.client->connect_errors[socket.nsp] = error;
        socket.client->sids.erase(socket.nsp);
        sockets.erase(it);
        return;
      }
      case pb::BackendMessage::kEmit: {
        const pb::Emit& emit = message.emit();
        absl::StatusOr<Args> args = DecodeArgs(emit.args());
        if (!args.ok()) {
          pb::CommandResult result;
          result.set_code(pb::CODE_INVALID_ARGUMENT);
          result.set_message(absl::StrCat("Emit.args.json: ", args.status().message()));
          return Answer(emit.request_id(), std::move(result));
        }
        std::vector<std::string> targets = Resolve(emit.namespace_(), emit.target());
        pb::CommandResult result = Count(targets.size());
        for (const std::string& sid : targets) {
          ClientState& client = *sockets[sid].client;
          client.received[emit.namespace_()].push_back(
              Received{emit.event(), *args, emit.namespace_()});
          if (!emit.want_ack()) continue;
          if (!client.on_call) {
            result.add_ack_timed_out_sids(sid);
            continue;
          }
          pb::SidecarMessage ack;
          ack.mutable_client_ack()->set_request_id(emit.request_id());
          ack.mutable_client_ack()->set_sid(sid);
          *ack.mutable_client_ack()->mutable_args() =
              EncodeArgs(client.on_call(emit.event(), *args));
          Push(std::move(ack));
        }
        return Answer(emit.request_id(), std::move(result));
      }
      case pb::BackendMessage::kAck: {
        const pb::Ack& ack = message.ack();
        auto it = sockets.find(ack.sid());
        if (it == sockets.end()) return;
        absl::StatusOr<Args> args = DecodeArgs(ack.args());
        it->second.client->answers[ack.ack_id()] = args.ok() ? *args : Args{};
        return;
      }
      case pb::BackendMessage::kJoinRooms:
        return ChangeRooms(message.join_rooms(), /*join=*/true);
      case pb::BackendMessage::kLeaveRooms:
        return ChangeRooms(message.leave_rooms(), /*join=*/false);
      case pb::BackendMessage::kDisconnect: {
        const pb::Disconnect& command = message.disconnect();
        std::vector<std::string> targets = Resolve(command.namespace_(), command.target());
        for (const std::string& sid : targets) {
          SocketState& socket = sockets[sid];
          socket.client->sids.erase(socket.nsp);
          pb::SidecarMessage gone;
          gone.mutable_disconnected()->set_sid(sid);
          gone.mutable_disconnected()->set_namespace_(socket.nsp);
          gone.mutable_disconnected()->set_reason("server namespace disconnect");
          gone.mutable_disconnected()->set_session_json(socket.session_json);
          Push(std::move(gone));
          sockets.erase(sid);
        }
        return Answer(command.request_id(), Count(targets.size()));
      }
      case pb::BackendMessage::kCloseRoom: {
        const pb::CloseRoom& command = message.close_room();
        size_t count = 0;
        for (auto& [sid, socket] : sockets) {
          if (socket.nsp == command.namespace_()) count += socket.rooms.erase(command.room());
        }
        return Answer(command.request_id(), Count(count));
      }
      case pb::BackendMessage::kSetSession: {
        const pb::SetSession& command = message.set_session();
        auto it = sockets.find(command.sid());
        if (it == sockets.end()) return Answer(command.request_id(), NotFound(command.sid()));
        it->second.session_json = command.session_json();
        return Answer(command.request_id(), Count(1));
      }
      case pb::BackendMessage::kGetSocket: {
        const pb::GetSocket& command = message.get_socket();
        auto it = sockets.find(command.sid());
        if (it == sockets.end() || it->second.nsp != command.namespace_()) {
          return Answer(command.request_id(), NotFound(command.sid()));
        }
        pb::CommandResult result = Count(1);
        pb::SocketInfo* info = result.mutable_socket();
        info->set_sid(command.sid());
        info->set_namespace_(command.namespace_());
        for (const std::string& room : it->second.rooms) info->add_rooms(room);
        info->set_session_json(it->second.session_json);
        *info->mutable_handshake() = it->second.handshake;
        return Answer(command.request_id(), std::move(result));
      }
      case pb::BackendMessage::KIND_NOT_SET:
        return;
    }
  }

  Server& server_;
  std::shared_ptr<MemoryLink> link_;
  std::thread serving_;
  uint64_t next_sid_ = 1;
};

namespace {

// Clients of one Server share its fake sidecar.
std::mutex registry_mutex;
std::map<Server*, std::weak_ptr<FakeSidecar>> registry;

std::shared_ptr<FakeSidecar> Acquire(Server& server) {
  std::lock_guard lock(registry_mutex);
  if (auto existing = registry[&server].lock()) return existing;
  auto sidecar = std::make_shared<FakeSidecar>(server);
  registry[&server] = sidecar;
  return sidecar;
}

}  // namespace

TestClient::TestClient(Server& server)
    : sidecar_(Acquire(server)), state_(std::make_unique<ClientState>()) {}

TestClient::~TestClient() {
  std::vector<std::string> namespaces;
  {
    std::lock_guard lock(sidecar_->mutex);
    for (const auto& [nsp, sid] : (*state_).sids) namespaces.push_back(nsp);
  }
  for (const std::string& nsp : namespaces) Disconnect(nsp).IgnoreError();
}

absl::Status TestClient::Connect(const std::string& nsp, ConnectOptions options) {
  std::string sid;
  {
    std::lock_guard lock(sidecar_->mutex);
    ClientState& state = *state_;
    if (state.sids.contains(nsp)) return absl::AlreadyExistsError("already connected to " + nsp);
    state.connect_errors.erase(nsp);
    sid = sidecar_->NewSid();
    state.sids[nsp] = sid;
    FakeSidecar::SocketState& socket = sidecar_->sockets[sid];
    socket.nsp = nsp;
    socket.client = &state;
    std::string url = "/socket.io/?EIO=4&transport=polling";
    for (const auto& [key, value] : options.headers) {
      pb::KeyValue* header = socket.handshake.add_headers();
      header->set_key(key);
      header->set_value(value);
    }
    for (const auto& [key, value] : options.query) {
      pb::KeyValue* param = socket.handshake.add_query();
      param->set_key(key);
      param->set_value(value);
      absl::StrAppend(&url, "&", key, "=", value);
    }
    socket.handshake.set_url(url);
    socket.handshake.set_remote_address("127.0.0.1:0");
    socket.handshake.set_transport("polling");
    socket.handshake.set_eio(4);
    pb::SidecarMessage message;
    pb::Connect* connect = message.mutable_connect();
    connect->set_sid(sid);
    connect->set_namespace_(nsp);
    connect->set_auth_json(options.auth.dump());
    *connect->mutable_handshake() = socket.handshake;
    connect->set_engine_sid("test-engine-" + sid);
    sidecar_->Push(std::move(message));
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the connect handler hangs");
  std::lock_guard lock(sidecar_->mutex);
  ClientState& state = *state_;
  if (auto error = state.connect_errors.find(nsp); error != state.connect_errors.end()) {
    return absl::PermissionDeniedError(error->second.value("message", ""));
  }
  auto socket = sidecar_->sockets.find(sid);
  if (socket == sidecar_->sockets.end() || !socket->second.connected) {
    return absl::UnavailableError("the server did not decide on the connection");
  }
  return absl::OkStatus();
}

bool TestClient::IsConnected(const std::string& nsp) const {
  std::lock_guard lock(sidecar_->mutex);
  auto& state = *state_;
  auto it = state.sids.find(nsp);
  if (it == state.sids.end()) return false;
  auto socket = sidecar_->sockets.find(it->second);
  return socket != sidecar_->sockets.end() && socket->second.connected;
}

std::string TestClient::sid(const std::string& nsp) const {
  std::lock_guard lock(sidecar_->mutex);
  auto& state = *state_;
  auto it = state.sids.find(nsp);
  return it == state.sids.end() ? "" : it->second;
}

Json TestClient::connect_error(const std::string& nsp) const {
  std::lock_guard lock(sidecar_->mutex);
  auto& state = *state_;
  auto it = state.connect_errors.find(nsp);
  return it == state.connect_errors.end() ? Json() : it->second;
}

absl::Status TestClient::Emit(std::string_view event, Args args, const std::string& nsp) {
  {
    std::lock_guard lock(sidecar_->mutex);
    auto& state = *state_;
    auto it = state.sids.find(nsp);
    if (it == state.sids.end()) return absl::FailedPreconditionError("not connected to " + nsp);
    pb::SidecarMessage message;
    pb::Event* out = message.mutable_event();
    out->set_sid(it->second);
    out->set_namespace_(nsp);
    out->set_event(std::string(event));
    *out->mutable_args() = EncodeArgs(args);
    out->set_session_json(sidecar_->sockets[it->second].session_json);
    sidecar_->Push(std::move(message));
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the handler hangs");
  return absl::OkStatus();
}

absl::Status TestClient::Send(Json data, const std::string& nsp) {
  return Emit("message", Args{std::move(data)}, nsp);
}

absl::StatusOr<Args> TestClient::Call(std::string_view event, Args args, const std::string& nsp) {
  uint64_t ack_id;
  {
    std::lock_guard lock(sidecar_->mutex);
    auto& state = *state_;
    auto it = state.sids.find(nsp);
    if (it == state.sids.end()) return absl::FailedPreconditionError("not connected to " + nsp);
    ack_id = state.next_ack_id++;
    state.answers[ack_id] = std::nullopt;
    pb::SidecarMessage message;
    pb::Event* out = message.mutable_event();
    out->set_sid(it->second);
    out->set_namespace_(nsp);
    out->set_event(std::string(event));
    *out->mutable_args() = EncodeArgs(args);
    out->set_ack_id(ack_id);
    out->set_session_json(sidecar_->sockets[it->second].session_json);
    sidecar_->Push(std::move(message));
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the handler hangs");
  std::lock_guard lock(sidecar_->mutex);
  auto& answers = (*state_).answers;
  std::optional<Args> answer = std::move(answers[ack_id]);
  answers.erase(ack_id);
  if (!answer)
    return absl::NotFoundError(absl::StrCat("no handler acked \"", std::string(event), "\""));
  return *std::move(answer);
}

std::vector<Received> TestClient::GetReceived(const std::string& nsp) {
  std::lock_guard lock(sidecar_->mutex);
  return std::exchange((*state_).received[nsp], {});
}

absl::Status TestClient::Disconnect(const std::string& nsp) {
  {
    std::lock_guard lock(sidecar_->mutex);
    auto& state = *state_;
    auto it = state.sids.find(nsp);
    if (it == state.sids.end()) return absl::FailedPreconditionError("not connected to " + nsp);
    std::string sid = it->second;
    state.sids.erase(it);
    auto socket = sidecar_->sockets.find(sid);
    pb::SidecarMessage message;
    message.mutable_disconnected()->set_sid(sid);
    message.mutable_disconnected()->set_namespace_(nsp);
    message.mutable_disconnected()->set_reason("client namespace disconnect");
    if (socket != sidecar_->sockets.end()) {
      message.mutable_disconnected()->set_session_json(socket->second.session_json);
      sidecar_->sockets.erase(socket);
    }
    sidecar_->Push(std::move(message));
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the disconnect handler hangs");
  return absl::OkStatus();
}

void TestClient::OnCall(std::function<Args(const std::string&, const Args&)> answer) {
  std::lock_guard lock(sidecar_->mutex);
  (*state_).on_call = std::move(answer);
}

}  // namespace socketio::testing
