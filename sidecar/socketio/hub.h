#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "sidecar/cluster/cluster.pb.h"
#include "sidecar/engineio/session.h"
#include "sidecar/rooms/room_index.h"
#include "sidecar/runtime/metrics.h"
#include "sidecar/runtime/strings.h"
#include "sidecar/socketio/recovery.h"
#include "socketio/sidecar/v1/admin.pb.h"
#include "socketio/sidecar/v1/sidecar.pb.h"

namespace sidecar::socketio {

namespace pb = ::socketio::sidecar::v1;
namespace cluster = ::socketio::sidecar::cluster;

// One attached backend stream, as the Socket.IO layer sees it (implemented by
// the backend layer). Thread-safe.
class BackendLink {
 public:
  virtual ~BackendLink() = default;
  virtual void Send(pb::SidecarMessage message) = 0;
  virtual bool alive() const = 0;
  virtual bool HandlesEvent(std::string_view nsp, std::string_view event) const = 0;
};

// Which backends serve which namespaces (implemented by the backend layer).
class BackendDirectory {
 public:
  virtual ~BackendDirectory() = default;
  // The backend a socket is pinned to: chosen by sid among the live backends
  // that declared the namespace; null when there is none.
  virtual std::shared_ptr<BackendLink> Pick(std::string_view nsp, std::string_view sid) const = 0;
  // When no live backend serves `nsp` but one did until less than the grace
  // period ago: when that grace period ends. Otherwise nullopt.
  virtual std::optional<std::chrono::steady_clock::time_point> GraceDeadline(
      std::string_view nsp) const = 0;
};

// Where the result of one command goes: a backend stream, an Admin call, or
// the node that sent the command over the cluster.
class OutcomeSink {
 public:
  virtual ~OutcomeSink() = default;
  // A client answered an emit that wanted acks; called as answers arrive,
  // always before OnOutcome.
  virtual void OnClientAck(const std::string& sid, pb::Payload args) = 0;
  // Once, when every part has reported or the wait for them expired.
  virtual void OnOutcome(cluster::Outcome outcome) = 0;
};

// Gathers the result of one command from its parts (the shards that run it
// here, and the other nodes of a cluster) and hands it to a sink. Thread-safe.
class CommandCollector {
 public:
  CommandCollector(std::shared_ptr<OutcomeSink> sink, size_t parts);

  // More parts will report; call before the count could drop to zero.
  void AddParts(size_t count);
  // One part finished (acks it expects may still be outstanding).
  void PartDone();

  void AddSockets(size_t count);
  void ExpectAck(const std::string& sid);
  void AckReceived(const std::string& sid, pb::Payload args);
  void AckTimedOut(const std::string& sid);
  void AddSocket(pb::SocketInfo info);
  void AddRoom(const std::string& name, size_t members);
  // Stats of this node's shards: sessions, and sockets and rooms per namespace.
  void AddShardStats(size_t clients, size_t websocket_clients,
                     const runtime::StringMap<size_t>& sockets,
                     const runtime::StringMap<std::vector<std::string>>& rooms);
  void Fail(pb::Code code, std::string message);

  // Another node's part: its acks as they come, then its outcome.
  void RemoteAck(const std::string& sid, pb::Payload args);
  void RemoteOutcome(const cluster::Outcome& outcome);
  // Stops waiting for the parts that have not reported.
  void Expire(std::string why);

  bool finished() {
    std::lock_guard lock(mutex_);
    return finished_;
  }

  // Node-level facts for Stats, filled in by whoever starts the command.
  pb::NodeStats& local_node() { return local_node_; }

 private:
  void MaybeFinishLocked(std::unique_lock<std::mutex>& lock);

  std::shared_ptr<OutcomeSink> sink_;
  std::mutex mutex_;
  size_t parts_left_;
  absl::flat_hash_set<std::string> awaiting_acks_;
  cluster::Outcome outcome_;
  runtime::StringMap<size_t> rooms_;
  bool has_local_stats_ = false;
  pb::NodeStats local_node_;
  runtime::StringMap<size_t> local_sockets_;
  runtime::StringMap<runtime::StringSet> local_rooms_;
  bool finished_ = false;
};

// An emit prepared once for all shards.
struct EmitPlan {
  std::string nsp;
  pb::Target target;
  // The event array text `["name",...]`, validated.
  std::string data;
  std::vector<std::shared_ptr<const std::string>> attachments;
  // The whole Engine.IO text frame, encoded once, for emits without acks.
  engineio::Frame frame;
  bool want_ack = false;
  std::chrono::milliseconds ack_timeout{0};
  bool is_volatile = false;
  // Connection state recovery: the offset under which the emit was logged,
  // the frame's last argument (MakeOffsetPlan); empty when not logged.
  std::string offset;
};

// Whether an emit is logged for connection state recovery, as socket.io logs
// broadcasts: neither asking for acks nor volatile.
inline bool IsLogged(const pb::Emit& emit) { return !emit.want_ack() && !emit.is_volatile(); }

// Validates an Emit command and prepares it for every shard: the event array
// checked, and the frame for emits without acks encoded once.
absl::StatusOr<std::shared_ptr<const EmitPlan>> MakeEmitPlan(const pb::Emit& emit);
// How long an emit waits for acks: `ack_timeout_ms`, or 10 s when it is 0.
std::chrono::milliseconds AckTimeout(const pb::Emit& emit);

struct HubConfig {
  uint32_t shard = 0;
  bool always_connect = false;
  std::chrono::milliseconds connect_timeout{45000};
  std::chrono::milliseconds connect_decision_timeout{5000};
  // Largest packet a client may send, its binary attachments included (max_http_buffer_size):
  // each Engine.IO message is bounded, but a packet may announce a thousand of them.
  size_t max_packet_bytes = 1'000'000;
  // What one socket may hold while it waits for a backend (events, and copies
  // of events whose ack the backend still owes): a count and a byte size.
  size_t backend_buffer_limit = 100;
  size_t backend_buffer_bytes = 1'000'000;
  // How long the sidecar remembers an event whose ack the backend owes.
  std::chrono::milliseconds backend_ack_timeout{30000};
  // The shard's counters; null in tests.
  runtime::ShardMetrics* metrics = nullptr;
  // Connection state recovery, shared by every shard; null when it is off.
  RecoveryStore* recovery = nullptr;
  SocketLocations* locations = nullptr;
};

class Client;
struct Socket;

// The Socket.IO state of one shard: its sockets, by sid and by room. Only
// touched from the shard's thread; commands are posted to it.
class Hub {
 public:
  Hub(boost::asio::io_context& io, HubConfig config, const BackendDirectory& backends);
  ~Hub();

  // The handler for a new Engine.IO session on this shard.
  std::unique_ptr<engineio::SessionHandler> NewClient(
      std::shared_ptr<engineio::Session> session, std::shared_ptr<const pb::Handshake> handshake);

  // Backend commands, each run on this shard for the sockets it owns.
  void Decide(const pb::ConnectDecision& decision);
  void Emit(const EmitPlan& plan, const std::shared_ptr<CommandCollector>& collector);
  void Ack(const pb::Ack& ack);
  void JoinRooms(const pb::JoinRooms& command, const std::shared_ptr<CommandCollector>& collector);
  void LeaveRooms(const pb::LeaveRooms& command,
                  const std::shared_ptr<CommandCollector>& collector);
  void Disconnect(const pb::Disconnect& command,
                  const std::shared_ptr<CommandCollector>& collector);
  void CloseRoom(const pb::CloseRoom& command, const std::shared_ptr<CommandCollector>& collector);
  void SetSession(const pb::SetSession& command,
                  const std::shared_ptr<CommandCollector>& collector);
  void GetSocket(const pb::GetSocket& command, const std::shared_ptr<CommandCollector>& collector);
  void ListSockets(const pb::ListSocketsRequest& command,
                   const std::shared_ptr<CommandCollector>& collector);
  void ListRooms(const pb::ListRoomsRequest& command,
                 const std::shared_ptr<CommandCollector>& collector);
  // This shard's part of Stats, with its Engine.IO session counts.
  void Stats(size_t clients, size_t websocket_clients,
             const std::shared_ptr<CommandCollector>& collector);

  // A backend attached: sockets waiting for one for its namespaces get it.
  void BackendAttached();
  // A backend stream ended: its sockets move to another backend for their
  // namespace, or wait for one for the grace period.
  void BackendDetached(const BackendLink* link);

  size_t socket_count() const { return sockets_.size(); }

 private:
  friend class Client;
  using Index = rooms::RoomIndex<Socket*>;

  // Sockets of `nsp` matching the target, collected first so the caller may
  // change rooms while acting on them.
  std::vector<Socket*> Resolve(std::string_view nsp, const pb::Target& target) const;
  Socket* Find(std::string_view sid, std::string_view nsp) const;
  pb::SocketInfo Describe(Socket& socket) const;
  // JoinRooms and LeaveRooms: the same selection, a different room operation.
  template <typename Command>
  void ChangeRooms(const Command& command, bool join,
                   const std::shared_ptr<CommandCollector>& collector);

  void Count(runtime::Counter runtime::ShardMetrics::*counter, uint64_t n = 1);
  void Connect(Client& client, std::string nsp, std::string auth_json);
  // Connection state recovery: asks the store for the socket a CONNECT's
  // `pid` names; false when the CONNECT asks for none (connect as usual).
  bool StartRestore(Client& client, const std::string& nsp, const std::string& auth_json);
  // The store's answer, on this shard: the socket restored with its rooms,
  // session and missed events, or connected afresh.
  void FinishRestore(uint64_t token, std::optional<RestoredSession> restored);
  // A socket created for a CONNECT: connected at once (always_connect), or
  // once the backend accepts.
  void NewSocket(Client& client, std::string nsp, std::string auth_json);
  void Accept(Socket& socket);
  // The CONNECT reply: the sid, and the pid when recovery is on.
  void SendConnected(Socket& socket);
  // What the store keeps of a recoverable socket.
  SessionState StateOf(Socket& socket) const;
  // Tells the store of a connected socket's state, when it keeps them.
  void Track(Socket& socket);
  void Reject(Socket& socket, std::string_view message, std::string_view data_json);
  // Removes a socket; tells the backend (when it was connected) and, for a
  // server-side disconnect, the client.
  void Remove(Socket& socket, std::string_view reason, bool tell_client);
  void OnEvent(Socket& socket, std::string data, std::optional<uint64_t> id,
               std::vector<std::string> attachments);
  void OnClientAck(Socket& socket, uint64_t id, std::string data,
                   std::vector<std::string> attachments);

  // Sends a message for the socket to its backend, or holds it while the
  // socket waits for one; false when the socket was dropped for overflowing.
  bool ToBackend(Socket& socket, pb::SidecarMessage message);
  // The socket's backend is gone: picks another (which hears of the socket and
  // gets the events it was owed), or makes the socket wait, or gives up on it
  // (false: the socket is gone).
  bool Repin(Socket& socket);
  // Hands a waiting socket to `backend`: its connect or adoption, then what it held.
  void Deliver(Socket& socket, std::shared_ptr<BackendLink> backend);
  void StartDecisionTimer(Socket& socket);
  // Arms the shard's timer for the end of `nsp`'s grace period.
  void WatchGrace(const std::string& nsp, std::chrono::steady_clock::time_point deadline);
  void OnGraceTimer(const std::string& nsp);
  // Gives up on a socket no backend took: closes its client's transport.
  void Abandon(Socket& socket, std::string_view why);
  void ArmUnackedTimer();
  void SweepUnacked();

  boost::asio::io_context& io_;
  HubConfig config_;
  const BackendDirectory& backends_;
  runtime::StringMap<Socket*> sockets_;
  runtime::StringMap<Index> rooms_;
  // Sockets waiting for a backend, and one timer per namespace for the end of its grace period.
  absl::flat_hash_set<Socket*> waiting_;
  runtime::StringMap<std::unique_ptr<boost::asio::steady_timer>> grace_timers_;
  // Events the backends owe acks for, over all sockets, and the timer forgetting old ones.
  size_t unacked_count_ = 0;
  boost::asio::steady_timer unacked_timer_;
  bool unacked_timer_armed_ = false;
  // Sockets waiting for the store to restore them, by request.
  absl::flat_hash_map<uint64_t, Socket*> restoring_;
  uint64_t next_restore_ = 1;
};

}  // namespace sidecar::socketio
