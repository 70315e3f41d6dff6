#include "sidecar/socketio/hub.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/runtime/log.h"
#include "sidecar/socketio/packet.h"

namespace sidecar::socketio {
namespace {

using runtime::Log;
using runtime::LogLevel;

// Events a client may not emit: the server side gives them their own meaning.
bool IsReservedEvent(std::string_view name) {
  return name == "connect" || name == "connect_error" || name == "disconnect" ||
         name == "disconnecting" || name == "newListener" || name == "removeListener";
}

std::string JsonString(std::string_view text) {
  return nlohmann::json(std::string(text))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

// One namespace of one client connection.
struct Socket {
  std::string sid;
  std::string nsp;
  Client* client = nullptr;
  bool connected = false;
  std::string session_json = "{}";
  std::shared_ptr<BackendLink> backend;
  absl::flat_hash_map<uint64_t, std::shared_ptr<CommandCollector>> pending_acks;
  uint64_t next_ack_id = 0;
  std::unique_ptr<boost::asio::steady_timer> decision_timer;
};

// The Socket.IO side of one Engine.IO session: its namespaces and the binary
// packet being reassembled. Owned by the session.
class Client : public engineio::SessionHandler {
 public:
  Client(Hub& hub, engineio::Session& session, std::shared_ptr<const pb::Handshake> handshake)
      : hub_(hub), session_(session), handshake_(std::move(handshake)), connect_timer_(hub.io_) {
    connect_timer_.expires_after(hub.config_.connect_timeout);
    connect_timer_.async_wait([weak = session.weak_from_this()](boost::system::error_code error) {
      auto session = weak.lock();
      if (!session || error) return;
      Log(LogLevel::kDebug, "session ", session->sid(), ": no namespace connected in time");
      session->Close("connect timeout");
    });
  }

  void OnMessage(engineio::Packet packet) override {
    if (packet.binary) {
      if (!partial_) return Fail("binary message without a packet announcing it");
      attachments_.push_back(std::move(packet.data));
      if (attachments_.size() == partial_->attachments) {
        Packet complete = *std::move(partial_);
        partial_.reset();
        Dispatch(std::move(complete), std::exchange(attachments_, {}));
      }
      return;
    }
    if (partial_) return Fail("text packet while binary attachments were expected");
    absl::StatusOr<Packet> decoded = DecodePacket(packet.data);
    if (!decoded.ok()) return Fail(runtime::ToStd(decoded.status().message()));
    if (decoded->attachments > 0) {
      partial_ = *std::move(decoded);
      return;
    }
    Dispatch(*std::move(decoded), {});
  }

  void OnClose(std::string_view reason) override {
    connect_timer_.cancel();
    while (!sockets_.empty()) hub_.Remove(*sockets_.begin()->second, reason, false);
  }

  // Sends a packet and its attachments; false if the session dropped it.
  bool Send(const engineio::Frame& frame,
            const std::vector<std::shared_ptr<const std::string>>& attachments,
            bool is_volatile = false) {
    if (!session_.Send(frame, is_volatile)) return false;
    for (const auto& attachment : attachments) session_.Send({attachment, true});
    return true;
  }

  void Send(const Packet& packet,
            const std::vector<std::shared_ptr<const std::string>>& attachments = {}) {
    Send(
        engineio::Frame{
            std::make_shared<const std::string>(absl::StrCat("4", EncodePacket(packet))), false},
        attachments);
  }

  engineio::Session& session() { return session_; }
  const std::shared_ptr<const pb::Handshake>& handshake() const { return handshake_; }

  runtime::StringMap<std::unique_ptr<Socket>> sockets_;  // by namespace

 private:
  void Fail(std::string_view why) {
    Log(LogLevel::kDebug, "session ", session_.sid(), ": ", why, "; closing");
    session_.Close("parse error");
  }

  Socket* Connected(const std::string& nsp) {
    auto it = sockets_.find(nsp);
    return it != sockets_.end() && it->second->connected ? it->second.get() : nullptr;
  }

  void Dispatch(Packet packet, std::vector<std::string> attachments) {
    switch (packet.type) {
      case PacketType::kConnect:
        connect_timer_.cancel();
        if (sockets_.contains(packet.nsp)) return;
        hub_.Connect(*this, packet.nsp, packet.data.empty() ? "{}" : std::move(packet.data));
        return;
      case PacketType::kDisconnect:
        if (auto it = sockets_.find(packet.nsp); it != sockets_.end()) {
          hub_.Remove(*it->second, "client namespace disconnect", false);
        }
        return;
      case PacketType::kEvent:
      case PacketType::kBinaryEvent:
        if (Socket* socket = Connected(packet.nsp)) {
          hub_.OnEvent(*socket, std::move(packet.data), packet.id, std::move(attachments));
        }
        return;
      case PacketType::kAck:
      case PacketType::kBinaryAck:
        if (Socket* socket = Connected(packet.nsp)) {
          hub_.OnClientAck(*socket, *packet.id, std::move(packet.data), std::move(attachments));
        }
        return;
      case PacketType::kConnectError:
        return;
    }
  }

  Hub& hub_;
  engineio::Session& session_;
  std::shared_ptr<const pb::Handshake> handshake_;
  boost::asio::steady_timer connect_timer_;
  std::optional<Packet> partial_;
  std::vector<std::string> attachments_;
};

// --- CommandCollector --------------------------------------------------------

CommandCollector::CommandCollector(std::shared_ptr<BackendLink> reply_to, uint64_t request_id,
                                   size_t shards)
    : reply_to_(std::move(reply_to)), request_id_(request_id), shards_left_(shards) {
  result_.set_request_id(request_id);
}

void CommandCollector::AddSockets(size_t count) {
  std::lock_guard lock(mutex_);
  result_.set_socket_count(result_.socket_count() + count);
}

void CommandCollector::ExpectAck(const std::string& sid) {
  std::lock_guard lock(mutex_);
  awaiting_acks_.insert(sid);
}

void CommandCollector::AckReceived(const std::string& sid, pb::Payload args) {
  std::unique_lock lock(mutex_);
  if (finished_ || awaiting_acks_.erase(sid) == 0) return;
  // Sent under the lock so the ClientAck always precedes the CommandResult.
  pb::SidecarMessage message;
  auto* ack = message.mutable_client_ack();
  ack->set_request_id(request_id_);
  ack->set_sid(sid);
  *ack->mutable_args() = std::move(args);
  reply_to_->Send(std::move(message));
  MaybeFinishLocked(lock);
}

void CommandCollector::AckTimedOut(const std::string& sid) {
  std::unique_lock lock(mutex_);
  if (finished_ || awaiting_acks_.erase(sid) == 0) return;
  result_.add_ack_timed_out_sids(sid);
  MaybeFinishLocked(lock);
}

void CommandCollector::SetSocket(pb::SocketInfo info) {
  std::lock_guard lock(mutex_);
  *result_.mutable_socket() = std::move(info);
}

void CommandCollector::Fail(pb::Code code, std::string message) {
  std::lock_guard lock(mutex_);
  result_.set_code(code);
  result_.set_message(std::move(message));
}

void CommandCollector::ShardDone() {
  std::unique_lock lock(mutex_);
  if (shards_left_ > 0) --shards_left_;
  MaybeFinishLocked(lock);
}

void CommandCollector::MaybeFinishLocked(std::unique_lock<std::mutex>& lock) {
  if (finished_ || shards_left_ > 0 || !awaiting_acks_.empty()) return;
  finished_ = true;
  if (request_id_ == 0 && result_.code() == pb::CODE_OK_UNSPECIFIED) return;
  pb::SidecarMessage message;
  *message.mutable_command_result() = std::move(result_);
  lock.unlock();
  if (reply_to_) reply_to_->Send(std::move(message));
}

// --- Hub ---------------------------------------------------------------------

Hub::Hub(boost::asio::io_context& io, HubConfig config, const BackendDirectory& backends)
    : io_(io), config_(config), backends_(backends) {}

Hub::~Hub() = default;

std::unique_ptr<engineio::SessionHandler> Hub::NewClient(
    std::shared_ptr<engineio::Session> session, std::shared_ptr<const pb::Handshake> handshake) {
  return std::make_unique<Client>(*this, *session, std::move(handshake));
}

Socket* Hub::Find(std::string_view sid, std::string_view nsp) const {
  auto it = sockets_.find(sid);
  if (it == sockets_.end() || it->second->nsp != nsp) return nullptr;
  return it->second;
}

std::vector<Socket*> Hub::Resolve(std::string_view nsp, const pb::Target& target) const {
  std::vector<Socket*> sockets;
  auto index = rooms_.find(nsp);
  if (index == rooms_.end()) return sockets;
  // A socket's sid is a room too, so sids are looked up as rooms.
  std::vector<std::string_view> rooms(target.rooms().begin(), target.rooms().end());
  rooms.insert(rooms.end(), target.sids().begin(), target.sids().end());
  std::vector<std::string_view> except(target.except_rooms().begin(), target.except_rooms().end());
  except.insert(except.end(), target.except_sids().begin(), target.except_sids().end());
  index->second.ForEach(rooms, except, [&](Socket* socket) { sockets.push_back(socket); });
  return sockets;
}

void Hub::Connect(Client& client, std::string nsp, std::string auth_json) {
  std::string sid = runtime::NewId(config_.shard);
  std::shared_ptr<BackendLink> backend = backends_.Pick(nsp, sid);
  if (!backend) {
    client.Send(Packet{PacketType::kConnectError, nsp, std::nullopt, 0,
                       R"({"message":"Invalid namespace"})"});
    return;
  }
  auto owned = std::make_unique<Socket>();
  Socket& socket = *owned;
  socket.sid = sid;
  socket.nsp = nsp;
  socket.client = &client;
  socket.backend = backend;
  client.sockets_[nsp] = std::move(owned);
  sockets_[sid] = &socket;

  pb::SidecarMessage message;
  auto* connect = message.mutable_connect();
  connect->set_sid(sid);
  connect->set_namespace_(nsp);
  connect->set_auth_json(std::move(auth_json));
  *connect->mutable_handshake() = *client.handshake();
  connect->set_engine_sid(client.session().sid());

  if (config_.always_connect) {
    Accept(socket);
    backend->Send(std::move(message));
    return;
  }
  backend->Send(std::move(message));
  socket.decision_timer = std::make_unique<boost::asio::steady_timer>(io_);
  socket.decision_timer->expires_after(config_.connect_decision_timeout);
  socket.decision_timer->async_wait([this, sid, nsp](boost::system::error_code error) {
    if (error) return;
    Socket* socket = Find(sid, nsp);
    if (socket == nullptr || socket->connected) return;
    Log(LogLevel::kWarning, "backend did not decide on connection ", sid, " to ", nsp, " in time");
    Reject(*socket, "Connection rejected by server", R"({"reason":"backend timeout"})");
  });
}

void Hub::Accept(Socket& socket) {
  socket.connected = true;
  if (socket.decision_timer) socket.decision_timer->cancel();
  Index& index = rooms_[socket.nsp];
  index.Add(&socket);
  index.Join(&socket, socket.sid);
  socket.client->Send(Packet{PacketType::kConnect, socket.nsp, std::nullopt, 0,
                             absl::StrCat(R"({"sid":")", socket.sid, R"("})")});
}

void Hub::Reject(Socket& socket, std::string_view message, std::string_view data_json) {
  std::string payload = absl::StrCat(R"({"message":)", JsonString(message));
  if (!data_json.empty()) absl::StrAppend(&payload, R"(,"data":)", runtime::ToAbsl(data_json));
  payload.push_back('}');
  Client& client = *socket.client;
  std::string nsp = socket.nsp;
  client.Send(Packet{PacketType::kConnectError, nsp, std::nullopt, 0, std::move(payload)});
  sockets_.erase(socket.sid);
  client.sockets_.erase(nsp);
}

void Hub::Remove(Socket& socket, std::string_view reason, bool tell_client) {
  if (tell_client && socket.connected) {
    socket.client->Send(Packet{PacketType::kDisconnect, socket.nsp, std::nullopt, 0, ""});
  }
  for (auto& [id, collector] : socket.pending_acks) collector->AckTimedOut(socket.sid);
  if (socket.decision_timer) socket.decision_timer->cancel();
  if (socket.connected) {
    if (auto index = rooms_.find(socket.nsp); index != rooms_.end()) {
      index->second.Remove(&socket);
      if (index->second.member_count() == 0) rooms_.erase(index);
    }
  }
  if (socket.backend && socket.backend->alive()) {
    pb::SidecarMessage message;
    auto* disconnected = message.mutable_disconnected();
    disconnected->set_sid(socket.sid);
    disconnected->set_namespace_(socket.nsp);
    disconnected->set_reason(std::string(reason));
    disconnected->set_session_json(socket.session_json);
    socket.backend->Send(std::move(message));
  }
  sockets_.erase(socket.sid);
  Client& client = *socket.client;
  client.sockets_.erase(std::string(socket.nsp));  // destroys the socket
}

void Hub::OnEvent(Socket& socket, std::string data, std::optional<uint64_t> id,
                  std::vector<std::string> attachments) {
  absl::StatusOr<EventParts> parts = SplitEvent(data);
  if (!parts.ok()) return;
  if (IsReservedEvent(parts->name)) {
    Log(LogLevel::kDebug, "socket ", socket.sid, " emitted reserved event ", parts->name,
        "; dropped");
    return;
  }
  if (!socket.backend || !socket.backend->alive())
    socket.backend = backends_.Pick(socket.nsp, socket.sid);
  if (!socket.backend) {
    Log(LogLevel::kWarning, "no backend for ", socket.nsp, "; event ", parts->name, " dropped");
    return;
  }
  if (!socket.backend->HandlesEvent(socket.nsp, parts->name)) return;
  pb::SidecarMessage message;
  auto* event = message.mutable_event();
  event->set_sid(socket.sid);
  event->set_namespace_(socket.nsp);
  event->set_event(std::move(parts->name));
  event->mutable_args()->set_json(std::move(parts->args));
  for (std::string& attachment : attachments)
    event->mutable_args()->add_binary(std::move(attachment));
  if (id.has_value()) event->set_ack_id(*id);
  event->set_session_json(socket.session_json);
  socket.backend->Send(std::move(message));
}

void Hub::OnClientAck(Socket& socket, uint64_t id, std::string data,
                      std::vector<std::string> attachments) {
  auto it = socket.pending_acks.find(id);
  if (it == socket.pending_acks.end()) return;
  std::shared_ptr<CommandCollector> collector = std::move(it->second);
  socket.pending_acks.erase(it);
  pb::Payload args;
  args.set_json(std::move(data));
  for (std::string& attachment : attachments) args.add_binary(std::move(attachment));
  collector->AckReceived(socket.sid, std::move(args));
}

void Hub::Decide(const pb::ConnectDecision& decision) {
  Socket* socket = Find(decision.sid(), decision.namespace_());
  if (socket == nullptr) return;
  if (socket->connected) {
    // always_connect: the connection was accepted before the backend decided.
    if (!decision.accept()) {
      Remove(*socket, "server namespace disconnect", true);
    } else if (!decision.session_json().empty()) {
      socket->session_json = decision.session_json();
    }
    return;
  }
  if (!decision.accept()) {
    Reject(*socket,
           decision.error_message().empty() ? "Connection rejected by server"
                                            : decision.error_message(),
           decision.error_data_json());
    return;
  }
  if (!decision.session_json().empty()) socket->session_json = decision.session_json();
  Accept(*socket);
}

void Hub::Emit(const EmitPlan& plan, const std::shared_ptr<CommandCollector>& collector) {
  std::vector<Socket*> sockets = Resolve(plan.nsp, plan.target);
  collector->AddSockets(sockets.size());
  if (!plan.want_ack) {
    for (Socket* socket : sockets)
      socket->client->Send(plan.frame, plan.attachments, plan.is_volatile);
    return;
  }
  auto expected = std::make_shared<std::vector<std::pair<std::string, uint64_t>>>();
  for (Socket* socket : sockets) {
    uint64_t id = socket->next_ack_id++;
    Packet packet{plan.attachments.empty() ? PacketType::kEvent : PacketType::kBinaryEvent,
                  plan.nsp, id, plan.attachments.size(), plan.data};
    socket->pending_acks[id] = collector;
    collector->ExpectAck(socket->sid);
    expected->emplace_back(socket->sid, id);
    socket->client->Send(
        engineio::Frame{
            std::make_shared<const std::string>(absl::StrCat("4", EncodePacket(packet))), false},
        plan.attachments, plan.is_volatile);
  }
  if (expected->empty()) return;
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, plan.ack_timeout);
  timer->async_wait([this, timer, expected, nsp = plan.nsp](boost::system::error_code error) {
    if (error) return;
    for (const auto& [sid, id] : *expected) {
      Socket* socket = Find(sid, nsp);
      if (socket == nullptr) continue;
      auto it = socket->pending_acks.find(id);
      if (it == socket->pending_acks.end()) continue;
      std::shared_ptr<CommandCollector> owner = std::move(it->second);
      socket->pending_acks.erase(it);
      owner->AckTimedOut(sid);
    }
  });
}

void Hub::Ack(const pb::Ack& ack) {
  Socket* socket = Find(ack.sid(), ack.namespace_());
  if (socket == nullptr || !socket->connected) return;
  std::vector<std::shared_ptr<const std::string>> attachments;
  for (const std::string& binary : ack.args().binary()) {
    attachments.push_back(std::make_shared<const std::string>(binary));
  }
  Packet packet{attachments.empty() ? PacketType::kAck : PacketType::kBinaryAck, socket->nsp,
                ack.ack_id(), attachments.size(),
                ack.args().json().empty() ? "[]" : ack.args().json()};
  socket->client->Send(packet, attachments);
}

template <typename Command>
void Hub::ChangeRooms(const Command& command, bool join,
                      const std::shared_ptr<CommandCollector>& collector) {
  std::vector<Socket*> sockets = Resolve(command.namespace_(), command.target());
  collector->AddSockets(sockets.size());
  if (sockets.empty()) return;
  Index& index = rooms_[command.namespace_()];
  for (Socket* socket : sockets) {
    for (const std::string& room : command.rooms()) {
      join ? index.Join(socket, room) : index.Leave(socket, room);
    }
  }
}

void Hub::JoinRooms(const pb::JoinRooms& command,
                    const std::shared_ptr<CommandCollector>& collector) {
  ChangeRooms(command, /*join=*/true, collector);
}

void Hub::LeaveRooms(const pb::LeaveRooms& command,
                     const std::shared_ptr<CommandCollector>& collector) {
  ChangeRooms(command, /*join=*/false, collector);
}

void Hub::Disconnect(const pb::Disconnect& command,
                     const std::shared_ptr<CommandCollector>& collector) {
  std::vector<Socket*> sockets = Resolve(command.namespace_(), command.target());
  collector->AddSockets(sockets.size());
  for (Socket* socket : sockets) {
    engineio::Session& session = socket->client->session();
    Remove(*socket, "server namespace disconnect", true);
    if (command.close_transport()) session.Close("forced server close");
  }
}

void Hub::CloseRoom(const pb::CloseRoom& command,
                    const std::shared_ptr<CommandCollector>& collector) {
  auto index = rooms_.find(command.namespace_());
  if (index == rooms_.end()) return;
  const Index::Members* members = index->second.MembersOf(command.room());
  if (members == nullptr) return;
  std::vector<Socket*> sockets(members->begin(), members->end());
  collector->AddSockets(sockets.size());
  for (Socket* socket : sockets) index->second.Leave(socket, command.room());
}

void Hub::SetSession(const pb::SetSession& command,
                     const std::shared_ptr<CommandCollector>& collector) {
  Socket* socket = Find(command.sid(), command.namespace_());
  if (socket == nullptr) {
    collector->Fail(pb::CODE_NOT_FOUND, absl::StrCat("no socket ", command.sid(), " in namespace ",
                                                     command.namespace_()));
    return;
  }
  socket->session_json = command.session_json();
  collector->AddSockets(1);
}

void Hub::GetSocket(const pb::GetSocket& command,
                    const std::shared_ptr<CommandCollector>& collector) {
  Socket* socket = Find(command.sid(), command.namespace_());
  if (socket == nullptr) {
    collector->Fail(pb::CODE_NOT_FOUND, absl::StrCat("no socket ", command.sid(), " in namespace ",
                                                     command.namespace_()));
    return;
  }
  pb::SocketInfo info;
  info.set_sid(socket->sid);
  info.set_namespace_(socket->nsp);
  if (auto index = rooms_.find(socket->nsp); index != rooms_.end()) {
    for (std::string& room : index->second.RoomsOf(socket)) info.add_rooms(std::move(room));
  }
  info.set_session_json(socket->session_json);
  *info.mutable_handshake() = *socket->client->handshake();
  collector->AddSockets(1);
  collector->SetSocket(std::move(info));
}

}  // namespace sidecar::socketio
