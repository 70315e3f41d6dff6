#include "socketio/server.h"

#include <grpcpp/grpcpp.h>

#include <future>
#include <iostream>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "serial_executor.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

void LogError(std::string_view what) { std::cerr << "socketio: " << what << std::endl; }

Handshake ToHandshake(const pb::Handshake& from) {
  Handshake handshake;
  for (const pb::KeyValue& header : from.headers()) {
    handshake.headers.emplace_back(absl::AsciiStrToLower(header.key()), header.value());
  }
  for (const pb::KeyValue& param : from.query())
    handshake.query.emplace_back(param.key(), param.value());
  handshake.remote_address = from.remote_address();
  handshake.url = from.url();
  handshake.transport = from.transport();
  handshake.issued_unix_ms = from.issued_unix_ms();
  return handshake;
}

Json ParseObject(const std::string& text) {
  Json value = Json::parse(text.empty() ? "{}" : text, nullptr, /*allow_exceptions=*/false);
  return value.is_discarded() ? Json::object() : value;
}

absl::Status StatusOf(const pb::CommandResult& result) {
  if (result.code() == pb::CODE_OK_UNSPECIFIED) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(result.code()), result.message());
}

std::string Describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

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
  executor_.reset();
}

Server::Handlers& Server::HandlersFor(const std::string& nsp) {
  std::lock_guard lock(handlers_mutex_);
  return handlers_[nsp];
}

const Server::Handlers* Server::FindHandlers(std::string_view nsp) const {
  std::lock_guard lock(handlers_mutex_);
  auto it = handlers_.find(nsp);
  return it == handlers_.end() ? nullptr : &it->second;
}

void Server::On(std::string nsp, std::string event, EventHandler handler) {
  Handlers& handlers = HandlersFor(nsp);
  std::lock_guard lock(handlers_mutex_);
  handlers.events[std::move(event)] = std::move(handler);
}

void Server::OnMessage(std::string nsp, EventHandler handler) {
  On(std::move(nsp), "message", std::move(handler));
}

void Server::OnAny(std::string nsp, EventHandler handler) {
  Handlers& handlers = HandlersFor(nsp);
  std::lock_guard lock(handlers_mutex_);
  handlers.any = std::move(handler);
}

void Server::OnConnect(std::string nsp, ConnectHandler handler) {
  Handlers& handlers = HandlersFor(nsp);
  std::lock_guard lock(handlers_mutex_);
  handlers.connect = std::move(handler);
}

void Server::OnDisconnect(std::string nsp, DisconnectHandler handler) {
  Handlers& handlers = HandlersFor(nsp);
  std::lock_guard lock(handlers_mutex_);
  handlers.disconnect = std::move(handler);
}

void Server::OnError(std::string nsp, ErrorHandler handler) {
  Handlers& handlers = HandlersFor(nsp);
  std::lock_guard lock(handlers_mutex_);
  handlers.error = [handler = std::move(handler)](Socket& socket, std::exception_ptr error) {
    return std::optional<Args>(handler(socket, error));
  };
}

void Server::OnErrorDefault(ErrorHandler handler) {
  std::lock_guard lock(handlers_mutex_);
  default_error_ = std::move(handler);
}

void Server::Register(std::shared_ptr<Namespace> object) {
  const std::string nsp = object->nsp();
  for (auto& [event, handler] : object->handlers_) On(nsp, event, handler);
  OnConnect(nsp, [object](Socket& socket, const Json& auth) { object->OnConnect(socket, auth); });
  OnDisconnect(nsp, [object](Socket& socket, const std::string& reason) {
    object->OnDisconnect(socket, reason);
  });
  Handlers& handlers = HandlersFor(nsp);
  std::lock_guard lock(handlers_mutex_);
  handlers.error = [object](Socket& socket, std::exception_ptr error) {
    return object->OnError(socket, error);
  };
}

void Server::OnAttach(std::function<void()> hook) {
  std::lock_guard lock(handlers_mutex_);
  on_attach_ = std::move(hook);
}

// --- Server: attaching ---------------------------------------------------------

absl::Status Server::Run(const std::string& address) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  std::mt19937_64 random(std::random_device{}());
  std::chrono::milliseconds backoff = options_.backoff_min;
  int failures = 0;  // in a row: the first of an outage is logged, then every 20th
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return absl::OkStatus();
    }
    std::shared_ptr<Link> link = OpenGrpcLink(channel);
    bool was_welcomed = false;
    absl::Status status = Serve(link, &was_welcomed);
    if (was_welcomed) {
      backoff = options_.backoff_min;
      failures = 0;
    }
    {
      std::unique_lock lock(mutex_);
      if (stopping_) return absl::OkStatus();
      if (status.code() == absl::StatusCode::kInvalidArgument) return status;  // our Hello is bad
      // Jitter keeps many backends from reattaching in lockstep.
      std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
      auto wait = std::chrono::milliseconds(jitter(random));
      if (failures++ % 20 == 0) {
        LogError(absl::StrCat("not attached to the sidecar at ", address, " (", status.message(),
                              "); retrying with backoff"));
      }
      if (stopped_cv_.wait_for(lock, wait, [this] { return stopping_; })) return absl::OkStatus();
    }
    backoff = std::min(options_.backoff_max, backoff * 2);
  }
}

absl::Status Server::Serve(std::shared_ptr<Link> link) { return Serve(std::move(link), nullptr); }

absl::Status Server::Serve(std::shared_ptr<Link> link, bool* welcomed) {
  Outgoing hello;
  hello.mutable_hello()->set_name(options_.name);
  {
    std::lock_guard lock(handlers_mutex_);
    if (handlers_.empty()) return absl::FailedPreconditionError("no handler is registered");
    for (const auto& [nsp, handlers] : handlers_) {
      pb::NamespaceHandlers* declared = hello.mutable_hello()->add_namespaces();
      declared->set_namespace_(nsp);
      // With a catch-all every event is wanted; else only those with handlers.
      if (!handlers.any) {
        for (const auto& [event, handler] : handlers.events) declared->add_events(event);
      }
    }
  }
  if (!link->Write(hello)) return absl::UnavailableError("the sidecar closed the stream");
  Message welcome;
  if (!link->Read(&welcome)) return absl::UnavailableError("the sidecar did not answer Hello");
  link->Processed();
  if (!welcome.has_welcome()) return absl::InvalidArgumentError("the sidecar did not welcome us");
  always_connect_ = welcome.welcome().always_connect();
  if (welcomed != nullptr) *welcomed = true;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      link->Close();
      return absl::OkStatus();
    }
    link_ = link;
    attached_ = true;
  }
  std::function<void()> on_attach;
  {
    std::lock_guard lock(handlers_mutex_);
    on_attach = on_attach_;
  }
  if (on_attach) on_attach();
  Message message;
  while (link->Read(&message)) Dispatch(link, std::move(message));
  {
    std::lock_guard lock(mutex_);
    attached_ = false;
    if (link_ == link) link_.reset();
  }
  FailPending(absl::UnavailableError("the stream to the sidecar ended"));
  return absl::UnavailableError("the stream to the sidecar ended");
}

void Server::Shutdown() {
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    link = link_;
  }
  stopped_cv_.notify_all();
  if (!executor_->WaitIdle(options_.shutdown_timeout)) {
    LogError("handlers still running at shutdown");
  }
  if (link) link->Close();
}

// --- Server: dispatch ----------------------------------------------------------

void Server::Post(const std::string& sid, std::function<void()> task) {
  executor_->Post(options_.async_handlers ? sid : std::string(), std::move(task));
}

void Server::Dispatch(const std::shared_ptr<Link>& link, Message message) {
  switch (message.kind_case()) {
    case Message::kConnect:
    case Message::kEvent:
    case Message::kDisconnected: {
      const std::string sid = message.has_connect() ? message.connect().sid()
                              : message.has_event() ? message.event().sid()
                                                    : message.disconnected().sid();
      auto shared = std::make_shared<Message>(std::move(message));
      Post(sid, [this, link, shared] {
        if (shared->has_connect()) HandleConnect(link, *shared);
        if (shared->has_event()) HandleEvent(link, *shared);
        if (shared->has_disconnected()) HandleDisconnected(link, *shared);
        link->Processed();
      });
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
        Post(key, [link, shared, handler = std::move(pending.on_answer)] {
          handler(shared.get(), absl::OkStatus());
          link->Processed();
        });
        return;
      }
      if (pending.on_answer) {
        pending.on_answer(&message, absl::OkStatus());
      } else if (message.has_command_result() && id == 0) {
        LogError(
            absl::StrCat("the sidecar refused a command: ", message.command_result().message()));
      }
      link->Processed();
      return;
    }
    default:
      link->Processed();
      return;
  }
}

void Server::HandleConnect(const std::shared_ptr<Link>& link, const Message& message) {
  const pb::Connect& connect = message.connect();
  auto info = std::make_shared<const ConnectionInfo>(
      ConnectionInfo{ToHandshake(connect.handshake()), ParseObject(connect.auth_json())});
  const Handlers* handlers = FindHandlers(connect.namespace_());
  Socket socket(*this, connect.sid(), connect.namespace_(), "connect", &info->handshake,
                &info->auth, "{}");
  Outgoing decision;
  pb::ConnectDecision* answer = decision.mutable_connect_decision();
  answer->set_sid(connect.sid());
  answer->set_namespace_(connect.namespace_());
  answer->set_accept(true);
  {
    std::lock_guard lock(mutex_);
    connections_[connect.sid()] = Connection{info, std::nullopt};
  }
  std::vector<Outgoing> held;
  if (!always_connect_) socket.held_ = &held;
  try {
    if (handlers != nullptr && handlers->connect) handlers->connect(socket, info->auth);
  } catch (const ConnectionRefusedError& refused) {
    answer->set_accept(false);
    answer->set_error_message(refused.what());
    if (!refused.data().is_null()) answer->set_error_data_json(refused.data().dump());
  } catch (...) {
    LogError(absl::StrCat("connect handler of ", connect.namespace_(),
                          " failed: ", Describe(std::current_exception())));
    answer->set_accept(false);
  }
  if (answer->accept()) {
    if (socket.session_.has_value() && *socket.session_ != Json::object()) {
      std::string session = socket.session_->dump(-1, ' ', false, Json::error_handler_t::replace);
      answer->set_session_json(session);
      std::lock_guard lock(mutex_);
      connections_[connect.sid()].session_json = std::move(session);
    }
  } else {
    std::lock_guard lock(mutex_);
    connections_.erase(connect.sid());
  }
  link->Write(decision);
  if (answer->accept()) {
    for (const Outgoing& message : held) link->Write(message);
  }
}

void Server::HandleEvent(const std::shared_ptr<Link>& link, const Message& message) {
  const pb::Event& event = message.event();
  EventHandler handler;
  if (const Handlers* handlers = FindHandlers(event.namespace_())) {
    std::lock_guard lock(handlers_mutex_);
    auto it = handlers->events.find(event.event());
    handler = it != handlers->events.end() ? it->second : handlers->any;
  }
  if (!handler) return;
  Connection connection;
  {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(event.sid());
    if (it != connections_.end()) connection = it->second;
  }
  static const ConnectionInfo kUnknown;
  const ConnectionInfo& info = connection.info ? *connection.info : kUnknown;
  Socket socket(*this, event.sid(), event.namespace_(), event.event(), &info.handshake, &info.auth,
                connection.session_json.value_or(event.session_json()));
  Args ack;
  absl::StatusOr<Args> args = DecodeArgs(event.args());
  try {
    if (!args.ok()) throw std::invalid_argument(std::string(args.status().message()));
    ack = handler(socket, *args);
  } catch (...) {
    ack = HandleError(socket, std::current_exception());
  }
  SaveSession(socket);
  if (event.has_ack_id()) {
    Outgoing out;
    pb::Ack* answer = out.mutable_ack();
    answer->set_sid(event.sid());
    answer->set_namespace_(event.namespace_());
    answer->set_ack_id(event.ack_id());
    *answer->mutable_args() = EncodeArgs(ack);
    link->Write(out);
  }
}

void Server::HandleDisconnected(const std::shared_ptr<Link>&, const Message& message) {
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
  const Handlers* handlers = FindHandlers(disconnected.namespace_());
  if (handlers == nullptr || !handlers->disconnect) return;
  static const ConnectionInfo kUnknown;
  const ConnectionInfo& info = connection.info ? *connection.info : kUnknown;
  Socket socket(*this, disconnected.sid(), disconnected.namespace_(), "disconnect", &info.handshake,
                &info.auth, connection.session_json.value_or(disconnected.session_json()));
  try {
    handlers->disconnect(socket, disconnected.reason());
  } catch (...) {
    HandleError(socket, std::current_exception());
  }
}

Args Server::HandleError(Socket& socket, std::exception_ptr error) {
  const Handlers* handlers = FindHandlers(socket.nsp());
  std::function<std::optional<Args>(Socket&, std::exception_ptr)> nsp_handler;
  ErrorHandler fallback;
  {
    std::lock_guard lock(handlers_mutex_);
    if (handlers != nullptr) nsp_handler = handlers->error;
    fallback = default_error_;
  }
  try {
    if (nsp_handler) {
      if (std::optional<Args> ack = nsp_handler(socket, error)) return *ack;
    }
    if (fallback) return fallback(socket, error);
  } catch (...) {
    LogError(absl::StrCat("error handler failed: ", Describe(std::current_exception())));
  }
  LogError(absl::StrCat("handler of \"", socket.event(), "\" in ", socket.nsp(),
                        " failed: ", Describe(error)));
  return {};
}

void Server::SaveSession(Socket& socket) {
  // A session the handler never looked at cannot have changed.
  if (!socket.session_.has_value()) return;
  std::string after = socket.session_->dump(-1, ' ', false, Json::error_handler_t::replace);
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
  set->set_session_json(after);
  Write(out).IgnoreError();
}

// --- Server: commands ----------------------------------------------------------

std::chrono::milliseconds Server::Timeout(std::chrono::milliseconds requested) const {
  return requested.count() > 0 ? requested : options_.ack_timeout;
}

absl::Status Server::Write(const Outgoing& message) {
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(mutex_);
    link = link_;
  }
  if (!link) return absl::FailedPreconditionError("not attached to a sidecar");
  if (!link->Write(message)) return absl::UnavailableError("the stream to the sidecar ended");
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
  // The sidecar answers every command; the wait is bounded anyway.
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
  return message;
}

absl::Status Server::EmitFrom(const std::string* self_sid, const std::string& default_nsp,
                              std::string_view event, Args args, EmitOptions options,
                              bool callback_on_executor) {
  absl::StatusOr<Outgoing> built = BuildEmit(self_sid, default_nsp, event, args, options);
  if (!built.ok()) return built.status();
  Outgoing& message = *built;
  pb::Emit* emit = message.mutable_emit();
  if (!options.callback) return Write(message);
  emit->set_want_ack(true);
  auto timeout = Timeout(options.timeout);
  emit->set_ack_timeout_ms(static_cast<uint32_t>(timeout.count()));
  auto callback = options.callback;
  return Request(
      std::move(message),
      [callback](const Message* answer, absl::Status status) {
        if (!status.ok()) return;
        if (answer->has_client_ack()) {
          callback(answer->client_ack().sid(), DecodeArgs(answer->client_ack().args()));
          return;
        }
        for (const std::string& sid : answer->command_result().ack_timed_out_sids()) {
          callback(sid, absl::DeadlineExceededError("the client did not answer in time"));
        }
      },
      callback_on_executor);
}

absl::Status Server::Emit(std::string_view event, Args args, EmitOptions options) {
  return EmitFrom(nullptr, "/", event, std::move(args), std::move(options));
}

absl::Status Server::Send(Json data, EmitOptions options) {
  return Emit("message", Args{std::move(data)}, std::move(options));
}

absl::StatusOr<Args> Server::Call(std::string_view sid, std::string_view event, Args args,
                                  std::string_view nsp, std::chrono::milliseconds timeout) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<Args>>>();
  auto answered = std::make_shared<std::once_flag>();
  std::future<absl::StatusOr<Args>> result = promise->get_future();
  EmitOptions options;
  options.to = {std::string(sid)};
  options.nsp = std::string(nsp);
  options.timeout = Timeout(timeout);
  options.callback = [promise, answered](const std::string&, absl::StatusOr<Args> answer) {
    std::call_once(*answered, [&] { promise->set_value(std::move(answer)); });
  };
  // The answer is handled on the reader: the caller may be a handler of this very socket.
  absl::Status sent = EmitFrom(nullptr, "/", event, std::move(args), options,
                               /*callback_on_executor=*/false);
  if (!sent.ok()) return sent;
  if (result.wait_for(options.timeout + std::chrono::seconds(5)) != std::future_status::ready) {
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
               const Handshake* handshake, const Json* auth, std::string session_json)
    : server_(server),
      sid_(std::move(sid)),
      nsp_(std::move(nsp)),
      event_(std::move(event)),
      handshake_(handshake),
      auth_(auth),
      session_json_(session_json.empty() ? "{}" : std::move(session_json)) {}

Json& Socket::session() {
  if (!session_.has_value()) {
    Json parsed = ParseObject(session_json_);
    session_ = parsed.is_object() ? std::move(parsed) : Json::object();
  }
  return *session_;
}

const Handshake& Socket::handshake() const {
  static const Handshake kNone;
  return handshake_ != nullptr ? *handshake_ : kNone;
}

const Json& Socket::auth() const {
  static const Json kNull;
  return auth_ != nullptr ? *auth_ : kNull;
}

absl::Status Socket::Emit(std::string_view event, Args args, EmitOptions options) {
  if (held_ != nullptr) {
    if (options.callback) {
      return absl::FailedPreconditionError("an emit with a callback needs an accepted connection");
    }
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

namespace {

absl::Status NotAcceptedYet(std::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat(std::string(what), " needs an accepted connection: not in a connect handler"));
}

}  // namespace

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
