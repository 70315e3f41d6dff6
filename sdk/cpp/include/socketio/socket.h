#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "socketio/payload.h"
#include "socketio/sidecar/v1/sidecar.pb.h"

namespace socketio {

class Server;

// The HTTP request that opened the client's connection (Flask's request.environ).
struct Handshake {
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::vector<std::pair<std::string, std::string>> query;
  std::string remote_address;  // "ip:port"
  std::string url;             // e.g. "/socket.io/?EIO=4&transport=polling"
  std::string transport;       // "polling" or "websocket"
  int64_t issued_unix_ms = 0;

  // The first value of a header (name in any case) or query parameter.
  std::optional<std::string> Header(std::string_view name) const;
  std::optional<std::string> Query(std::string_view name) const;
};

// How an emit is addressed and delivered; Flask-SocketIO's emit() keyword arguments.
struct EmitOptions {
  // Rooms (or sids, as each socket is in a room named by its sid) to emit to
  // (Flask's `to`/`room`).
  std::vector<std::string> to{};
  // The whole namespace (Flask's `broadcast=True`).
  bool broadcast = false;
  // With `to` or `broadcast` from a handler: false leaves the sender out.
  bool include_self = true;
  // Sockets to leave out (Flask's `skip_sid`).
  std::vector<std::string> skip_sids{};
  // Another namespace than the socket's (or "/" outside handlers).
  std::string nsp{};
  // Ask each receiving client for an ack: called once per socket with its
  // answer, or with DEADLINE_EXCEEDED when it did not answer within `timeout`.
  // Runs on the handler threads, in order with that socket's handlers.
  std::function<void(const std::string& sid, absl::StatusOr<Args> answer)> callback{};
  // 0 means the server's ack timeout.
  std::chrono::milliseconds timeout{0};
  // Drop the packet for clients that are behind (socket.io's volatile).
  bool is_volatile = false;
  // Leave out sockets in these rooms (socket.io's `except`).
  std::vector<std::string> except_rooms{};
};

// One client's connection to one namespace, as a handler sees it (Flask's
// `request.sid`, `request.namespace`, `session`, and emit/send/rooms bound to
// the client). Valid for the duration of the handler call; use the Server's
// commands (by sid) from other threads.
class Socket {
 public:
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  const std::string& sid() const { return sid_; }
  const std::string& nsp() const { return nsp_; }
  // The event being handled ("connect", "disconnect" or the client's event).
  const std::string& event() const { return event_; }
  // Empty only for a socket that connected before this backend attached and
  // that the sidecar no longer knows.
  const Handshake& handshake() const;
  // The client's CONNECT payload (socket.io-client's `auth`); null for a
  // socket that connected before this backend attached.
  const Json& auth() const;
  // The per-connection session, a JSON object kept by the sidecar (it
  // survives a restart of the backend); changes are saved when the handler
  // returns.
  Json& session();
  // Connection state recovery (--connection_state_recovery; socket.io's
  // `socket.recovered`): in a connect handler, true when the client lost its
  // transport and came back within the window, and the sidecar restored the
  // same sid, rooms and session (in session()) and replayed the events it
  // missed. The disconnect handler ran when the transport dropped; the socket
  // is connected already, so the handler may skip its set-up, and a refusal
  // disconnects it.
  bool recovered() const { return recovered_; }
  Server& server() { return server_; }

  // To this client by default; `to`/`broadcast` address others. In a connect
  // handler, emits and room joins are held until the connection is accepted
  // (and dropped if it is refused); Call, Rooms and Disconnect fail there.
  absl::Status Emit(std::string_view event, Args args = {}, EmitOptions options = {});
  // The `message` event (Flask's send()).
  absl::Status Send(Json data, EmitOptions options = {});
  // Emits to this client and waits for its ack (Flask-SocketIO's call()).
  absl::StatusOr<Args> Call(std::string_view event, Args args = {},
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  absl::Status JoinRoom(std::string_view room);
  absl::Status LeaveRoom(std::string_view room);
  absl::Status CloseRoom(std::string_view room);
  absl::StatusOr<std::vector<std::string>> Rooms();
  absl::Status Disconnect();

 private:
  friend class Server;
  // `handshake` (a serialised Handshake message), `auth_json` (null: unknown) and
  // `session_json` are parsed only if the handler reads them; they outlive the socket.
  Socket(Server& server, std::string sid, std::string nsp, std::string event,
         std::string_view handshake, const std::string* auth_json, std::string session_json);

  // Non-null in a connect handler whose connection is not accepted yet.
  std::vector<::socketio::sidecar::v1::BackendMessage>* held_ = nullptr;
  Server& server_;
  std::string sid_;
  std::string nsp_;
  std::string event_;
  std::string_view handshake_bytes_;
  const std::string* auth_json_;
  mutable std::optional<Handshake> handshake_;
  mutable std::optional<Json> auth_;
  std::string session_json_;
  std::optional<Json> session_;
  bool recovered_ = false;
};

}  // namespace socketio
