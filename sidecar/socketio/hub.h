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
#include "sidecar/engineio/session.h"
#include "sidecar/rooms/room_index.h"
#include "sidecar/runtime/strings.h"
#include "socketio/sidecar/v1/sidecar.pb.h"

namespace sidecar::socketio {

namespace pb = ::socketio::sidecar::v1;

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
};

// Gathers the outcome of one backend command across shards and answers the
// backend with one CommandResult (when it asked, or when something failed).
class CommandCollector {
 public:
  CommandCollector(std::shared_ptr<BackendLink> reply_to, uint64_t request_id, size_t shards);

  void AddSockets(size_t count);
  void ExpectAck(const std::string& sid);
  // A client answered: forwards its ack to the backend.
  void AckReceived(const std::string& sid, pb::Payload args);
  void AckTimedOut(const std::string& sid);
  void SetSocket(pb::SocketInfo info);
  void Fail(pb::Code code, std::string message);
  // One shard finished its part (acks may still be outstanding).
  void ShardDone();

 private:
  void MaybeFinishLocked(std::unique_lock<std::mutex>& lock);

  std::shared_ptr<BackendLink> reply_to_;
  uint64_t request_id_;
  std::mutex mutex_;
  size_t shards_left_;
  absl::flat_hash_set<std::string> awaiting_acks_;
  pb::CommandResult result_;
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
};

struct HubConfig {
  uint32_t shard = 0;
  bool always_connect = false;
  std::chrono::milliseconds connect_timeout{45000};
  std::chrono::milliseconds connect_decision_timeout{5000};
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

  size_t socket_count() const { return sockets_.size(); }

 private:
  friend class Client;
  using Index = rooms::RoomIndex<Socket*>;

  // Sockets of `nsp` matching the target, collected first so the caller may
  // change rooms while acting on them.
  std::vector<Socket*> Resolve(std::string_view nsp, const pb::Target& target) const;
  Socket* Find(std::string_view sid, std::string_view nsp) const;
  // JoinRooms and LeaveRooms: the same selection, a different room operation.
  template <typename Command>
  void ChangeRooms(const Command& command, bool join,
                   const std::shared_ptr<CommandCollector>& collector);

  void Connect(Client& client, std::string nsp, std::string auth_json);
  void Accept(Socket& socket);
  void Reject(Socket& socket, std::string_view message, std::string_view data_json);
  // Removes a socket; tells the backend (when it was connected) and, for a
  // server-side disconnect, the client.
  void Remove(Socket& socket, std::string_view reason, bool tell_client);
  void OnEvent(Socket& socket, std::string data, std::optional<uint64_t> id,
               std::vector<std::string> attachments);
  void OnClientAck(Socket& socket, uint64_t id, std::string data,
                   std::vector<std::string> attachments);

  boost::asio::io_context& io_;
  HubConfig config_;
  const BackendDirectory& backends_;
  runtime::StringMap<Socket*> sockets_;
  runtime::StringMap<Index> rooms_;
};

}  // namespace sidecar::socketio
