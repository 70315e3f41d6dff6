#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "socketio/errors.h"
#include "socketio/link.h"
#include "socketio/payload.h"
#include "socketio/socket.h"

namespace socketio {

// Handlers as the Server stores them. Register them through On, OnConnect,
// ... which also take callables returning something else (see internal::AckOfResult).
//
// Returns the client's ack: its arguments ({} for an ack without any).
using EventHandler = std::function<Args(Socket&, const Args& args)>;
// Takes and returns the arguments undecoded (see RawArgs); returns the ack's.
using RawEventHandler = std::function<RawArgs(Socket&, const RawArgs& args)>;
// Returns false (or throws ConnectionRefusedError) to refuse the connection.
using ConnectHandler = std::function<bool(Socket&, const Json& auth)>;
using DisconnectHandler = std::function<void(Socket&, const std::string& reason)>;
// Gets what a handler threw (std::rethrow_exception to inspect it, or
// ErrorMessage); returns the ack sent in the handler's stead, as
// Flask-SocketIO's on_error.
using ErrorHandler = std::function<Args(Socket&, std::exception_ptr error)>;

namespace internal {

template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};

// The ack a handler's result stands for: void is an ack without arguments,
// Args its arguments, anything else convertible to Json its one argument. A
// non-OK absl::Status or StatusOr goes to the error handler as a StatusError;
// an OK one is an ack without arguments, or of the StatusOr's value.
template <typename Result>
Args AckOfResult(Result&& result) {
  using Value = std::decay_t<Result>;
  if constexpr (std::is_same_v<Value, Args>) {
    return std::forward<Result>(result);
  } else if constexpr (std::is_same_v<Value, absl::Status>) {
    if (!result.ok()) throw StatusError(std::forward<Result>(result));
    return Args{};
  } else if constexpr (IsStatusOr<Value>::value) {
    if (!result.ok()) throw StatusError(result.status());
    return AckOfResult(*std::forward<Result>(result));
  } else {
    static_assert(std::is_constructible_v<Json, Result>,
                  "a handler returns void, socketio::Args, absl::Status(Or), or a value "
                  "convertible to Json");
    return Args{Json(std::forward<Result>(result))};
  }
}

template <typename Callable, typename... Params>
Args AckOf(const Callable& callable, Params&&... params) {
  if constexpr (std::is_void_v<std::invoke_result_t<const Callable&, Params...>>) {
    std::invoke(callable, std::forward<Params>(params)...);
    return Args{};
  } else {
    return AckOfResult(std::invoke(callable, std::forward<Params>(params)...));
  }
}

// A handler taking RawArgs (and not Args, as a generic lambda would).
template <typename Handler>
inline constexpr bool kTakesRawArgs =
    std::is_invocable_v<const Handler&, Socket&, const RawArgs&> &&
    !std::is_invocable_v<const Handler&, Socket&, const Args&>;

template <typename Handler>
RawEventHandler MakeRawEventHandler(Handler handler) {
  return [handler = std::move(handler)](Socket& socket, const RawArgs& args) -> RawArgs {
    using Result = std::decay_t<std::invoke_result_t<const Handler&, Socket&, const RawArgs&>>;
    if constexpr (std::is_void_v<Result>) {
      handler(socket, args);
      return RawArgs();
    } else if constexpr (std::is_same_v<Result, absl::Status>) {
      absl::Status status = handler(socket, args);
      if (!status.ok()) throw StatusError(std::move(status));
      return RawArgs();
    } else if constexpr (IsStatusOr<Result>::value) {
      Result result = handler(socket, args);
      if (!result.ok()) throw StatusError(result.status());
      return *std::move(result);
    } else {
      static_assert(std::is_same_v<Result, RawArgs>,
                    "a RawArgs handler returns RawArgs, void or absl::Status(Or<RawArgs>)");
      return handler(socket, args);
    }
  };
}

template <typename Handler>
EventHandler MakeEventHandler(Handler handler) {
  return [handler = std::move(handler)](Socket& socket, const Args& args) {
    return AckOf(handler, socket, args);
  };
}

template <typename Handler>
ConnectHandler MakeConnectHandler(Handler handler) {
  return [handler = std::move(handler)](Socket& socket, const Json& auth) {
    using Result = std::invoke_result_t<const Handler&, Socket&, const Json&>;
    if constexpr (std::is_void_v<Result>) {
      handler(socket, auth);
      return true;
    } else if constexpr (std::is_same_v<std::decay_t<Result>, absl::Status>) {
      // A failure is an error (for the error handlers) that refuses the connection.
      absl::Status status = handler(socket, auth);
      if (!status.ok()) throw StatusError(std::move(status));
      return true;
    } else {
      return static_cast<bool>(handler(socket, auth));
    }
  };
}

template <typename Handler>
ErrorHandler MakeErrorHandler(Handler handler) {
  return [handler = std::move(handler)](Socket& socket, std::exception_ptr error) {
    return AckOf(handler, socket, error);
  };
}

}  // namespace internal

struct ServerOptions {
  // Named in the sidecar's logs.
  std::string name = "cpp-backend";
  // Different clients' handlers run concurrently on `threads` threads; one
  // client's run one at a time, in order. False runs every handler in turn
  // (Flask-SocketIO's async_handlers).
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
//     void OnConnect(socketio::Socket& socket, const socketio::Json& auth) override;
//     socketio::Json OnMessage(socketio::Socket& socket, const socketio::Args& args);
//   };
//   server.Register(std::make_shared<Chat>());
class Namespace {
 public:
  explicit Namespace(std::string nsp) : nsp_(std::move(nsp)) {}
  virtual ~Namespace() = default;
  const std::string& nsp() const { return nsp_; }

  // Throws ConnectionRefusedError to refuse the connection.
  virtual void OnConnect(Socket&, const Json& /*auth*/) {}
  virtual void OnDisconnect(Socket&, const std::string& /*reason*/) {}
  // The handled error's ack, or nullopt to pass it to the default error handler.
  virtual std::optional<Args> OnError(Socket&, std::exception_ptr) { return std::nullopt; }

 protected:
  // `method` returns what an event handler may return (see Server::On).
  template <typename Derived, typename Result>
  void On(std::string event, Result (Derived::*method)(Socket&, const Args&)) {
    static_assert(std::is_base_of_v<Namespace, Derived>);
    auto* self = static_cast<Derived*>(this);
    handlers_.emplace_back(std::move(event),
                           internal::MakeEventHandler([self, method](Socket& s, const Args& a) {
                             return (self->*method)(s, a);
                           }));
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
  ~Server();  // shuts down
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // --- Handlers (register before Run; later ones are declared on reattach) ---
  //
  // An event handler is called as handler(Socket&, const Args&) and returns
  // the client's ack: socketio::Args (its arguments), any other value
  // convertible to Json (its one argument), or void (no arguments). It may
  // also return absl::Status or absl::StatusOr<one of those>: a failure goes
  // to the error handler as a StatusError. The ack is sent only if the client
  // asked for one.
  //
  // A handler called as handler(Socket&, const RawArgs&) gets the arguments
  // undecoded and returns the ack's as RawArgs (or void, or absl::Status(Or)):
  // no JSON is parsed or written for it.
  template <typename Handler>
  void On(std::string nsp, std::string event, Handler handler) {
    if constexpr (internal::kTakesRawArgs<Handler>) {
      AddRawEventHandler(std::move(nsp), std::move(event),
                         internal::MakeRawEventHandler(std::move(handler)));
    } else {
      AddEventHandler(std::move(nsp), std::move(event),
                      internal::MakeEventHandler(std::move(handler)));
    }
  }
  // Flask's send()/`message` event.
  template <typename Handler>
  void OnMessage(std::string nsp, Handler handler) {
    On(std::move(nsp), "message", std::move(handler));
  }
  // Events without a handler of their own (Flask's on('*')); Socket::event()
  // names them.
  template <typename Handler>
  void OnAny(std::string nsp, Handler handler) {
    AddAnyHandler(std::move(nsp), internal::MakeEventHandler(std::move(handler)));
  }
  // handler(Socket&, const Json& auth) returns void, bool or absl::Status;
  // false, throwing ConnectionRefusedError, or a failure (which also goes to
  // the error handler) refuses the connection.
  template <typename Handler>
  void OnConnect(std::string nsp, Handler handler) {
    AddConnectHandler(std::move(nsp), internal::MakeConnectHandler(std::move(handler)));
  }
  void OnDisconnect(std::string nsp, DisconnectHandler handler);
  // handler(Socket&, std::exception_ptr) returns the ack, as an event handler does.
  template <typename Handler>
  void OnError(std::string nsp, Handler handler) {
    AddErrorHandler(std::move(nsp), internal::MakeErrorHandler(std::move(handler)));
  }
  // For namespaces without an error handler, or whose Namespace::OnError
  // passed. Without any, errors are logged and no ack is sent.
  template <typename Handler>
  void OnErrorDefault(Handler handler) {
    SetDefaultErrorHandler(internal::MakeErrorHandler(std::move(handler)));
  }
  void Register(std::shared_ptr<Namespace> handlers);
  // Called each time the sidecar welcomed this backend (after every reattach).
  void OnAttach(std::function<void()> hook);

  // --- Running ---
  // Attaches to the sidecar at `address` and serves until Shutdown, attaching
  // again with backoff whenever the stream is lost or the sidecar is not
  // there. OK after Shutdown; an error only if the sidecar refuses this
  // backend for good (e.g. an invalid Hello).
  absl::Status Run(const std::string& address);
  // Serves one stream until it ends or Shutdown (Run calls it for each gRPC
  // stream; the test client for its in-memory one).
  absl::Status Serve(std::shared_ptr<Link> link);
  // Stops Run and Serve: no new events are handled, running and queued ones
  // get up to shutdown_timeout to finish, then the stream is closed. Waits for
  // that, except when called from a handler. Thread-safe; further calls do
  // nothing.
  void Shutdown();
  bool attached() const { return attached_; }

  // --- Commands, for use anywhere (a handler's Socket has bound variants) ---
  // They fail with FAILED_PRECONDITION while no sidecar is attached. Emits
  // return once sent; the others wait for the sidecar's answer.
  //
  // Flask-SocketIO's socketio.emit: the whole namespace unless `to` says otherwise.
  absl::Status Emit(std::string_view event, Args args = {}, EmitOptions options = {});
  absl::Status Send(Json data, EmitOptions options = {});
  // Emits to one socket and waits for its ack: DEADLINE_EXCEEDED when it did
  // not answer in time, NOT_FOUND when there is no such socket.
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
  using Message = ::socketio::sidecar::v1::SidecarMessage;
  using Outgoing = ::socketio::sidecar::v1::BackendMessage;

  struct Handlers {
    std::map<std::string, EventHandler, std::less<>> events;
    std::map<std::string, RawEventHandler, std::less<>> raw_events;
    EventHandler any;
    ConnectHandler connect;
    DisconnectHandler disconnect;
    std::function<std::optional<Args>(Socket&, std::exception_ptr)> error;
  };
  // What a socket's handlers see of its connection; immutable once connected. Kept as the
  // sidecar sent it and parsed by the sockets whose handlers read it: an idle connection holds
  // a few hundred bytes instead of a parsed Handshake's string per header.
  struct ConnectionInfo {
    std::string handshake;  // a serialised pb::Handshake; empty when unknown
    std::string auth_json;
    bool has_auth = true;  // false for a socket that connected before this backend attached
  };
  // What a connected socket keeps between its events.
  struct Connection {
    std::shared_ptr<const ConnectionInfo> info;
    // The session as this backend last saved it, newer than what events carry.
    std::optional<std::string> session_json;
    // Refused after an always_connect acceptance: its events are not handled.
    bool rejected = false;
  };
  // One welcomed stream. Work queued for it is dropped once it is closed.
  struct Attachment {
    std::shared_ptr<Link> link;
    bool always_connect = false;
    std::atomic<bool> closed{false};
  };
  using AnswerHandler = std::function<void(const Message*, absl::Status)>;
  struct Pending {
    AnswerHandler on_answer;
    bool on_executor = false;
  };

  void AddEventHandler(std::string nsp, std::string event, EventHandler handler);
  void AddRawEventHandler(std::string nsp, std::string event, RawEventHandler handler);
  void AddAnyHandler(std::string nsp, EventHandler handler);
  void AddConnectHandler(std::string nsp, ConnectHandler handler);
  void AddErrorHandler(std::string nsp, ErrorHandler handler);
  void SetDefaultErrorHandler(ErrorHandler handler);
  // Copy-on-write, so that dispatch reads a namespace's handlers without a lock.
  void UpdateHandlers(const std::string& nsp, const std::function<void(Handlers&)>& change);
  std::shared_ptr<const Handlers> FindHandlers(std::string_view nsp) const;
  Outgoing Hello() const;

  absl::Status Serve(std::shared_ptr<Link> link, bool* welcomed);
  // Reads Welcome, then dispatches until the stream ends; on the reader thread.
  absl::Status ReadStream(const std::shared_ptr<Link>& link, std::atomic<bool>* welcomed);
  void Dispatch(const std::shared_ptr<Attachment>& attachment, Message message);
  void HandleConnect(Attachment& attachment, const Message& message);
  void HandleEvent(Attachment& attachment, const Message& message);
  void HandleDisconnected(const Message& message);
  // The ack of a failed handler, if an error handler chose one.
  std::optional<Args> HandleError(Socket& socket, std::exception_ptr error);
  // Saves the session if the handler changed it.
  void SaveSession(Socket& socket);
  // What the SDK knows of a socket, looked up in the sidecar for one that
  // connected before this backend attached.
  Connection ConnectionOf(const std::string& sid, const std::string& nsp);
  void Post(const std::string& sid, std::function<void()> task);

  absl::Status Write(const Outgoing& message);
  // Sends a command carrying a request id; `on_answer` gets its ClientAcks
  // and, last, its CommandResult (or a failure status). With `on_executor`,
  // answers are handled on the handler threads (keyed by the answering
  // socket), so the handler may block; else on the reader, so it must not.
  absl::Status Request(Outgoing message, AnswerHandler on_answer, bool on_executor = false);
  // Sends a command and waits for its CommandResult.
  absl::StatusOr<::socketio::sidecar::v1::CommandResult> RequestAndWait(Outgoing message);
  absl::StatusOr<Outgoing> BuildEmit(const std::string* self_sid, const std::string& default_nsp,
                                     std::string_view event, const Args& args,
                                     const EmitOptions& options) const;
  absl::Status EmitFrom(const std::string* self_sid, const std::string& default_nsp,
                        std::string_view event, Args args, EmitOptions options);
  void FailPending(absl::Status why);
  std::chrono::milliseconds Timeout(std::chrono::milliseconds requested) const;

  ServerOptions options_;
  std::unique_ptr<SerialExecutor> executor_;

  mutable std::mutex handlers_mutex_;
  std::map<std::string, std::shared_ptr<const Handlers>, std::less<>> handlers_;
  std::shared_ptr<const ErrorHandler> default_error_;
  std::function<void()> on_attach_;

  std::mutex mutex_;
  std::condition_variable state_cv_;
  // Set under mutex_ (for state_cv_); read without it on the reader thread.
  std::atomic<bool> stopping_{false};
  bool serving_ = false;
  std::shared_ptr<Attachment> attachment_;
  std::atomic<bool> attached_{false};
  uint64_t next_request_id_ = 1;
  std::map<uint64_t, Pending> pending_;
  std::map<std::string, Connection, std::less<>> connections_;
};

}  // namespace socketio
