#include "sidecar/socketio/hub.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/container/devector.hpp>
#include <map>
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

std::string NoBackendMessage(std::string_view nsp) {
  return absl::StrCat("no backend for namespace ", runtime::ToAbsl(nsp));
}

// A client event sent with an ack request that the backend has not answered.
struct UnackedEvent {
  pb::SidecarMessage message;
  size_t bytes = 0;
  std::chrono::steady_clock::time_point sent_at;
};

}  // namespace

// What a socket keeps for connection state recovery.
struct RecoverableState {
  // The private id the client returns to recover the socket.
  std::string pid{};
  // LastOffset() when the socket connected.
  std::string offset_at_connect{};
  // Restored from the store (on whichever shard the client's transport is).
  bool restored = false;
  // The last offset replayed to a restored socket: a live event not after it
  // is a duplicate. Cleared at the first live one.
  std::string replayed_through{};
};

// One namespace of one client connection.
struct Socket {
  std::string sid;
  std::string nsp;
  Client* client = nullptr;
  bool connected = false;
  std::string session_json = "{}";
  // The CONNECT payload, for a backend that takes the socket over.
  std::string auth_json;
  // Null while the socket waits for a backend.
  std::shared_ptr<BackendLink> backend;
  absl::flat_hash_map<uint64_t, std::shared_ptr<CommandCollector>> pending_acks;
  uint64_t next_ack_id = 0;
  // No backend serves the namespace (within its grace period): what the socket
  // sends is held here, in order, for the next one. A devector allocates nothing
  // while empty; a deque takes 512 bytes per socket.
  bool waiting = false;
  boost::container::devector<pb::SidecarMessage> buffered;
  size_t buffered_bytes = 0;
  // Events whose ack the backend owes, by ack id: delivered again if it goes away.
  std::map<uint64_t, UnackedEvent> unacked;
  size_t unacked_bytes = 0;
  std::unique_ptr<boost::asio::steady_timer> decision_timer;
  // Connection state recovery: null when it is off (or for a 2.x client), so
  // that it costs a socket one pointer then.
  std::unique_ptr<RecoverableState> recovery;
  // A placeholder waiting for the store's answer (no sid yet), under this request.
  uint64_t restore_token = 0;
};

// The Socket.IO side of one Engine.IO session: its namespaces and the binary
// packet being reassembled. Owned by the session.
class Client : public engineio::SessionHandler {
 public:
  Client(Hub& hub, engineio::Session& session, std::shared_ptr<const pb::Handshake> handshake)
      : hub_(hub),
        session_(session),
        handshake_(handshake ? handshake->SerializeAsString() : std::string()),
        connect_timer_(std::make_unique<boost::asio::steady_timer>(hub.io_)) {
    connect_timer_->expires_after(hub.config_.connect_timeout);
    connect_timer_->async_wait([weak = session.weak_from_this()](boost::system::error_code error) {
      auto session = weak.lock();
      if (!session || error) return;
      Log(LogLevel::kDebug, "session ", session->sid(), ": no namespace connected in time");
      session->Close("connect timeout");
    });
  }

  void StopConnectTimer() { connect_timer_.reset(); }

  // Socket.IO v4 clients are connected to `/` without asking.
  void OnOpen() override {
    if (!legacy()) return;
    StopConnectTimer();
    hub_.Connect(*this, "/", "{}");
  }

  // Socket.IO protocol v4 (over Engine.IO v3): implicit `/`, credentials in the
  // namespace's query string, string errors, socket ids made from the session id.
  bool legacy() const { return session_.protocol() == 3; }

  void OnMessage(engineio::Packet packet) override {
    if (packet.binary) {
      if (!partial_) return Fail("binary message without a packet announcing it");
      partial_bytes_ += packet.data.size();
      if (partial_bytes_ > hub_.config_.max_packet_bytes) {
        return Fail("binary attachments larger than max_http_buffer_size");
      }
      attachments_.push_back(std::move(packet.data));
      if (attachments_.size() == partial_->attachments) {
        Packet complete = std::move(*partial_);
        partial_.reset();
        Dispatch(std::move(complete), std::exchange(attachments_, {}));
      }
      return;
    }
    if (partial_) return Fail("text packet while binary attachments were expected");
    absl::StatusOr<Packet> decoded = DecodePacket(packet.data);
    if (!decoded.ok()) return Fail(runtime::ToStd(decoded.status().message()));
    if (decoded->attachments > 0) {
      partial_bytes_ = packet.data.size();
      partial_ = std::make_unique<Packet>(*std::move(decoded));
      return;
    }
    Dispatch(*std::move(decoded), {});
  }

  void OnClose(std::string_view reason) override {
    StopConnectTimer();
    while (!sockets_.empty()) hub_.Remove(*sockets_.begin()->second, reason, false);
  }

  // Sends a packet and its attachments; false if the session dropped it.
  bool Send(const engineio::Frame& frame,
            const std::vector<std::shared_ptr<const std::string>>& attachments,
            bool is_volatile = false) {
    if (attachments.empty()) return session_.Send(frame, is_volatile);
    // A send may end the session (a slow consumer); it and this client live to the end.
    std::shared_ptr<engineio::Session> session = session_.shared_from_this();
    session->Cork();
    bool sent = session->Send(frame, is_volatile);
    for (size_t i = 0; sent && i < attachments.size(); ++i) {
      sent = session->Send({attachments[i], true});
    }
    session->Uncork();
    return sent;
  }

  void Send(const Packet& packet,
            const std::vector<std::shared_ptr<const std::string>>& attachments = {}) {
    Send(
        engineio::Frame{
            std::make_shared<const std::string>(absl::StrCat("4", EncodePacket(packet))), false},
        attachments);
  }

  bool HasPendingWork() const override {
    for (const auto& [nsp, socket] : sockets_) {
      if (!socket->unacked.empty() || !socket->buffered.empty()) return true;
    }
    return false;
  }

  engineio::Session& session() { return session_; }
  // Into a Connect or a SocketInfo.
  void CopyHandshake(pb::Handshake* to) const {
    if (!to->ParseFromString(handshake_)) to->Clear();
  }

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
      case PacketType::kConnect: {
        StopConnectTimer();
        if (legacy()) {
          NamespaceQuery query = SplitNamespaceQuery(packet.nsp);
          if (sockets_.contains(query.nsp)) return;
          hub_.Connect(*this, std::move(query.nsp), std::move(query.auth_json));
          return;
        }
        if (sockets_.contains(packet.nsp)) return;
        hub_.Connect(*this, packet.nsp, packet.data.empty() ? "{}" : std::move(packet.data));
        return;
      }
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
  // Serialised: an idle connection keeps it in a third of the memory the
  // message takes (a string and a message per header).
  std::string handshake_;
  // Destroyed (which cancels its wait) once a namespace connects: an idle
  // connection keeps no timer but its session's ping timer.
  std::unique_ptr<boost::asio::steady_timer> connect_timer_;
  // On the heap: most clients never send binary packets, and a Packet is 100 bytes.
  std::unique_ptr<Packet> partial_;
  std::vector<std::string> attachments_;
  size_t partial_bytes_ = 0;  // of the partial packet and its attachments so far
};

// --- CommandCollector --------------------------------------------------------

CommandCollector::CommandCollector(std::shared_ptr<OutcomeSink> sink, size_t parts)
    : sink_(std::move(sink)), parts_left_(parts) {}

void CommandCollector::AddParts(size_t count) {
  std::lock_guard lock(mutex_);
  parts_left_ += count;
}

void CommandCollector::PartDone() {
  std::unique_lock lock(mutex_);
  if (parts_left_ > 0) --parts_left_;
  MaybeFinishLocked(lock);
}

void CommandCollector::AddSockets(size_t count) {
  std::lock_guard lock(mutex_);
  outcome_.set_socket_count(outcome_.socket_count() + count);
}

void CommandCollector::ExpectAck(const std::string& sid) {
  std::lock_guard lock(mutex_);
  awaiting_acks_.insert(sid);
}

void CommandCollector::AckReceived(const std::string& sid, pb::Payload args) {
  std::unique_lock lock(mutex_);
  if (finished_ || awaiting_acks_.erase(sid) == 0) return;
  // Handed over under the lock so that every ack precedes the outcome.
  sink_->OnClientAck(sid, std::move(args));
  MaybeFinishLocked(lock);
}

void CommandCollector::AckTimedOut(const std::string& sid) {
  std::unique_lock lock(mutex_);
  if (finished_ || awaiting_acks_.erase(sid) == 0) return;
  outcome_.add_ack_timed_out_sids(sid);
  MaybeFinishLocked(lock);
}

void CommandCollector::AddSocket(pb::SocketInfo info) {
  std::lock_guard lock(mutex_);
  *outcome_.add_sockets() = std::move(info);
}

void CommandCollector::AddRoom(const std::string& name, size_t members) {
  std::lock_guard lock(mutex_);
  rooms_[name] += members;
}

void CommandCollector::AddShardStats(size_t clients, size_t websocket_clients,
                                     const runtime::StringMap<size_t>& sockets,
                                     const runtime::StringMap<std::vector<std::string>>& rooms) {
  std::lock_guard lock(mutex_);
  has_local_stats_ = true;
  local_node_.set_client_count(local_node_.client_count() + clients);
  local_node_.set_websocket_client_count(local_node_.websocket_client_count() + websocket_clients);
  for (const auto& [nsp, count] : sockets) local_sockets_[nsp] += count;
  for (const auto& [nsp, names] : rooms) local_rooms_[nsp].insert(names.begin(), names.end());
}

void CommandCollector::Fail(pb::Code code, std::string message) {
  std::lock_guard lock(mutex_);
  outcome_.set_code(code);
  outcome_.set_message(std::move(message));
}

void CommandCollector::RemoteAck(const std::string& sid, pb::Payload args) {
  std::lock_guard lock(mutex_);
  if (!finished_) sink_->OnClientAck(sid, std::move(args));
}

void CommandCollector::RemoteOutcome(const cluster::Outcome& part) {
  std::unique_lock lock(mutex_);
  if (finished_) return;
  // The first failure is kept; a NOT_FOUND is forgotten if the socket turns up.
  if (part.code() != pb::CODE_OK_UNSPECIFIED && outcome_.code() == pb::CODE_OK_UNSPECIFIED) {
    outcome_.set_code(part.code());
    outcome_.set_message(part.message());
  }
  outcome_.set_socket_count(outcome_.socket_count() + part.socket_count());
  for (const std::string& sid : part.ack_timed_out_sids()) outcome_.add_ack_timed_out_sids(sid);
  for (const pb::SocketInfo& info : part.sockets()) *outcome_.add_sockets() = info;
  for (const pb::RoomInfo& room : part.rooms()) rooms_[room.name()] += room.socket_count();
  for (const pb::NodeStats& node : part.nodes()) *outcome_.add_nodes() = node;
  if (parts_left_ > 0) --parts_left_;
  MaybeFinishLocked(lock);
}

void CommandCollector::Expire(std::string why) {
  std::unique_lock lock(mutex_);
  if (finished_) return;
  for (const std::string& sid : awaiting_acks_) outcome_.add_ack_timed_out_sids(sid);
  awaiting_acks_.clear();
  if (parts_left_ > 0) {
    outcome_.set_code(pb::CODE_DEADLINE_EXCEEDED);
    outcome_.set_message(std::move(why));
  }
  parts_left_ = 0;
  MaybeFinishLocked(lock);
}

void CommandCollector::MaybeFinishLocked(std::unique_lock<std::mutex>& lock) {
  if (finished_ || parts_left_ > 0 || !awaiting_acks_.empty()) return;
  finished_ = true;
  // Found somewhere: a NOT_FOUND from a shard or node that does not own it is no failure
  // (a SetSession that found its socket counts it without describing it).
  if (outcome_.code() == pb::CODE_NOT_FOUND &&
      (outcome_.sockets_size() > 0 || outcome_.socket_count() > 0)) {
    outcome_.clear_code();
    outcome_.clear_message();
  }
  std::vector<std::pair<std::string, size_t>> rooms(rooms_.begin(), rooms_.end());
  std::sort(rooms.begin(), rooms.end());
  for (auto& [name, count] : rooms) {
    pb::RoomInfo* room = outcome_.add_rooms();
    room->set_name(name);
    room->set_socket_count(static_cast<uint32_t>(count));
  }
  if (has_local_stats_) {
    std::vector<std::string> names;
    for (const auto& [nsp, count] : local_sockets_) names.push_back(nsp);
    for (const auto& [nsp, rooms] : local_rooms_) {
      if (!local_sockets_.contains(nsp)) names.push_back(nsp);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& nsp : names) {
      pb::NamespaceStats* stats = local_node_.add_namespaces();
      stats->set_namespace_(nsp);
      auto sockets = local_sockets_.find(nsp);
      stats->set_socket_count(sockets == local_sockets_.end() ? 0 : sockets->second);
      auto rooms = local_rooms_.find(nsp);
      stats->set_room_count(rooms == local_rooms_.end() ? 0 : rooms->second.size());
    }
    *outcome_.add_nodes() = std::move(local_node_);
  }
  auto& sockets = *outcome_.mutable_sockets();
  std::sort(sockets.begin(), sockets.end(),
            [](const pb::SocketInfo& a, const pb::SocketInfo& b) { return a.sid() < b.sid(); });
  auto& nodes = *outcome_.mutable_nodes();
  std::sort(nodes.begin(), nodes.end(), [](const pb::NodeStats& a, const pb::NodeStats& b) {
    return a.node_id() < b.node_id();
  });
  cluster::Outcome outcome = std::move(outcome_);
  lock.unlock();
  sink_->OnOutcome(std::move(outcome));
}

// --- EmitPlan ----------------------------------------------------------------

absl::StatusOr<std::shared_ptr<const EmitPlan>> MakeEmitPlan(const pb::Emit& emit) {
  if (emit.namespace_().empty() || emit.namespace_()[0] != '/') {
    return absl::InvalidArgumentError("Emit.namespace must start with '/'");
  }
  if (emit.event().empty()) return absl::InvalidArgumentError("Emit.event is empty");
  absl::StatusOr<std::string> data = JoinEvent(emit.event(), emit.args().json());
  if (!data.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("Emit.args.json: ", data.status().message()));
  }
  auto plan = std::make_shared<EmitPlan>();
  plan->nsp = emit.namespace_();
  plan->target = emit.target();
  for (const std::string& binary : emit.args().binary()) {
    plan->attachments.push_back(std::make_shared<const std::string>(binary));
  }
  plan->want_ack = emit.want_ack();
  plan->ack_timeout = AckTimeout(emit);
  plan->is_volatile = emit.is_volatile();
  Packet packet{plan->attachments.empty() ? PacketType::kEvent : PacketType::kBinaryEvent,
                plan->nsp, std::nullopt, plan->attachments.size(), *data};
  plan->frame = engineio::Frame{
      std::make_shared<const std::string>(absl::StrCat("4", EncodePacket(packet))), false};
  plan->data = *std::move(data);
  return plan;
}

std::chrono::milliseconds AckTimeout(const pb::Emit& emit) {
  return std::chrono::milliseconds(emit.ack_timeout_ms() > 0 ? emit.ack_timeout_ms() : 10000);
}

// --- Hub ---------------------------------------------------------------------

Hub::Hub(boost::asio::io_context& io, HubConfig config, const BackendDirectory& backends)
    : io_(io), config_(config), backends_(backends), unacked_timer_(io) {}

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

namespace {

pb::SidecarMessage ConnectMessage(const Socket& socket, Client& client) {
  pb::SidecarMessage message;
  auto* connect = message.mutable_connect();
  connect->set_sid(socket.sid);
  connect->set_namespace_(socket.nsp);
  connect->set_auth_json(socket.auth_json);
  client.CopyHandshake(connect->mutable_handshake());
  connect->set_engine_sid(std::string(client.session().sid()));
  if (socket.recovery && socket.recovery->restored) {
    connect->set_recovered(true);
    connect->set_session_json(socket.session_json);
  }
  return message;
}

pb::SidecarMessage AdoptedMessage(const Socket& socket, Client& client) {
  pb::SidecarMessage message;
  auto* adopted = message.mutable_adopted();
  adopted->set_sid(socket.sid);
  adopted->set_namespace_(socket.nsp);
  adopted->set_auth_json(socket.auth_json);
  client.CopyHandshake(adopted->mutable_handshake());
  adopted->set_engine_sid(std::string(client.session().sid()));
  adopted->set_session_json(socket.session_json);
  return message;
}

}  // namespace

void Hub::Connect(Client& client, std::string nsp, std::string auth_json) {
  if (config_.recovery != nullptr && !client.legacy() && StartRestore(client, nsp, auth_json)) {
    return;
  }
  NewSocket(client, std::move(nsp), std::move(auth_json));
}

bool Hub::StartRestore(Client& client, const std::string& nsp, const std::string& auth_json) {
  // socket.io-client 4.6+ merges `pid` and `offset` into the auth payload when it reconnects.
  if (auth_json.find("\"pid\"") == std::string::npos) return false;
  nlohmann::json auth = nlohmann::json::parse(auth_json, nullptr, /*allow_exceptions=*/false);
  if (!auth.is_object()) return false;
  auto pid = auth.find("pid");
  if (pid == auth.end() || !pid->is_string()) return false;
  RestoreRequest request{
      .pid = pid->get<std::string>(), .nsp = nsp, .offset = {}, .shard = config_.shard};
  if (auto offset = auth.find("offset"); offset != auth.end() && offset->is_string()) {
    request.offset = offset->get<std::string>();
  }
  // A placeholder holds the namespace (a second CONNECT is ignored, a
  // DISCONNECT or the end of the session cancels) until the store answers.
  auto owned = std::make_unique<Socket>();
  owned->nsp = nsp;
  owned->client = &client;
  owned->auth_json = auth_json;
  owned->restore_token = next_restore_++;
  restoring_[owned->restore_token] = owned.get();
  uint64_t token = owned->restore_token;
  client.sockets_[nsp] = std::move(owned);
  config_.recovery->Restore(
      std::move(request), [this, token](std::optional<RestoredSession> restored) {
        boost::asio::post(io_, [this, token, restored = std::move(restored)]() mutable {
          FinishRestore(token, std::move(restored));
        });
      });
  return true;
}

void Hub::FinishRestore(uint64_t token, std::optional<RestoredSession> restored) {
  auto waiting = restoring_.find(token);
  if (waiting == restoring_.end()) {
    // The client went away meanwhile: its socket stays restorable.
    if (restored) {
      config_.locations->Erase(restored->state.sid);
      config_.recovery->Park(std::move(restored->state));
    }
    return;
  }
  Client& client = *waiting->second->client;
  std::string nsp = waiting->second->nsp;
  std::string auth_json = std::move(waiting->second->auth_json);
  restoring_.erase(waiting);
  client.sockets_.erase(nsp);  // destroys the placeholder
  std::shared_ptr<BackendLink> backend;
  std::optional<std::chrono::steady_clock::time_point> grace;
  if (restored) {
    backend = backends_.Pick(nsp, restored->state.sid);
    if (!backend) grace = backends_.GraceDeadline(nsp);
  }
  if (!restored || (!backend && !grace) || sockets_.contains(restored->state.sid)) {
    if (restored) config_.locations->Erase(restored->state.sid);
    Count(&runtime::ShardMetrics::recoveries_refused);
    return NewSocket(client, std::move(nsp), std::move(auth_json));
  }
  SessionState& state = restored->state;
  auto owned = std::make_unique<Socket>();
  Socket& socket = *owned;
  socket.sid = state.sid;
  socket.nsp = nsp;
  socket.client = &client;
  socket.backend = backend;
  socket.auth_json = std::move(auth_json);
  if (!state.session_json.empty()) socket.session_json = std::move(state.session_json);
  socket.recovery = std::make_unique<RecoverableState>(
      RecoverableState{.pid = std::move(state.pid),
                       .offset_at_connect = std::move(state.offset_at_connect),
                       .restored = true,
                       .replayed_through = std::move(restored->through)});
  client.sockets_[nsp] = std::move(owned);
  sockets_[socket.sid] = &socket;
  // Connected at once, as socket.io skips the middlewares of a recovered
  // socket; the backend is told (Connect.recovered) and may still refuse.
  Count(&runtime::ShardMetrics::connects_accepted);
  socket.connected = true;
  Index& index = rooms_[nsp];
  index.Add(&socket);
  for (const std::string& room : state.rooms) index.Join(&socket, room);
  index.Join(&socket, socket.sid);
  SendConnected(socket);
  for (const std::shared_ptr<const EmitPlan>& plan : restored->missed) {
    client.Send(plan->frame, plan->attachments);
  }
  Count(&runtime::ShardMetrics::events_sent, restored->missed.size());
  Count(&runtime::ShardMetrics::recoveries);
  Count(&runtime::ShardMetrics::events_replayed, restored->missed.size());
  Log(LogLevel::kDebug, "socket ", socket.sid, " recovered in ", nsp, " with ",
      restored->missed.size(), " missed events");
  if (backend) {
    backend->Send(ConnectMessage(socket, client));
  } else {
    Count(&runtime::ShardMetrics::events_buffered);
    socket.waiting = true;
    waiting_.insert(&socket);
    socket.buffered.push_back(ConnectMessage(socket, client));
    WatchGrace(socket.nsp, *grace);
  }
  Track(socket);
}

void Hub::NewSocket(Client& client, std::string nsp, std::string auth_json) {
  // The ids socket.io-client 2.x gives its sockets (its socket.id), as the Node server does.
  std::string sid = !client.legacy() ? runtime::NewId(config_.shard)
                    : nsp == "/"     ? client.session().sid()
                                     : absl::StrCat(nsp, "#", client.session().sid());
  std::shared_ptr<BackendLink> backend = backends_.Pick(nsp, sid);
  std::optional<std::chrono::steady_clock::time_point> grace;
  if (!backend) grace = backends_.GraceDeadline(nsp);
  if (!backend && !grace) {
    client.Send(
        Packet{PacketType::kConnectError, nsp, std::nullopt, 0,
               client.legacy() ? R"("Invalid namespace")" : R"({"message":"Invalid namespace"})"});
    return;
  }
  auto owned = std::make_unique<Socket>();
  Socket& socket = *owned;
  socket.sid = sid;
  socket.nsp = nsp;
  socket.client = &client;
  socket.backend = backend;
  socket.auth_json = std::move(auth_json);
  client.sockets_[nsp] = std::move(owned);
  sockets_[sid] = &socket;

  if (config_.always_connect) Accept(socket);
  if (!backend) {
    // The namespace's backends went away moments ago: the connect waits for the next one.
    Count(&runtime::ShardMetrics::events_buffered);
    socket.waiting = true;
    waiting_.insert(&socket);
    socket.buffered.push_back(ConnectMessage(socket, client));
    WatchGrace(socket.nsp, *grace);
    return;
  }
  backend->Send(ConnectMessage(socket, client));
  if (!config_.always_connect) StartDecisionTimer(socket);
}

void Hub::StartDecisionTimer(Socket& socket) {
  if (!socket.decision_timer) {
    socket.decision_timer = std::make_unique<boost::asio::steady_timer>(io_);
  }
  socket.decision_timer->expires_after(config_.connect_decision_timeout);
  socket.decision_timer->async_wait([this, sid = socket.sid,
                                     nsp = socket.nsp](boost::system::error_code error) {
    if (error) return;
    Socket* socket = Find(sid, nsp);
    if (socket == nullptr || socket->connected || socket->waiting) return;
    Log(LogLevel::kWarning, "backend did not decide on connection ", sid, " to ", nsp, " in time");
    Reject(*socket, "Connection rejected by server", R"({"reason":"backend timeout"})");
  });
}

void Hub::Count(runtime::Counter runtime::ShardMetrics::*counter, uint64_t n) {
  if (config_.metrics != nullptr) (config_.metrics->*counter).Add(n);
}

void Hub::Accept(Socket& socket) {
  Count(&runtime::ShardMetrics::connects_accepted);
  socket.connected = true;
  // Destroying the timer cancels its wait; a connected socket keeps no timer.
  socket.decision_timer.reset();
  Index& index = rooms_[socket.nsp];
  index.Add(&socket);
  index.Join(&socket, socket.sid);
  if (config_.recovery != nullptr && !socket.client->legacy()) {
    socket.recovery = std::make_unique<RecoverableState>(RecoverableState{
        .pid = runtime::NewId(config_.shard), .offset_at_connect = config_.recovery->LastOffset()});
  }
  SendConnected(socket);
  Track(socket);
}

void Hub::SendConnected(Socket& socket) {
  std::string data;
  // Socket.IO v4's CONNECT has no payload: the client makes its id itself.
  if (!socket.client->legacy()) {
    data = absl::StrCat(R"({"sid":")", socket.sid, R"(")");
    if (socket.recovery) {
      absl::StrAppend(&data, R"(,"pid":")", socket.recovery->pid, R"(")");
    }
    data.push_back('}');
  }
  socket.client->Send(Packet{PacketType::kConnect, socket.nsp, std::nullopt, 0, std::move(data)});
}

SessionState Hub::StateOf(Socket& socket) const {
  SessionState state{.pid = socket.recovery->pid,
                     .sid = socket.sid,
                     .nsp = socket.nsp,
                     .rooms = {},
                     .session_json = socket.session_json,
                     .offset_at_connect = socket.recovery->offset_at_connect};
  if (auto index = rooms_.find(socket.nsp); index != rooms_.end()) {
    state.rooms = index->second.RoomsOf(&socket);
  }
  return state;
}

void Hub::Track(Socket& socket) {
  if (socket.recovery && socket.connected && config_.recovery->tracks_connected()) {
    config_.recovery->Track(StateOf(socket));
  }
}

void Hub::Reject(Socket& socket, std::string_view message, std::string_view data_json) {
  std::string payload;
  if (socket.client->legacy()) {
    // Socket.IO v4's error is one value: the data when there is some, else the
    // message (the Node server's `err.data || err.message`).
    payload = data_json.empty() ? JsonString(message) : std::string(data_json);
  } else {
    payload = absl::StrCat(R"({"message":)", JsonString(message));
    if (!data_json.empty()) absl::StrAppend(&payload, R"(,"data":)", runtime::ToAbsl(data_json));
    payload.push_back('}');
  }
  Count(&runtime::ShardMetrics::connects_rejected);
  Client& client = *socket.client;
  std::string nsp = socket.nsp;
  client.Send(Packet{PacketType::kConnectError, nsp, std::nullopt, 0, std::move(payload)});
  waiting_.erase(&socket);
  unacked_count_ -= socket.unacked.size();
  sockets_.erase(socket.sid);
  client.sockets_.erase(nsp);
}

void Hub::Remove(Socket& socket, std::string_view reason, bool tell_client) {
  if (socket.restore_token != 0) {
    restoring_.erase(socket.restore_token);
    Client& client = *socket.client;
    client.sockets_.erase(std::string(socket.nsp));  // destroys the placeholder
    return;
  }
  if (tell_client && socket.connected) {
    socket.client->Send(Packet{PacketType::kDisconnect, socket.nsp, std::nullopt, 0, ""});
  }
  for (auto& [id, collector] : socket.pending_acks) collector->AckTimedOut(socket.sid);
  if (socket.decision_timer) socket.decision_timer->cancel();
  if (socket.connected) {
    Count(&runtime::ShardMetrics::disconnects);
    if (auto index = rooms_.find(socket.nsp); index != rooms_.end()) {
      if (socket.recovery) {
        // Only a lost transport is recoverable, not a deliberate disconnect.
        if (IsRecoverableReason(reason)) {
          config_.recovery->Park(StateOf(socket));
        } else if (config_.recovery->tracks_connected()) {
          config_.recovery->Forget(socket.recovery->pid);
        }
      }
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
  waiting_.erase(&socket);
  unacked_count_ -= socket.unacked.size();
  if (socket.recovery && socket.recovery->restored) config_.locations->Erase(socket.sid);
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
  if (!socket.waiting && !(socket.backend && socket.backend->alive()) && !Repin(socket)) return;
  // A waiting socket holds every event; the backend that takes it filters them.
  if (!socket.waiting && !socket.backend->HandlesEvent(socket.nsp, parts->name)) return;
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
  Count(&runtime::ShardMetrics::events_received);
  ToBackend(socket, std::move(message));
}

bool Hub::ToBackend(Socket& socket, pb::SidecarMessage message) {
  size_t bytes = message.ByteSizeLong();
  if (socket.waiting) {
    // One message is always held when nothing else is, however large.
    if (socket.buffered.size() >= config_.backend_buffer_limit ||
        (!socket.buffered.empty() &&
         socket.buffered_bytes + bytes > config_.backend_buffer_bytes)) {
      Abandon(socket, absl::StrCat("buffer for a backend full (", socket.buffered.size(),
                                   " messages, ", socket.buffered_bytes, " bytes)"));
      return false;
    }
    Count(&runtime::ShardMetrics::events_buffered);
    socket.buffered_bytes += bytes;
    socket.buffered.push_back(std::move(message));
    return true;
  }
  if (message.has_event() && message.event().has_ack_id()) {
    // Kept to deliver again should the backend go away before acking; bounded
    // like the buffer: past the bound the oldest is no longer kept.
    while (!socket.unacked.empty() &&
           (socket.unacked.size() >= config_.backend_buffer_limit ||
            socket.unacked_bytes + bytes > config_.backend_buffer_bytes)) {
      auto oldest = socket.unacked.begin();
      Log(LogLevel::kWarning, "socket ", socket.sid, ": backend owes ", socket.unacked.size(),
          " acks; event with ack id ", oldest->first, " no longer kept for redelivery");
      socket.unacked_bytes -= oldest->second.bytes;
      socket.unacked.erase(oldest);
      --unacked_count_;
    }
    UnackedEvent& kept = socket.unacked[message.event().ack_id()];
    kept = UnackedEvent{message, bytes, std::chrono::steady_clock::now()};
    socket.unacked_bytes += bytes;
    ++unacked_count_;
    ArmUnackedTimer();
  }
  socket.backend->Send(std::move(message));
  return true;
}

bool Hub::Repin(Socket& socket) {
  // Events the backend that went away still owed acks for go first, in order.
  for (auto it = socket.unacked.rbegin(); it != socket.unacked.rend(); ++it) {
    Count(&runtime::ShardMetrics::events_redelivered);
    socket.buffered_bytes += it->second.bytes;
    socket.buffered.push_front(std::move(it->second.message));
  }
  unacked_count_ -= socket.unacked.size();
  socket.unacked.clear();
  socket.unacked_bytes = 0;
  if (socket.decision_timer) socket.decision_timer->cancel();
  socket.backend = nullptr;
  if (std::shared_ptr<BackendLink> backend = backends_.Pick(socket.nsp, socket.sid)) {
    Deliver(socket, std::move(backend));
    return true;
  }
  if (std::optional<std::chrono::steady_clock::time_point> deadline =
          backends_.GraceDeadline(socket.nsp)) {
    socket.waiting = true;
    waiting_.insert(&socket);
    WatchGrace(socket.nsp, *deadline);
    return true;
  }
  Abandon(socket, NoBackendMessage(socket.nsp));
  return false;
}

void Hub::Deliver(Socket& socket, std::shared_ptr<BackendLink> backend) {
  socket.backend = std::move(backend);
  socket.waiting = false;
  waiting_.erase(&socket);
  boost::container::devector<pb::SidecarMessage> held = std::exchange(socket.buffered, {});
  socket.buffered_bytes = 0;
  // The new backend hears of the socket first: its connect if that was held,
  // else an adoption, or the connect a gone backend never decided on.
  if (!held.empty() && held.front().has_connect()) {
    socket.backend->Send(std::move(held.front()));
    held.pop_front();
  } else if (socket.connected) {
    socket.backend->Send(AdoptedMessage(socket, *socket.client));
  } else {
    socket.backend->Send(ConnectMessage(socket, *socket.client));
  }
  if (!socket.connected) StartDecisionTimer(socket);
  for (pb::SidecarMessage& message : held) {
    if (message.has_event()) {
      if (!socket.backend->HandlesEvent(socket.nsp, message.event().event())) continue;
      message.mutable_event()->set_session_json(socket.session_json);
    }
    ToBackend(socket, std::move(message));
  }
}

void Hub::WatchGrace(const std::string& nsp, std::chrono::steady_clock::time_point deadline) {
  std::unique_ptr<boost::asio::steady_timer>& timer = grace_timers_[nsp];
  // An armed timer for an earlier deadline checks again when it fires.
  if (timer) return;
  timer = std::make_unique<boost::asio::steady_timer>(io_, deadline);
  timer->async_wait([this, nsp](boost::system::error_code error) {
    if (!error) OnGraceTimer(nsp);
  });
}

void Hub::OnGraceTimer(const std::string& nsp) {
  grace_timers_.erase(nsp);
  std::vector<Socket*> sockets;
  for (Socket* socket : waiting_) {
    if (socket->nsp == nsp) sockets.push_back(socket);
  }
  std::optional<std::chrono::steady_clock::time_point> deadline = backends_.GraceDeadline(nsp);
  for (Socket* socket : sockets) {
    if (std::shared_ptr<BackendLink> backend = backends_.Pick(nsp, socket->sid)) {
      Deliver(*socket, std::move(backend));
    } else if (deadline) {
      WatchGrace(nsp, *deadline);  // a backend came and went meanwhile
    } else {
      Abandon(*socket, NoBackendMessage(nsp));
    }
  }
}

void Hub::Abandon(Socket& socket, std::string_view why) {
  Count(&runtime::ShardMetrics::backend_abandoned);
  Log(LogLevel::kWarning, "socket ", socket.sid, " in ", socket.nsp, ": ", why,
      "; closing its transport");
  // Not a Socket.IO DISCONNECT or CONNECT_ERROR: those stop the client's
  // automatic reconnection, which may bring it back once a backend (here or on
  // another replica) serves the namespace. This ends the socket.
  socket.client->session().Close("forced close");
}

void Hub::BackendAttached() {
  std::vector<std::pair<Socket*, std::shared_ptr<BackendLink>>> ready;
  for (Socket* socket : waiting_) {
    if (auto backend = backends_.Pick(socket->nsp, socket->sid))
      ready.emplace_back(socket, backend);
  }
  for (auto& [socket, backend] : ready) Deliver(*socket, std::move(backend));
}

void Hub::BackendDetached(const BackendLink* link) {
  std::vector<std::string> sids;
  for (const auto& [sid, socket] : sockets_) {
    if (socket->backend.get() == link) sids.push_back(sid);
  }
  for (const std::string& sid : sids) {
    auto it = sockets_.find(sid);
    if (it != sockets_.end()) Repin(*it->second);
  }
}

void Hub::ArmUnackedTimer() {
  if (unacked_timer_armed_ || unacked_count_ == 0) return;
  unacked_timer_armed_ = true;
  unacked_timer_.expires_after(std::max<std::chrono::milliseconds>(config_.backend_ack_timeout / 4,
                                                                   std::chrono::milliseconds(50)));
  unacked_timer_.async_wait([this](boost::system::error_code error) {
    unacked_timer_armed_ = false;
    if (!error) SweepUnacked();
  });
}

void Hub::SweepUnacked() {
  auto expired_before = std::chrono::steady_clock::now() - config_.backend_ack_timeout;
  for (const auto& [sid, socket] : sockets_) {
    std::erase_if(socket->unacked, [&](const auto& entry) {
      if (entry.second.sent_at > expired_before) return false;
      Log(LogLevel::kWarning, "socket ", sid, ": backend did not ack event with ack id ",
          entry.first, " in time; forgotten");
      Count(&runtime::ShardMetrics::backend_ack_timeouts);
      socket->unacked_bytes -= entry.second.bytes;
      --unacked_count_;
      return true;
    });
  }
  ArmUnackedTimer();
}

void Hub::OnClientAck(Socket& socket, uint64_t id, std::string data,
                      std::vector<std::string> attachments) {
  auto it = socket.pending_acks.find(id);
  if (it == socket.pending_acks.end()) return;
  std::shared_ptr<CommandCollector> collector = std::move(it->second);
  socket.pending_acks.erase(it);
  Count(&runtime::ShardMetrics::acks_received);
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
      Track(*socket);
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
  Count(&runtime::ShardMetrics::events_sent, sockets.size());
  if (!plan.want_ack) {
    for (Socket* socket : sockets) {
      if (socket->recovery && !socket->recovery->replayed_through.empty() && !plan.offset.empty()) {
        // Replayed already with the events the socket missed.
        if (!config_.recovery->IsAfter(plan.offset, socket->recovery->replayed_through)) continue;
        socket->recovery->replayed_through.clear();
      }
      socket->client->Send(plan.frame, plan.attachments, plan.is_volatile);
    }
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
      Count(&runtime::ShardMetrics::ack_timeouts);
      owner->AckTimedOut(sid);
    }
  });
}

void Hub::Ack(const pb::Ack& ack) {
  Socket* socket = Find(ack.sid(), ack.namespace_());
  if (socket == nullptr || !socket->connected) return;
  if (auto owed = socket->unacked.find(ack.ack_id()); owed != socket->unacked.end()) {
    socket->unacked_bytes -= owed->second.bytes;
    socket->unacked.erase(owed);
    --unacked_count_;
  }
  Count(&runtime::ShardMetrics::acks_sent);
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
    Track(*socket);
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
  for (Socket* socket : sockets) {
    index->second.Leave(socket, command.room());
    Track(*socket);
  }
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
  Track(*socket);
  collector->AddSockets(1);
}

pb::SocketInfo Hub::Describe(Socket& socket) const {
  pb::SocketInfo info;
  info.set_sid(socket.sid);
  info.set_namespace_(socket.nsp);
  if (auto index = rooms_.find(socket.nsp); index != rooms_.end()) {
    for (std::string& room : index->second.RoomsOf(&socket)) {
      info.add_rooms(std::move(room));
    }
  }
  info.set_session_json(socket.session_json);
  socket.client->CopyHandshake(info.mutable_handshake());
  return info;
}

void Hub::GetSocket(const pb::GetSocket& command,
                    const std::shared_ptr<CommandCollector>& collector) {
  Socket* socket = Find(command.sid(), command.namespace_());
  if (socket == nullptr || !socket->connected) {
    collector->Fail(pb::CODE_NOT_FOUND, absl::StrCat("no socket ", command.sid(), " in namespace ",
                                                     command.namespace_()));
    return;
  }
  collector->AddSockets(1);
  collector->AddSocket(Describe(*socket));
}

void Hub::ListSockets(const pb::ListSocketsRequest& command,
                      const std::shared_ptr<CommandCollector>& collector) {
  std::vector<Socket*> sockets = Resolve(command.namespace_(), command.target());
  collector->AddSockets(sockets.size());
  for (Socket* socket : sockets) collector->AddSocket(Describe(*socket));
}

void Hub::ListRooms(const pb::ListRoomsRequest& command,
                    const std::shared_ptr<CommandCollector>& collector) {
  auto index = rooms_.find(command.namespace_());
  if (index == rooms_.end()) return;
  index->second.ForEachRoom([&](const std::string& room, size_t members) {
    // Every socket's own room is left out, as socket.io's adapter.rooms users expect.
    if (!sockets_.contains(room)) collector->AddRoom(room, members);
  });
}

void Hub::Stats(size_t clients, size_t websocket_clients,
                const std::shared_ptr<CommandCollector>& collector) {
  runtime::StringMap<size_t> sockets;
  runtime::StringMap<std::vector<std::string>> rooms;
  for (const auto& [nsp, index] : rooms_) {
    sockets[nsp] = index.member_count();
    std::vector<std::string>& names = rooms[nsp];
    index.ForEachRoom([&](const std::string& room, size_t) {
      if (!sockets_.contains(room)) names.push_back(room);
    });
  }
  collector->AddShardStats(clients, websocket_clients, sockets, rooms);
}

}  // namespace sidecar::socketio
