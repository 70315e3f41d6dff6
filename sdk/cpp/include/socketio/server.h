#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "socketio/errors.h"
#include "socketio/link.h"
#include "socketio/payload.h"
#include "socketio/socket.h"

namespace socketio {

// Returns the client's ack: its arguments ({} for an ack without any).
using EventHandler = std::function<Args(Socket&, const Args& args)>;
// Throws ConnectionRefusedError to refuse; returning accepts.
using ConnectHandler = std::function<void(Socket&, const Json& auth)>;
using DisconnectHandler = std::function<void(Socket&, const std::string& reason)>;
// Gets what a handler threw (std::rethrow_exception to inspect it); returns
// the ack sent in the handler's stead, as Flask-SocketIO's on_error.
using ErrorHandler = std::function<Args(Socket&, std::exception_ptr error)>;

struct ServerOptions {
  // Named in the sidecar's logs.
  std::string name = "cpp-backend";
  // Different clients' handlers run concurrently on `threads` threads; one
  // client's run one at a time, in order. False runs every handler in turn.
  bool async_handlers = true;
  size_t threads = 4;
  // How long Call, emit callbacks and commands wait for an answer.
  std::chrono::milliseconds ack_timeout{10000};
  // Reattaching after the stream to the sidecar is lost: exponential backoff
  // with jitter between these bounds.
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  // How long Shutdown lets running handlers finish.
  std::chrono::milliseconds shutdown_timeout{10000};
};

// A class-based namespace (Flask-SocketIO's Namespace): a dispatch table of
// member functions, filled in the constructor, plus overridable connect,
// disconnect and error hooks.
//
//   class Chat : public socketio::Namespace {
//    public:
//     Chat() : Namespace("/chat") { On("message", &Chat::OnMessage); }
//     socketio::Args OnMessage(socketio::Socket& socket, const socketio::Args& args) { ... }
//   };
//   server.Register(std::make_shared<Chat>());
class Namespace {
 public:
  explicit Namespace(std::string nsp) : nsp_(std::move(nsp)) {}
  virtual ~Namespace() = default;
  const std::string& nsp() const { return nsp_; }

  virtual void OnConnect(Socket&, const Json& /*auth*/) {}
  virtual void OnDisconnect(Socket&, const std::string& /*reason*/) {}
  // The handled error's ack, or nullopt to pass it to the default error handler.
  virtual std::optional<Args> OnError(Socket&, std::exception_ptr) { return std::nullopt; }

 protected:
  template <typename Derived>
  void On(std::string event, Args (Derived::*method)(Socket&, const Args&)) {
    auto* self = static_cast<Derived*>(this);
    handlers_.emplace_back(std::move(event), [self, method](Socket& s, const Args& a) {
      return (self->*method)(s, a);
    });
  }
  template <typename Derived>
  void On(std::string event, void (Derived::*method)(Socket&, const Args&)) {
    auto* self = static_cast<Derived*>(this);
    handlers_.emplace_back(std::move(event), [self, method](Socket& s, const Args& a) {
      (self->*method)(s, a);
      return Args{};
    });
  }

 private:
  friend class Server;
  std::string nsp_;
  std::vector<std::pair<std::string, EventHandler>> handlers_;
};

class SerialExecutor;

// A Socket.IO backend behind socketio-sidecar, with Flask-SocketIO's handler
// model: register handlers, then Run. Safe for concurrent use once running:
// background threads may emit and manage rooms at any time.
class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // --- Handlers (register before Run) ---
  void On(std::string nsp, std::string event, EventHandler handler);
  // Flask's send()/`message` event.
  void OnMessage(std::string nsp, EventHandler handler);
  // Events without a handler of their own; Socket::event() names them.
  void OnAny(std::string nsp, EventHandler handler);
  void OnConnect(std::string nsp, ConnectHandler handler);
  void OnDisconnect(std::string nsp, DisconnectHandler handler);
  void OnError(std::string nsp, ErrorHandler handler);
  void OnErrorDefault(ErrorHandler handler);
  void Register(std::shared_ptr<Namespace> handlers);
  // Called each time the sidecar welcomed this backend (after every reattach).
  void OnAttach(std::function<void()> hook);

  // --- Running ---
  // Attaches to the sidecar at `address` and serves until Shutdown, attaching
  // again with backoff whenever the stream is lost. OK after Shutdown.
  absl::Status Run(const std::string& address);
  // Serves one stream until it ends (used by Run and the test client).
  absl::Status Serve(std::shared_ptr<Link> link);
  // Stops Run: no more events are read, running handlers get up to
  // shutdown_timeout to finish, then the stream is closed. Thread-safe.
  void Shutdown();
  bool attached() const { return attached_; }

  // --- Commands, for use anywhere (a handler's Socket has bound variants) ---
  // Flask-SocketIO's socketio.emit: the whole namespace unless `to` says otherwise.
  absl::Status Emit(std::string_view event, Args args = {}, EmitOptions options = {});
  absl::Status Send(Json data, EmitOptions options = {});
  // Emits to one socket and waits for its ack.
  absl::StatusOr<Args> Call(std::string_view sid, std::string_view event, Args args = {},
                            std::string_view nsp = "/",
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  absl::Status JoinRoom(std::string_view sid, std::string_view room, std::string_view nsp = "/");
  absl::Status LeaveRoom(std::string_view sid, std::string_view room, std::string_view nsp = "/");
  absl::Status CloseRoom(std::string_view room, std::string_view nsp = "/");
  absl::StatusOr<std::vector<std::string>> Rooms(std::string_view sid, std::string_view nsp = "/");
  absl::Status Disconnect(std::string_view sid, std::string_view nsp = "/");

 private:
  friend class Socket;
  struct Handlers {
    std::map<std::string, EventHandler, std::less<>> events;
    EventHandler any;
    ConnectHandler connect;
    DisconnectHandler disconnect;
    std::function<std::optional<Args>(Socket&, std::exception_ptr)> error;
  };
  // What a socket's handlers see of its connection; immutable once connected.
  struct ConnectionInfo {
    Handshake handshake;
    Json auth;
  };
  // What a connected socket keeps between its events.
  struct Connection {
    std::shared_ptr<const ConnectionInfo> info;
    // The session as this backend last saved it, newer than what events carry.
    std::optional<std::string> session_json;
  };
  using Message = ::socketio::sidecar::v1::SidecarMessage;
  using Outgoing = ::socketio::sidecar::v1::BackendMessage;

  absl::Status Serve(std::shared_ptr<Link> link, bool* welcomed);
  Handlers& HandlersFor(const std::string& nsp);
  const Handlers* FindHandlers(std::string_view nsp) const;
  void Dispatch(const std::shared_ptr<Link>& link, Message message);
  void HandleConnect(const std::shared_ptr<Link>& link, const Message& message);
  void HandleEvent(const std::shared_ptr<Link>& link, const Message& message);
  void HandleDisconnected(const std::shared_ptr<Link>& link, const Message& message);
  Args HandleError(Socket& socket, std::exception_ptr error);
  // Saves the session if the handler changed it.
  void SaveSession(Socket& socket);
  void Post(const std::string& sid, std::function<void()> task);

  absl::Status Write(const Outgoing& message);
  // Sends a command carrying a request id; `on_answer` gets its ClientAcks
  // and, last, its CommandResult (or a failure status).
  using AnswerHandler = std::function<void(const Message*, absl::Status)>;
  // With `on_executor`, answers are handled on the handler threads (keyed by
  // the answering socket), so the handler may block; else on the reader.
  absl::Status Request(Outgoing message, AnswerHandler on_answer, bool on_executor = false);
  // Sends a command and waits for its CommandResult.
  absl::StatusOr<::socketio::sidecar::v1::CommandResult> RequestAndWait(Outgoing message);
  absl::StatusOr<Outgoing> BuildEmit(const std::string* self_sid, const std::string& default_nsp,
                                     std::string_view event, const Args& args,
                                     const EmitOptions& options) const;
  absl::Status EmitFrom(const std::string* self_sid, const std::string& default_nsp,
                        std::string_view event, Args args, EmitOptions options,
                        bool callback_on_executor = true);
  void FailPending(absl::Status why);
  std::chrono::milliseconds Timeout(std::chrono::milliseconds requested) const;

  ServerOptions options_;
  std::unique_ptr<SerialExecutor> executor_;

  mutable std::mutex handlers_mutex_;
  std::map<std::string, Handlers, std::less<>> handlers_;
  ErrorHandler default_error_;

  std::mutex mutex_;
  std::condition_variable stopped_cv_;
  bool stopping_ = false;
  std::shared_ptr<Link> link_;
  std::atomic<bool> attached_{false};
  std::atomic<bool> always_connect_{false};
  uint64_t next_request_id_ = 1;
  struct Pending {
    AnswerHandler on_answer;
    bool on_executor = false;
  };
  std::map<uint64_t, Pending> pending_;
  std::function<void()> on_attach_;
  std::map<std::string, Connection, std::less<>> connections_;
};

}  // namespace socketio
