#include "socketio/testing/test_client.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"

namespace socketio::testing {
namespace {

namespace pb = ::socketio::sidecar::v1;

// How long a test client waits for the server's handlers.
constexpr std::chrono::seconds kWait{10};
// The sidecar's limit on SetSession.session_json.
constexpr size_t kMaxSessionBytes = 64 * 1024;

// Events socket.io-client refuses to emit.
const std::set<std::string, std::less<>> kReservedEvents = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};

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
    if (closed_) return false;
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
    if (closed_) return;
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

void AddKeyValue(google::protobuf::RepeatedPtrField<pb::KeyValue>* list, const std::string& key,
                 const std::string& value) {
  pb::KeyValue* entry = list->Add();
  entry->set_key(key);
  entry->set_value(value);
}

}  // namespace

// A socket whose transport dropped, kept for a recovery.
struct DroppedSocket {
  std::string sid;
  std::set<std::string> rooms;
  std::string session_json;
};

// What one test client has and has received, per namespace.
struct ClientState {
  std::string engine_sid;
  std::map<std::string, std::string> sids;
  std::map<std::string, DroppedSocket> dropped;
  std::map<std::string, std::vector<Received>> received;
  std::map<std::string, Json> connect_errors;
  std::map<uint64_t, std::optional<Args>> answers;  // ack id -> the server's ack
  uint64_t next_ack_id = 1;
  std::function<Args(const std::string&, const Args&)> on_call;
};

// The sidecar's side of the stream, in memory, following the proto's rules:
// declared namespaces and events, sockets, rooms, sessions, acks both ways,
// connect decisions.
class FakeSidecar {
 public:
  struct SocketState {
    std::string nsp;
    ClientState* client = nullptr;
    bool connected = false;
    std::set<std::string> rooms;
    std::string session_json = "{}";
    pb::Handshake handshake;
  };

  FakeSidecar(Server& server, bool always_connect)
      : always_connect_(always_connect),
        link_(std::make_shared<MemoryLink>(
            [this](const pb::BackendMessage& message) { Handle(message); })) {
    serving_ = std::thread([this, served = &server] {
      absl::Status status = served->Serve(link_);
      // UNAVAILABLE is the end of the stream when the last client goes.
      if (!status.ok() && !absl::IsUnavailable(status)) {
        std::cerr << "socketio test client: " << status << std::endl;
      }
      served_ = true;
    });
    // Clients may talk once the server is attached (its Hello welcomed).
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!server.attached() && !served_ && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  ~FakeSidecar() {
    link_->Close();
    serving_.join();
  }

  std::mutex mutex;
  std::map<std::string, SocketState> sockets;

  bool always_connect() const { return always_connect_; }
  std::string NewId() { return std::to_string(next_id_++); }
  void Push(pb::SidecarMessage message) { link_->Push(std::move(message)); }
  bool WaitHandled() { return link_->WaitHandled(); }

  // Whether the server declared the namespace, and the event in it.
  bool Declared(const std::string& nsp) const { return declared_.contains(nsp); }
  bool Handles(const std::string& nsp, const std::string& event) const {
    auto it = declared_.find(nsp);
    return it != declared_.end() && (it->second.empty() || it->second.contains(event));
  }

  // Takes a socket out of its namespace and tells the server why.
  void Remove(const std::string& sid, const std::string& reason) {
    auto it = sockets.find(sid);
    if (it == sockets.end()) return;
    SocketState& socket = it->second;
    socket.client->sids.erase(socket.nsp);
    pb::SidecarMessage gone;
    gone.mutable_disconnected()->set_sid(sid);
    gone.mutable_disconnected()->set_namespace_(socket.nsp);
    gone.mutable_disconnected()->set_reason(reason);
    gone.mutable_disconnected()->set_session_json(socket.session_json);
    sockets.erase(it);
    Push(std::move(gone));
  }

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

  // Every command with a request id is answered; one without only if it failed.
  void Answer(uint64_t request_id, pb::CommandResult result) {
    if (request_id == 0 && result.code() == pb::CODE_OK_UNSPECIFIED) return;
    result.set_request_id(request_id);
    pb::SidecarMessage message;
    *message.mutable_command_result() = std::move(result);
    Push(std::move(message));
  }

  static pb::CommandResult Count(size_t sockets) {
    pb::CommandResult result;
    result.set_socket_count(static_cast<uint32_t>(sockets));
    return result;
  }

  static pb::CommandResult Failure(pb::Code code, std::string message) {
    pb::CommandResult result;
    result.set_code(code);
    result.set_message(std::move(message));
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

  void Greet(const pb::Hello& hello) {
    for (const pb::NamespaceHandlers& handlers : hello.namespaces()) {
      std::set<std::string>& events = declared_[handlers.namespace_()];
      bool all = handlers.events().empty();
      for (const std::string& event : handlers.events()) {
        if (event == "*") all = true;
        events.insert(event);
      }
      if (all) events.clear();
    }
    pb::SidecarMessage welcome;
    welcome.mutable_welcome()->set_sidecar_version("test");
    welcome.mutable_welcome()->set_always_connect(always_connect_);
    Push(std::move(welcome));
  }

  void Decide(const pb::ConnectDecision& decision) {
    auto it = sockets.find(decision.sid());
    if (it == sockets.end()) return;
    SocketState& socket = it->second;
    if (!decision.accept()) {
      if (socket.connected) return Remove(decision.sid(), "server namespace disconnect");
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
    socket.connected = true;
    socket.rooms.insert(decision.sid());
    if (!decision.session_json().empty()) socket.session_json = decision.session_json();
  }

  void Emit(const pb::Emit& emit) {
    absl::StatusOr<Args> args = DecodeArgs(emit.args());
    if (!args.ok()) {
      return Answer(emit.request_id(),
                    Failure(pb::CODE_INVALID_ARGUMENT,
                            absl::StrCat("Emit.args.json: ", args.status().message())));
    }
    if (emit.want_ack() && emit.request_id() == 0) {
      return Answer(0, Failure(pb::CODE_INVALID_ARGUMENT, "Emit.want_ack needs a request_id"));
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
      *ack.mutable_client_ack()->mutable_args() = EncodeArgs(client.on_call(emit.event(), *args));
      Push(std::move(ack));
    }
    Answer(emit.request_id(), std::move(result));
  }

  void Handle(const pb::BackendMessage& message) {
    std::lock_guard lock(mutex);
    switch (message.kind_case()) {
      case pb::BackendMessage::kHello:
        return Greet(message.hello());
      case pb::BackendMessage::kConnectDecision:
        return Decide(message.connect_decision());
      case pb::BackendMessage::kEmit:
        return Emit(message.emit());
      case pb::BackendMessage::kAck: {
        const pb::Ack& ack = message.ack();
        auto it = sockets.find(ack.sid());
        if (it == sockets.end()) return;
        absl::StatusOr<Args> args = DecodeArgs(ack.args());
        if (!args.ok()) {
          return Answer(0, Failure(pb::CODE_INVALID_ARGUMENT,
                                   absl::StrCat("Ack.args.json: ", args.status().message())));
        }
        it->second.client->answers[ack.ack_id()] = *std::move(args);
        return;
      }
      case pb::BackendMessage::kJoinRooms:
        return ChangeRooms(message.join_rooms(), /*join=*/true);
      case pb::BackendMessage::kLeaveRooms:
        return ChangeRooms(message.leave_rooms(), /*join=*/false);
      case pb::BackendMessage::kDisconnect: {
        const pb::Disconnect& command = message.disconnect();
        std::vector<std::string> targets = Resolve(command.namespace_(), command.target());
        for (const std::string& sid : targets) Remove(sid, "server namespace disconnect");
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
        if (command.session_json().size() > kMaxSessionBytes) {
          return Answer(command.request_id(),
                        Failure(pb::CODE_RESOURCE_EXHAUSTED,
                                absl::StrCat("SetSession.session_json is larger than ",
                                             kMaxSessionBytes, " bytes")));
        }
        auto it = sockets.find(command.sid());
        if (it == sockets.end() || it->second.nsp != command.namespace_()) {
          return Answer(command.request_id(),
                        Failure(pb::CODE_NOT_FOUND, absl::StrCat("no socket ", command.sid())));
        }
        it->second.session_json = command.session_json();
        return Answer(command.request_id(), Count(1));
      }
      case pb::BackendMessage::kGetSocket: {
        const pb::GetSocket& command = message.get_socket();
        auto it = sockets.find(command.sid());
        if (it == sockets.end() || it->second.nsp != command.namespace_()) {
          return Answer(command.request_id(),
                        Failure(pb::CODE_NOT_FOUND, absl::StrCat("no socket ", command.sid())));
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
      case pb::BackendMessage::kBatch:
        // Like a sidecar before batching: its Welcome does not offer them.
        return Answer(0, Failure(pb::CODE_INVALID_ARGUMENT, "batches were not offered"));
      case pb::BackendMessage::KIND_NOT_SET:
        return Answer(0, Failure(pb::CODE_INVALID_ARGUMENT, "empty BackendMessage"));
    }
  }

  const bool always_connect_;
  std::shared_ptr<MemoryLink> link_;
  std::thread serving_;
  std::atomic<bool> served_{false};
  // Namespace -> declared events (empty: all events); written by Greet only.
  std::map<std::string, std::set<std::string>> declared_;
  uint64_t next_id_ = 1;
};

namespace {

// Clients of one Server share its fake sidecar.
std::mutex registry_mutex;
std::map<Server*, std::weak_ptr<FakeSidecar>> registry;

std::shared_ptr<FakeSidecar> Acquire(Server& server, bool always_connect) {
  std::lock_guard lock(registry_mutex);
  if (auto existing = registry[&server].lock()) return existing;
  auto sidecar = std::make_shared<FakeSidecar>(server, always_connect);
  registry[&server] = sidecar;
  return sidecar;
}

}  // namespace

TestClient::TestClient(Server& server, TestClientOptions options)
    : sidecar_(Acquire(server, options.always_connect)), state_(std::make_unique<ClientState>()) {
  std::lock_guard lock(sidecar_->mutex);
  state_->engine_sid = "test-engine-" + sidecar_->NewId();
}

TestClient::~TestClient() {
  std::vector<std::string> namespaces;
  {
    std::lock_guard lock(sidecar_->mutex);
    for (const auto& [nsp, sid] : state_->sids) namespaces.push_back(nsp);
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
    if (!sidecar_->Declared(nsp)) {
      state.connect_errors[nsp] = {{"message", "Invalid namespace"}};
      return absl::PermissionDeniedError("Invalid namespace");
    }
    std::optional<DroppedSocket> dropped;
    if (auto it = state.dropped.find(nsp); options.recover && it != state.dropped.end()) {
      dropped = std::move(it->second);
      state.dropped.erase(it);
    }
    sid = dropped ? dropped->sid : "test-sid-" + sidecar_->NewId();
    state.sids[nsp] = sid;
    FakeSidecar::SocketState& socket = sidecar_->sockets[sid];
    socket.nsp = nsp;
    socket.client = &state;
    if (sidecar_->always_connect() || dropped) {
      socket.connected = true;
      socket.rooms.insert(sid);
    }
    if (dropped) {
      socket.rooms.insert(dropped->rooms.begin(), dropped->rooms.end());
      socket.session_json = dropped->session_json;
    }
    std::string url = "/socket.io/?EIO=4&transport=polling";
    for (const auto& [key, value] : options.headers) {
      AddKeyValue(socket.handshake.mutable_headers(), key, value);
    }
    for (const auto& [key, value] : options.query) {
      AddKeyValue(socket.handshake.mutable_query(), key, value);
      absl::StrAppend(&url, "&", key, "=", value);
    }
    socket.handshake.set_url(url);
    socket.handshake.set_remote_address("127.0.0.1:49152");
    socket.handshake.set_transport("polling");
    socket.handshake.set_eio(4);
    socket.handshake.set_issued_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    pb::SidecarMessage message;
    pb::Connect* connect = message.mutable_connect();
    connect->set_sid(sid);
    connect->set_namespace_(nsp);
    connect->set_auth_json(options.auth.dump());
    *connect->mutable_handshake() = socket.handshake;
    connect->set_engine_sid(state.engine_sid);
    if (dropped) {
      connect->set_recovered(true);
      connect->set_session_json(socket.session_json);
    }
    sidecar_->Push(std::move(message));
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the connect handler hangs");
  std::lock_guard lock(sidecar_->mutex);
  ClientState& state = *state_;
  if (auto error = state.connect_errors.find(nsp); error != state.connect_errors.end()) {
    return absl::PermissionDeniedError(error->second.value("message", ""));
  }
  auto socket = sidecar_->sockets.find(sid);
  if (socket == sidecar_->sockets.end()) {
    return absl::OkStatus();  // always_connect: accepted, then disconnected by the refusal
  }
  if (!socket->second.connected) {
    return absl::UnavailableError("the server did not decide on the connection");
  }
  return absl::OkStatus();
}

bool TestClient::IsConnected(const std::string& nsp) const {
  std::lock_guard lock(sidecar_->mutex);
  auto it = state_->sids.find(nsp);
  if (it == state_->sids.end()) return false;
  auto socket = sidecar_->sockets.find(it->second);
  return socket != sidecar_->sockets.end() && socket->second.connected;
}

std::string TestClient::sid(const std::string& nsp) const {
  std::lock_guard lock(sidecar_->mutex);
  auto it = state_->sids.find(nsp);
  return it == state_->sids.end() ? "" : it->second;
}

Json TestClient::connect_error(const std::string& nsp) const {
  std::lock_guard lock(sidecar_->mutex);
  auto it = state_->connect_errors.find(nsp);
  return it == state_->connect_errors.end() ? Json() : it->second;
}

absl::StatusOr<std::optional<Args>> TestClient::SendEvent(std::string_view event, Args args,
                                                          const std::string& nsp, bool want_ack) {
  uint64_t ack_id = 0;
  {
    std::lock_guard lock(sidecar_->mutex);
    if (kReservedEvents.contains(event)) {
      return absl::InvalidArgumentError(absl::StrCat("\"", std::string(event), "\" is reserved"));
    }
    auto it = state_->sids.find(nsp);
    auto socket =
        it == state_->sids.end() ? sidecar_->sockets.end() : sidecar_->sockets.find(it->second);
    if (socket == sidecar_->sockets.end() || !socket->second.connected) {
      return absl::FailedPreconditionError("not connected to " + nsp);
    }
    // The sidecar drops events no backend declared, and never acks them.
    if (!sidecar_->Handles(nsp, std::string(event))) return std::optional<Args>();
    pb::SidecarMessage message;
    pb::Event* out = message.mutable_event();
    out->set_sid(socket->first);
    out->set_namespace_(nsp);
    out->set_event(std::string(event));
    *out->mutable_args() = EncodeArgs(args);
    out->set_session_json(socket->second.session_json);
    if (want_ack) {
      ack_id = state_->next_ack_id++;
      state_->answers[ack_id] = std::nullopt;
      out->set_ack_id(ack_id);
    }
    sidecar_->Push(std::move(message));
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the handler hangs");
  if (!want_ack) return std::optional<Args>();
  std::lock_guard lock(sidecar_->mutex);
  auto answer = state_->answers.extract(ack_id);
  return answer.empty() ? std::nullopt : std::move(answer.mapped());
}

absl::Status TestClient::Emit(std::string_view event, Args args, const std::string& nsp) {
  return SendEvent(event, std::move(args), nsp, /*want_ack=*/false).status();
}

absl::Status TestClient::Send(Json data, const std::string& nsp) {
  return Emit("message", Args{std::move(data)}, nsp);
}

absl::StatusOr<Args> TestClient::Call(std::string_view event, Args args, const std::string& nsp) {
  absl::StatusOr<std::optional<Args>> answer =
      SendEvent(event, std::move(args), nsp, /*want_ack=*/true);
  if (!answer.ok()) return answer.status();
  if (!answer->has_value()) {
    return absl::NotFoundError(absl::StrCat("no ack for \"", std::string(event), "\""));
  }
  return **std::move(answer);
}

std::vector<Received> TestClient::GetReceived(const std::string& nsp) {
  std::lock_guard lock(sidecar_->mutex);
  return std::exchange(state_->received[nsp], {});
}

absl::Status TestClient::Disconnect(const std::string& nsp) {
  {
    std::lock_guard lock(sidecar_->mutex);
    auto it = state_->sids.find(nsp);
    if (it == state_->sids.end()) return absl::FailedPreconditionError("not connected to " + nsp);
    sidecar_->Remove(it->second, "client namespace disconnect");
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the disconnect handler hangs");
  return absl::OkStatus();
}

absl::Status TestClient::DropTransport(const std::string& nsp) {
  {
    std::lock_guard lock(sidecar_->mutex);
    auto it = state_->sids.find(nsp);
    if (it == state_->sids.end()) return absl::FailedPreconditionError("not connected to " + nsp);
    const FakeSidecar::SocketState& socket = sidecar_->sockets.at(it->second);
    state_->dropped[nsp] = DroppedSocket{it->second, socket.rooms, socket.session_json};
    sidecar_->Remove(it->second, "transport close");
  }
  if (!sidecar_->WaitHandled()) return absl::DeadlineExceededError("the disconnect handler hangs");
  return absl::OkStatus();
}

void TestClient::OnCall(std::function<Args(const std::string&, const Args&)> answer) {
  std::lock_guard lock(sidecar_->mutex);
  state_->on_call = std::move(answer);
}

}  // namespace socketio::testing
