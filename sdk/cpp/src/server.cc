#include "socketio/server.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "batching_link.h"
#include "serial_executor.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

// How long the sidecar gets to end the stream after we closed our side.
constexpr std::chrono::seconds kCloseGrace{1};

// The server whose reader or handler runs on this thread: Shutdown must not
// wait for the very handler that calls it.
thread_local const Server* serving_thread_of = nullptr;

class ServingThreadScope {
 public:
  explicit ServingThreadScope(const Server* server) : previous_(serving_thread_of) {
    serving_thread_of = server;
  }
  ~ServingThreadScope() { serving_thread_of = previous_; }

 private:
  const Server* previous_;
};

void LogError(std::string_view what) { std::cerr << "socketio: " << what << std::endl; }

Handshake ToHandshake(const pb::Handshake& from) {
  Handshake handshake;
  for (const pb::KeyValue& header : from.headers()) {
    handshake.headers.emplace_back(absl::AsciiStrToLower(header.key()), header.value());
  }
  for (const pb::KeyValue& param : from.query()) {
    handshake.query.emplace_back(param.key(), param.value());
  }
  handshake.remote_address = from.remote_address();
  handshake.url = from.url();
  handshake.transport = from.transport();
  handshake.issued_unix_ms = from.issued_unix_ms();
  return handshake;
}

Json ParseObject(const std::string& text) {
  Json value = Json::parse(text.empty() ? "{}" : text, nullptr, /*allow_exceptions=*/false);
  return value.is_object() ? value : Json::object();
}

std::string Dump(const Json& value) {
  // Invalid UTF-8 is replaced rather than thrown on: one bad string must not
  // cost a client its session or its ack.
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::Status StatusOf(const pb::CommandResult& result) {
  if (result.code() == pb::CODE_OK_UNSPECIFIED) return absl::OkStatus();
  // The proto's codes follow google.rpc.Code, as absl's do.
  return absl::Status(static_cast<absl::StatusCode>(result.code()), result.message());
}

// Refusals that retrying cannot fix.
bool IsPermanent(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string ErrorMessage(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

// --- Handshake ---------------------------------------------------------------

std::optional<std::string> Handshake::Header(std::string_view name) const {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  for (const auto& [key, value] : headers) {
    if (key == lower) return value;
  }
  return std::nullopt;
}

std::optional<std::string> Handshake::Query(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// --- Server: handlers ----------------------------------------------------------

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      executor_(std::make_unique<SerialExecutor>(options_.async_handlers ? options_.threads : 1)) {}

Server::~Server() {
  Shutdown();
  // Joins the handler threads: handlers still running after the shutdown
  // timeout finish before the server goes.
  executor_.reset();
}

void Server::UpdateHandlers(const std::string& nsp, const std::function<void(Handlers&)>& change) {
  std::lock_guard lock(handlers_mutex_);
  auto& current = handlers_[nsp];
  auto updated = current ? std::make_shared<Handlers>(*current) : std::make_shared<Handlers>();
  change(*updated);
  current = std::move(updated);
}

std::shared_ptr<const Server::Handlers> Server::FindHandlers(std::string_view nsp) const {
  std::lock_guard lock(handlers_mutex_);
  auto it = handlers_.find(nsp);
  return it == handlers_.end() ? nullptr : it->second;
}

void Server::AddEventHandler(std::string nsp, std::string event, EventHandler handler) {
  UpdateHandlers(nsp, [&](Handlers& handlers) {
    handlers.raw_events.erase(event);
    handlers.events[std::move(event)] = std::move(handler);
  });
}

void Server::AddRawEventHandler(std::string nsp, std::string event, RawEventHandler handler) {
  UpdateHandlers(nsp, [&](Handlers& handlers) {
    handlers.events.erase(event);
    handlers.raw_events[std::move(event)] = std::move(handler);
  });
}

void Server::AddAnyHandler(std::string nsp, EventHandler handler) {
  UpdateHandlers(nsp, [&](Handlers& handlers) { handlers.any = std::move(handler); });
}

void Server::AddConnectHandler(std::string nsp, ConnectHandler handler) {
  UpdateHandlers(nsp, [&](Handlers& handlers) { handlers.connect = std::move(handler); });
}

void Server::OnDisconnect(std::string nsp, DisconnectHandler handler) {
  UpdateHandlers(nsp, [&](Handlers& handlers) { handlers.disconnect = std::move(handler); });
}

void Server::AddErrorHandler(std::string nsp, ErrorHandler handler) {
  UpdateHandlers(nsp, [&](Handlers& handlers) {
    handlers.error = [handler = std::move(handler)](Socket& socket, std::exception_ptr error) {
      return std::optional<Args>(handler(socket, error));
    };
  });
}

void Server::SetDefaultErrorHandler(ErrorHandler handler) {
  std::lock_guard lock(handlers_mutex_);
  default_error_ = std::make_shared<const ErrorHandler>(std::move(handler));
}

void Server::Register(std::shared_ptr<Namespace> object) {
  const std::string nsp = object->nsp();
  UpdateHandlers(nsp, [&](Handlers& handlers) {
    // Each handler shares the object, which may outlive the caller's pointer.
    for (const auto& [event, handler] : object->handlers_) {
      handlers.events[event] = [object, handler](Socket& socket, const Args& args) {
        return handler(socket, args);
      };
    }
    handlers.connect = [object](Socket& socket, const Json& auth) {
      object->OnConnect(socket, auth);
      return true;
    };
    handlers.disconnect = [object](Socket& socket, const std::string& reason) {
      object->OnDisconnect(socket, reason);
    };
    handlers.error = [object](Socket& socket, std::exception_ptr error) {
      return object->OnError(socket, error);
    };
  });
}

void Server::OnAttach(std::function<void()> hook) {
  std::lock_guard lock(handlers_mutex_);
  on_attach_ = std::move(hook);
}

Server::Outgoing Server::Hello() const {
  Outgoing message;
  pb::Hello* hello = message.mutable_hello();
  hello->set_name(options_.name);
  hello->set_accepts_batches(true);
  std::lock_guard lock(handlers_mutex_);
  // The sidecar refuses a Hello without namespaces; a server without
  // handlers still accepts connections to "/".
  if (handlers_.empty()) hello->add_namespaces()->set_namespace_("/");
  for (const auto& [nsp, handlers] : handlers_) {
    pb::NamespaceHandlers* declared = hello->add_namespaces();
    declared->set_namespace_(nsp);
    // With a catch-all every event is wanted; else only those with handlers
    // (none declared, for a namespace without event handlers, means all: the
    // proto cannot say "no events").
    if (!handlers->any) {
      for (const auto& [event, handler] : handlers->events) declared->add_events(event);
      for (const auto& [event, handler] : handlers->raw_events) declared->add_events(event);
    }
  }
  return message;
}

// --- Server: attaching ---------------------------------------------------------

absl::Status Server::Run(const std::string& address) {
  // gRPC's own reconnect backoff (up to two minutes) would otherwise hold
  // back reattaching long after the sidecar is back.
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                   static_cast<int>(options_.backoff_min.count()));
  arguments.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                   static_cast<int>(options_.backoff_min.count()));
  arguments.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                   static_cast<int>(options_.backoff_max.count()));
  auto channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), arguments);
  std::mt19937_64 random(std::random_device{}());
  std::chrono::milliseconds backoff = options_.backoff_min;
  int failures = 0;  // in a row: the first of an outage is logged, then every 20th
  for (;;) {
    if (stopping_) return absl::OkStatus();
    bool welcomed = false;
    absl::Status status = Serve(OpenGrpcLink(channel), &welcomed);
    if (stopping_) return absl::OkStatus();
    if (!welcomed && IsPermanent(status)) {
      return absl::Status(status.code(), absl::StrCat("the sidecar at ", address,
                                                      " refused this backend: ", status.message()));
    }
    if (welcomed) {
      backoff = options_.backoff_min;
      failures = 0;
    }
    // Jitter keeps many backends from reattaching in lockstep.
    std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
    auto wait = std::chrono::milliseconds(jitter(random));
    if (failures++ % 20 == 0) {
      LogError(absl::StrCat("not attached to the sidecar at ", address, " (", status.message(),
                            "); retrying with backoff"));
    }
    std::unique_lock lock(mutex_);
    if (state_cv_.wait_for(lock, wait, [this] { return stopping_.load(); })) {
      return absl::OkStatus();
    }
    backoff = std::min(options_.backoff_max, backoff * 2);
  }
}

absl::Status Server::Serve(std::shared_ptr<Link> link) { return Serve(std::move(link), nullptr); }

absl::Status Server::Serve(std::shared_ptr<Link> link, bool* welcomed) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      link->Close();
      return absl::OkStatus();
    }
    if (serving_) return absl::AlreadyExistsError("the server is already attached to a sidecar");
    serving_ = true;
  }
  // The reader runs on its own thread so that this one can time the graceful
  // shutdown while answers to running handlers keep arriving.
  std::atomic<bool> was_welcomed{false};
  bool reader_done = false;
  absl::Status status;
  std::thread reader([&] {
    ServingThreadScope scope(this);
    absl::Status result = ReadStream(link, &was_welcomed);
    std::lock_guard lock(mutex_);
    status = std::move(result);
    reader_done = true;
    state_cv_.notify_all();
  });
  bool stream_ended;
  {
    std::unique_lock lock(mutex_);
    state_cv_.wait(lock, [&] { return reader_done || stopping_; });
    stream_ended = reader_done;
  }
  // Shutting down: handlers already queued finish; new events are not started
  // (Dispatch drops them), while the answers they wait for still arrive.
  if (!stream_ended && was_welcomed && !executor_->WaitIdle(options_.shutdown_timeout)) {
    LogError("handlers still running at shutdown; closing the stream anyway");
  }
  std::shared_ptr<Attachment> attachment;
  {
    std::lock_guard lock(mutex_);
    attachment = std::move(attachment_);
    attached_ = false;
  }
  if (attachment) attachment->closed = true;
  link->Close();
  {
    std::unique_lock lock(mutex_);
    if (!state_cv_.wait_for(lock, kCloseGrace, [&] { return reader_done; })) {
      lock.unlock();
      link->Cancel();
    }
  }
  reader.join();
  FailPending(absl::UnavailableError("the stream to the sidecar ended"));
  if (welcomed != nullptr) *welcomed = was_welcomed;
  std::lock_guard lock(mutex_);
  serving_ = false;
  state_cv_.notify_all();
  return stopping_ ? absl::OkStatus() : status;
}

absl::Status Server::ReadStream(const std::shared_ptr<Link>& link, std::atomic<bool>* welcomed) {
  if (!link->Write(Hello())) {
    Message ignored;
    while (link->Read(&ignored)) {
    }
    absl::Status why = link->Finish();
    return why.ok() ? absl::UnavailableError("the sidecar closed the stream") : why;
  }
  Message welcome;
  if (!link->Read(&welcome)) {
    absl::Status why = link->Finish();
    return why.ok() ? absl::UnavailableError("the sidecar did not answer Hello") : why;
  }
  link->Processed();
  if (!welcome.has_welcome()) {
    return absl::InvalidArgumentError("the sidecar's first message is not Welcome");
  }
  auto attachment = std::make_shared<Attachment>();
  // Batches only to a sidecar that takes them: an older one would refuse the command.
  attachment->link =
      welcome.welcome().accepts_batches() ? std::make_shared<BatchingLink>(link) : link;
  attachment->always_connect = welcome.welcome().always_connect();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return absl::OkStatus();
    attachment_ = attachment;
    attached_ = true;
    // While detached we may have missed disconnects; sockets still connected
    // are looked up again on their next event.
    connections_.clear();
  }
  *welcomed = true;
  std::function<void()> on_attach;
  {
    std::lock_guard lock(handlers_mutex_);
    on_attach = on_attach_;
  }
  if (on_attach) on_attach();
  Message message;
  while (link->Read(&message)) {
    if (!message.has_batch()) {
      Dispatch(attachment, std::move(message));
      continue;
    }
    for (Message& each : *message.mutable_batch()->mutable_messages()) {
      Dispatch(attachment, std::move(each));
    }
  }
  absl::Status why = link->Finish();
  return absl::UnavailableError(
      absl::StrCat("the stream to the sidecar ended", why.ok() ? "" : ": ", why.message()));
}

void Server::Shutdown() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  state_cv_.notify_all();
  if (serving_thread_of == this) return;
  state_cv_.wait(lock, [this] { return !serving_; });
}

// --- Server: dispatch ----------------------------------------------------------

void Server::Post(const std::string& sid, std::function<void()> task) {
  executor_->Post(options_.async_handlers ? sid : std::string(), [this, task = std::move(task)] {
    ServingThreadScope scope(this);
    task();
  });
}

void Server::Dispatch(const std::shared_ptr<Attachment>& attachment, Message message) {
  Link& link = *attachment->link;
  switch (message.kind_case()) {
    case Message::kConnect:
    case Message::kEvent:
    case Message::kDisconnected: {
      if (stopping_) {
        link.Processed();
        return;
      }
      const std::string sid = message.has_connect() ? message.connect().sid()
                              : message.has_event() ? message.event().sid()
                                                    : message.disconnected().sid();
      auto shared = std::make_shared<Message>(std::move(message));
      Post(sid, [this, attachment, shared] {
        if (!attachment->closed) {
          if (shared->has_connect()) HandleConnect(*attachment, *shared);
          if (shared->has_event()) HandleEvent(*attachment, *shared);
          if (shared->has_disconnected()) HandleDisconnected(*shared);
        }
        attachment->link->Processed();
      });
      return;
    }
    case Message::kAdopted: {
      // Its previous backend went away: the socket is served here without a connect handler.
      // Known before the socket's next event is dispatched, which follows on the stream.
      const pb::Adopted& adopted = message.adopted();
      auto info = std::make_shared<const ConnectionInfo>(
          ConnectionInfo{adopted.handshake().SerializeAsString(), adopted.auth_json()});
      {
        std::lock_guard lock(mutex_);
        connections_[adopted.sid()] = Connection{info, std::nullopt, false};
      }
      link.Processed();
      return;
    }
    case Message::kClientAck:
    case Message::kCommandResult: {
      uint64_t id = message.has_client_ack() ? message.client_ack().request_id()
                                             : message.command_result().request_id();
      Pending pending;
      {
        std::lock_guard lock(mutex_);
        auto it = pending_.find(id);
        if (it != pending_.end()) {
          pending = it->second;
          if (message.has_command_result()) pending_.erase(it);
        }
      }
      if (pending.on_answer && pending.on_executor) {
        std::string key = message.has_client_ack() ? message.client_ack().sid() : std::string();
        auto shared = std::make_shared<Message>(std::move(message));
        Post(key, [attachment, shared, handler = std::move(pending.on_answer)] {
          handler(shared.get(), absl::OkStatus());
          attachment->link->Processed();
        });
        return;
      }
      if (pending.on_answer) {
        pending.on_answer(&message, absl::OkStatus());
      } else if (message.has_command_result() && id == 0) {
        // A command sent without a request id failed; nothing else knows of it.
        LogError(
            absl::StrCat("the sidecar refused a command: ", message.command_result().message()));
      }
      link.Processed();
      return;
    }
    default:
      link.Processed();
      return;
  }
}

void Server::HandleConnect(Attachment& attachment, const Message& message) {
  const pb::Connect& connect = message.connect();
  auto info = std::make_shared<const ConnectionInfo>(
      ConnectionInfo{connect.handshake().SerializeAsString(), connect.auth_json()});
  {
    std::lock_guard lock(mutex_);
    connections_[connect.sid()] = Connection{info, std::nullopt, false};
  }
  std::shared_ptr<const Handlers> handlers = FindHandlers(connect.namespace_());
  // A recovered socket is connected already, as with always_connect, and has its session back.
  const bool connected = attachment.always_connect || connect.recovered();
  Socket socket(
      *this, connect.sid(), connect.namespace_(), "connect", info->handshake, &info->auth_json,
      connect.recovered() && !connect.session_json().empty() ? connect.session_json() : "{}");
  socket.recovered_ = connect.recovered();
  // Before the sidecar hears the decision the socket does not exist for
  // commands, so the handler's own are held and follow the decision.
  std::vector<Outgoing> held;
  if (!connected) socket.held_ = &held;
  Outgoing decision;
  pb::ConnectDecision* answer = decision.mutable_connect_decision();
  answer->set_sid(connect.sid());
  answer->set_namespace_(connect.namespace_());
  answer->set_accept(true);
  try {
    if (handlers != nullptr && handlers->connect && !handlers->connect(socket, socket.auth())) {
      answer->set_accept(false);
    }
  } catch (const ConnectionRefusedError& refused) {
    answer->set_accept(false);
    answer->set_error_message(refused.what());
    if (!refused.data().is_null()) answer->set_error_data_json(Dump(refused.data()));
  } catch (...) {
    answer->set_accept(false);
    HandleError(socket, std::current_exception());
  }
  bool send_decision = !connected || !answer->accept();
  if (answer->accept()) {
    // A restored session the handler read is sent back whole, changed or not.
    if (socket.session_.has_value() &&
        (connect.recovered() || *socket.session_ != Json::object())) {
      std::string session = Dump(*socket.session_);
      answer->set_session_json(session);
      send_decision = true;
      std::lock_guard lock(mutex_);
      connections_[connect.sid()].session_json = std::move(session);
    }
  } else {
    std::lock_guard lock(mutex_);
    if (connected) {
      // Accepted already: events may arrive until the sidecar disconnects it.
      connections_[connect.sid()].rejected = true;
    } else {
      connections_.erase(connect.sid());  // a refused socket gets no Disconnected
    }
  }
  if (send_decision) attachment.link->Write(decision);
  if (answer->accept()) {
    for (const Outgoing& command : held) attachment.link->Write(command);
  }
}

Server::Connection Server::ConnectionOf(const std::string& sid, const std::string& nsp) {
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(sid);
    if (it != connections_.end()) return it->second;
  }
  // Connected before this backend attached: the sidecar knows the handshake
  // (the CONNECT payload is gone).
  Outgoing request;
  request.mutable_get_socket()->set_sid(sid);
  request.mutable_get_socket()->set_namespace_(nsp);
  absl::StatusOr<pb::CommandResult> result = RequestAndWait(std::move(request));
  auto info = std::make_shared<ConnectionInfo>();
  info->has_auth = false;
  if (result.ok() && StatusOf(*result).ok()) {
    info->handshake = result->socket().handshake().SerializeAsString();
  }
  std::lock_guard lock(mutex_);
  return connections_.try_emplace(sid, Connection{std::move(info), std::nullopt, false})
      .first->second;
}

void Server::HandleEvent(Attachment& attachment, const Message& message) {
  const pb::Event& event = message.event();
  // The handlers stay alive while `handlers` holds them: no copy of the function.
  std::shared_ptr<const Handlers> handlers = FindHandlers(event.namespace_());
  if (handlers == nullptr) return;
  const RawEventHandler* raw = nullptr;
  const EventHandler* handler = nullptr;
  if (auto it = handlers->raw_events.find(event.event()); it != handlers->raw_events.end()) {
    raw = &it->second;
  } else if (auto it = handlers->events.find(event.event()); it != handlers->events.end()) {
    handler = &it->second;
  } else if (handlers->any) {
    handler = &handlers->any;
  }
  if (raw == nullptr && handler == nullptr) {
    return;  // as in Flask-SocketIO, an ack nobody can give is never sent
  }
  Connection connection = ConnectionOf(event.sid(), event.namespace_());
  if (connection.rejected) return;
  const ConnectionInfo& info = *connection.info;
  Socket socket(*this, event.sid(), event.namespace_(), event.event(), info.handshake,
                info.has_auth ? &info.auth_json : nullptr,
                connection.session_json.value_or(event.session_json()));
  std::optional<Args> ack;
  std::optional<RawArgs> raw_ack;
  try {
    if (raw != nullptr) {
      raw_ack = (*raw)(socket, event.args());
    } else {
      absl::StatusOr<Args> args = DecodeArgs(event.args());
      if (!args.ok()) throw std::invalid_argument(std::string(args.status().message()));
      ack = (*handler)(socket, *args);
    }
  } catch (...) {
    ack = HandleError(socket, std::current_exception());
  }
  SaveSession(socket);
  if (event.has_ack_id() && (ack.has_value() || raw_ack.has_value())) {
    Outgoing out;
    pb::Ack* answer = out.mutable_ack();
    answer->set_sid(event.sid());
    answer->set_namespace_(event.namespace_());
    answer->set_ack_id(event.ack_id());
    *answer->mutable_args() = raw_ack.has_value() ? std::move(*raw_ack) : EncodeArgs(*ack);
    attachment.link->Write(out);
  }
}

void Server::HandleDisconnected(const Message& message) {
  const pb::Disconnected& disconnected = message.disconnected();
  Connection connection;
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(disconnected.sid());
    if (it != connections_.end()) {
      connection = std::move(it->second);
      connections_.erase(it);
    }
  }
  if (connection.rejected) return;
  std::shared_ptr<const Handlers> handlers = FindHandlers(disconnected.namespace_());
  if (handlers == nullptr || !handlers->disconnect) return;
  static const ConnectionInfo kUnknown{.handshake = {}, .auth_json = {}, .has_auth = false};
  const ConnectionInfo& info = connection.info ? *connection.info : kUnknown;
  Socket socket(*this, disconnected.sid(), disconnected.namespace_(), "disconnect", info.handshake,
                info.has_auth ? &info.auth_json : nullptr,
                connection.session_json.value_or(disconnected.session_json()));
  try {
    handlers->disconnect(socket, disconnected.reason());
  } catch (...) {
    HandleError(socket, std::current_exception());
  }
}

std::optional<Args> Server::HandleError(Socket& socket, std::exception_ptr error) {
  std::shared_ptr<const Handlers> handlers = FindHandlers(socket.nsp());
  std::shared_ptr<const ErrorHandler> fallback;
  {
    std::lock_guard lock(handlers_mutex_);
    fallback = default_error_;
  }
  try {
    if (handlers != nullptr && handlers->error) {
      if (std::optional<Args> ack = handlers->error(socket, error)) return ack;
    }
    if (fallback) return (*fallback)(socket, error);
  } catch (...) {
    LogError(absl::StrCat("the error handler of ", socket.nsp(),
                          " failed: ", ErrorMessage(std::current_exception()),
                          ", handling: ", ErrorMessage(error)));
    return std::nullopt;
  }
  LogError(absl::StrCat("handler of \"", socket.event(), "\" in ", socket.nsp(),
                        " failed: ", ErrorMessage(error)));
  return std::nullopt;
}

void Server::SaveSession(Socket& socket) {
  // A session the handler never looked at cannot have changed.
  if (!socket.session_.has_value()) return;
  std::string after = Dump(*socket.session_);
  if (after == socket.session_json_) return;
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(socket.sid());
    if (it == connections_.end()) return;  // gone meanwhile
    it->second.session_json = after;
  }
  Outgoing out;
  pb::SetSession* set = out.mutable_set_session();
  set->set_sid(socket.sid());
  set->set_namespace_(socket.nsp());
  set->set_session_json(std::move(after));
  Write(out).IgnoreError();  // detached: the sidecar keeps the previous session
}

// --- Server: commands ----------------------------------------------------------

std::chrono::milliseconds Server::Timeout(std::chrono::milliseconds requested) const {
  return requested.count() > 0 ? requested : options_.ack_timeout;
}

absl::Status Server::Write(const Outgoing& message) {
  std::shared_ptr<Attachment> attachment;
  {
    std::lock_guard lock(mutex_);
    attachment = attachment_;
  }
  if (!attachment) return absl::FailedPreconditionError("not attached to a sidecar");
  if (!attachment->link->Write(message)) {
    return absl::UnavailableError("the stream to the sidecar ended");
  }
  return absl::OkStatus();
}

absl::Status Server::Request(Outgoing message, AnswerHandler on_answer, bool on_executor) {
  uint64_t id;
  {
    std::lock_guard lock(mutex_);
    id = next_request_id_++;
    pending_[id] = Pending{std::move(on_answer), on_executor};
  }
  switch (message.kind_case()) {
    case Outgoing::kEmit:
      message.mutable_emit()->set_request_id(id);
      break;
    case Outgoing::kJoinRooms:
      message.mutable_join_rooms()->set_request_id(id);
      break;
    case Outgoing::kLeaveRooms:
      message.mutable_leave_rooms()->set_request_id(id);
      break;
    case Outgoing::kDisconnect:
      message.mutable_disconnect()->set_request_id(id);
      break;
    case Outgoing::kCloseRoom:
      message.mutable_close_room()->set_request_id(id);
      break;
    case Outgoing::kGetSocket:
      message.mutable_get_socket()->set_request_id(id);
      break;
    case Outgoing::kSetSession:
      message.mutable_set_session()->set_request_id(id);
      break;
    default:
      break;
  }
  absl::Status status = Write(message);
  if (!status.ok()) {
    std::lock_guard lock(mutex_);
    pending_.erase(id);
  }
  return status;
}

absl::StatusOr<pb::CommandResult> Server::RequestAndWait(Outgoing message) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<pb::CommandResult>>>();
  std::future<absl::StatusOr<pb::CommandResult>> result = promise->get_future();
  absl::Status sent =
      Request(std::move(message), [promise](const Message* answer, absl::Status status) {
        if (!status.ok()) return promise->set_value(status);
        if (answer->has_command_result()) promise->set_value(answer->command_result());
      });
  if (!sent.ok()) return sent;
  // The sidecar answers every command (in a cluster, within the ack timeout
  // plus a second); the wait is bounded anyway.
  if (result.wait_for(options_.ack_timeout + std::chrono::seconds(5)) !=
      std::future_status::ready) {
    return absl::DeadlineExceededError("the sidecar did not answer the command");
  }
  return result.get();
}

void Server::FailPending(absl::Status why) {
  std::map<uint64_t, Pending> pending;
  {
    std::lock_guard lock(mutex_);
    pending.swap(pending_);
  }
  for (auto& [id, request] : pending) request.on_answer(nullptr, why);
}

absl::StatusOr<Server::Outgoing> Server::BuildEmit(const std::string* self_sid,
                                                   const std::string& default_nsp,
                                                   std::string_view event, const Args& args,
                                                   const EmitOptions& options) const {
  if (event.empty()) return absl::InvalidArgumentError("the event name is empty");
  Outgoing message;
  pb::Emit* emit = message.mutable_emit();
  emit->set_namespace_(options.nsp.empty() ? default_nsp : options.nsp);
  emit->set_event(std::string(event));
  *emit->mutable_args() = EncodeArgs(args);
  emit->set_is_volatile(options.is_volatile);
  pb::Target* target = emit->mutable_target();
  for (const std::string& room : options.to) target->add_rooms(room);
  if (self_sid != nullptr) {
    if (options.to.empty() && !options.broadcast) {
      target->add_sids(*self_sid);
    } else if (!options.include_self) {
      target->add_except_sids(*self_sid);
    }
  }
  for (const std::string& sid : options.skip_sids) target->add_except_sids(sid);
  for (const std::string& room : options.except_rooms) target->add_except_rooms(room);
  return message;
}

absl::Status Server::EmitFrom(const std::string* self_sid, const std::string& default_nsp,
                              std::string_view event, Args args, EmitOptions options) {
  absl::StatusOr<Outgoing> built = BuildEmit(self_sid, default_nsp, event, args, options);
  if (!built.ok()) return built.status();
  Outgoing& message = *built;
  if (!options.callback) return Write(message);
  pb::Emit* emit = message.mutable_emit();
  emit->set_want_ack(true);
  emit->set_ack_timeout_ms(static_cast<uint32_t>(Timeout(options.timeout).count()));
  return Request(
      std::move(message),
      [callback = std::move(options.callback)](const Message* answer, absl::Status status) {
        if (!status.ok()) return;
        if (answer->has_client_ack()) {
          callback(answer->client_ack().sid(), DecodeArgs(answer->client_ack().args()));
          return;
        }
        const pb::CommandResult& result = answer->command_result();
        if (absl::Status refused = StatusOf(result); !refused.ok()) {
          LogError(absl::StrCat("the sidecar refused an emit: ", refused.message()));
        }
        for (const std::string& sid : result.ack_timed_out_sids()) {
          callback(sid, absl::DeadlineExceededError("the client did not answer in time"));
        }
      },
      /*on_executor=*/true);
}

absl::Status Server::Emit(std::string_view event, Args args, EmitOptions options) {
  return EmitFrom(nullptr, "/", event, std::move(args), std::move(options));
}

absl::Status Server::Send(Json data, EmitOptions options) {
  return Emit("message", Args{std::move(data)}, std::move(options));
}

absl::StatusOr<Args> Server::Call(std::string_view sid, std::string_view event, Args args,
                                  std::string_view nsp, std::chrono::milliseconds timeout) {
  EmitOptions options;
  options.to = {std::string(sid)};
  options.nsp = std::string(nsp);
  absl::StatusOr<Outgoing> built = BuildEmit(nullptr, "/", event, args, options);
  if (!built.ok()) return built.status();
  timeout = Timeout(timeout);
  built->mutable_emit()->set_want_ack(true);
  built->mutable_emit()->set_ack_timeout_ms(static_cast<uint32_t>(timeout.count()));
  auto promise = std::make_shared<std::promise<absl::StatusOr<Args>>>();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  std::future<absl::StatusOr<Args>> result = promise->get_future();
  auto answer_once = [promise, answered](absl::StatusOr<Args> answer) {
    if (!answered->exchange(true)) promise->set_value(std::move(answer));
  };
  // Answered on the reader: the caller may be a handler of this very socket,
  // whose queue is blocked until the answer comes.
  absl::Status sent = Request(*std::move(built), [answer_once, target = std::string(sid)](
                                                     const Message* answer, absl::Status status) {
    if (!status.ok()) return answer_once(status);
    if (answer->has_client_ack()) return answer_once(DecodeArgs(answer->client_ack().args()));
    const pb::CommandResult& result = answer->command_result();
    if (absl::Status refused = StatusOf(result); !refused.ok()) return answer_once(refused);
    if (!result.ack_timed_out_sids().empty()) {
      return answer_once(absl::DeadlineExceededError("the client did not answer in time"));
    }
    answer_once(absl::NotFoundError(absl::StrCat("no socket ", target)));
  });
  if (!sent.ok()) return sent;
  if (result.wait_for(timeout + std::chrono::seconds(5)) != std::future_status::ready) {
    return absl::DeadlineExceededError("the client did not answer in time");
  }
  return result.get();
}

namespace {

template <typename Command>
void FillRoomCommand(Command* command, std::string_view sid, std::string_view room,
                     std::string_view nsp) {
  command->set_namespace_(std::string(nsp));
  command->mutable_target()->add_sids(std::string(sid));
  command->add_rooms(std::string(room));
}

}  // namespace

absl::Status Server::JoinRoom(std::string_view sid, std::string_view room, std::string_view nsp) {
  Outgoing message;
  FillRoomCommand(message.mutable_join_rooms(), sid, room, nsp);
  absl::StatusOr<pb::CommandResult> result = RequestAndWait(std::move(message));
  return result.ok() ? StatusOf(*result) : result.status();
}

absl::Status Server::LeaveRoom(std::string_view sid, std::string_view room, std::string_view nsp) {
  Outgoing message;
  FillRoomCommand(message.mutable_leave_rooms(), sid, room, nsp);
  absl::StatusOr<pb::CommandResult> result = RequestAndWait(std::move(message));
  return result.ok() ? StatusOf(*result) : result.status();
}

absl::Status Server::CloseRoom(std::string_view room, std::string_view nsp) {
  Outgoing message;
  message.mutable_close_room()->set_namespace_(std::string(nsp));
  message.mutable_close_room()->set_room(std::string(room));
  absl::StatusOr<pb::CommandResult> result = RequestAndWait(std::move(message));
  return result.ok() ? StatusOf(*result) : result.status();
}

absl::StatusOr<std::vector<std::string>> Server::Rooms(std::string_view sid, std::string_view nsp) {
  Outgoing message;
  message.mutable_get_socket()->set_sid(std::string(sid));
  message.mutable_get_socket()->set_namespace_(std::string(nsp));
  absl::StatusOr<pb::CommandResult> result = RequestAndWait(std::move(message));
  if (!result.ok()) return result.status();
  if (absl::Status status = StatusOf(*result); !status.ok()) return status;
  std::vector<std::string> rooms;
  for (const std::string& room : result->socket().rooms()) rooms.push_back(room);
  return rooms;
}

absl::Status Server::Disconnect(std::string_view sid, std::string_view nsp) {
  Outgoing message;
  message.mutable_disconnect()->set_namespace_(std::string(nsp));
  message.mutable_disconnect()->mutable_target()->add_sids(std::string(sid));
  absl::StatusOr<pb::CommandResult> result = RequestAndWait(std::move(message));
  return result.ok() ? StatusOf(*result) : result.status();
}

// --- Socket --------------------------------------------------------------------

Socket::Socket(Server& server, std::string sid, std::string nsp, std::string event,
               std::string_view handshake, const std::string* auth_json, std::string session_json)
    : server_(server),
      sid_(std::move(sid)),
      nsp_(std::move(nsp)),
      event_(std::move(event)),
      handshake_bytes_(handshake),
      auth_json_(auth_json),
      session_json_(session_json.empty() ? "{}" : std::move(session_json)) {}

Json& Socket::session() {
  if (!session_.has_value()) session_ = ParseObject(session_json_);
  return *session_;
}

const Handshake& Socket::handshake() const {
  if (!handshake_.has_value()) {
    pb::Handshake message;
    if (!message.ParseFromArray(handshake_bytes_.data(),
                                static_cast<int>(handshake_bytes_.size()))) {
      message.Clear();
    }
    handshake_ = ToHandshake(message);
  }
  return *handshake_;
}

const Json& Socket::auth() const {
  if (!auth_.has_value()) auth_ = auth_json_ != nullptr ? ParseObject(*auth_json_) : Json();
  return *auth_;
}

namespace {

absl::Status NotAcceptedYet(std::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat(std::string(what), " needs an accepted connection: not in a connect handler"));
}

}  // namespace

absl::Status Socket::Emit(std::string_view event, Args args, EmitOptions options) {
  if (held_ != nullptr) {
    if (options.callback) return NotAcceptedYet("An emit with a callback");
    absl::StatusOr<pb::BackendMessage> message =
        server_.BuildEmit(&sid_, nsp_, event, args, options);
    if (!message.ok()) return message.status();
    held_->push_back(*std::move(message));
    return absl::OkStatus();
  }
  return server_.EmitFrom(&sid_, nsp_, event, std::move(args), std::move(options));
}

absl::Status Socket::Send(Json data, EmitOptions options) {
  return Emit("message", Args{std::move(data)}, std::move(options));
}

absl::StatusOr<Args> Socket::Call(std::string_view event, Args args,
                                  std::chrono::milliseconds timeout) {
  if (held_ != nullptr) return NotAcceptedYet("Call");
  return server_.Call(sid_, event, std::move(args), nsp_, timeout);
}

absl::Status Socket::JoinRoom(std::string_view room) {
  if (held_ != nullptr) {
    pb::BackendMessage message;
    FillRoomCommand(message.mutable_join_rooms(), sid_, room, nsp_);
    held_->push_back(std::move(message));
    return absl::OkStatus();
  }
  return server_.JoinRoom(sid_, room, nsp_);
}

absl::Status Socket::LeaveRoom(std::string_view room) {
  if (held_ != nullptr) {
    pb::BackendMessage message;
    FillRoomCommand(message.mutable_leave_rooms(), sid_, room, nsp_);
    held_->push_back(std::move(message));
    return absl::OkStatus();
  }
  return server_.LeaveRoom(sid_, room, nsp_);
}

absl::Status Socket::CloseRoom(std::string_view room) { return server_.CloseRoom(room, nsp_); }

absl::StatusOr<std::vector<std::string>> Socket::Rooms() {
  if (held_ != nullptr) return NotAcceptedYet("Rooms");
  return server_.Rooms(sid_, nsp_);
}

absl::Status Socket::Disconnect() {
  if (held_ != nullptr) return NotAcceptedYet("Disconnect (throw ConnectionRefusedError instead)");
  return server_.Disconnect(sid_, nsp_);
}

}  // namespace socketio
