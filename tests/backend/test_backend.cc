// A backend for the sidecar's end-to-end tests and the official conformance
// suites, written against the raw proto (no SDK), one handler per event.
//
//   test_backend --sidecar=127.0.0.1:50051 --mode=conformance|e2e [--name=NAME]
//                [--unresponsive=connects|events|reads]
//
// Prints "attached" on stdout once the sidecar welcomed it; reconnects if the
// stream ends.
//
// conformance: namespaces "/" and "/custom". Every connection is accepted and
//   sent "auth" with its CONNECT payload; on "/", "message" is echoed as
//   "message-back" and "message-with-ack" is acked with its arguments.
//
// e2e: namespaces "/", "/chat", "/private".
//   connect       auth.token == "reject" -> CONNECT_ERROR "Not authorized" {reason:"bad token"};
//                 "/private" needs auth.token == "secret"; accepted sockets get
//                 "welcome" {sid, namespace, headers, query, remote, auth, transport}
//   echo ...      "echo" back with the same arguments (binary included)
//   ack ...       acked with the same arguments
//   slow_ack ms   acked with "done" after ms milliseconds
//   join r / leave r            rooms of the sender; acked with the sockets reached
//   to_room r x / to_room_except_me r x   "room_message" x to room r (optionally not the sender)
//   broadcast x / broadcast_others x      "broadcast" x to the namespace (optionally not the
//   sender) close_room r  acked with the sockets removed rooms         acked with the sender's
//   rooms session_set o acked with true; session_get acked with the session ask_client ms
//   "question" to the sender with an ack request; its answer comes back as
//                 "answer" with the client's arguments, or "answer_timeout"
//   disconnect_me server-side disconnect of the sender
//   bad_emit      an Emit with invalid JSON; the sidecar's error comes back as "command_error"
//   disconnects   acked with [[sid, namespace, reason], ...] seen so far
//   whoami        acked with one array [name, how this backend learnt of the socket: "connect",
//                 "recovered" (a Connect with `recovered`), "adopted" or "unknown"]
//   batch n       one BackendBatch: "batched" 1 .. n to the sender, a nested batch (refused),
//                 then the ack ["done"]
//   refusals      acked with the messages of failed commands that had no request id, so far
//
// It never sets Hello.accepts_batches: the sidecar must write it one message at a time.
//
// --name names the backend in Hello (default "e2e"); --unresponsive makes it a
// backend that never answers Connects, never answers events, or stops reading
// its stream at the first event.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "socketio/sidecar/v1/sidecar.grpc.pb.h"

namespace pb = ::socketio::sidecar::v1;
using Json = nlohmann::json;

namespace {

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  return fallback;
}

class Backend {
 public:
  using Stream = grpc::ClientReaderWriter<pb::BackendMessage, pb::SidecarMessage>;

  Backend(bool conformance, std::string name, std::string unresponsive)
      : conformance_(conformance), name_(std::move(name)), unresponsive_(std::move(unresponsive)) {}

  void Serve(Stream& stream) {
    stream_ = &stream;
    pb::BackendMessage hello;
    hello.mutable_hello()->set_name(conformance_ ? "conformance" : name_);
    for (const char* nsp : conformance_ ? std::vector<const char*>{"/", "/custom"}
                                        : std::vector<const char*>{"/", "/chat", "/private"}) {
      hello.mutable_hello()->add_namespaces()->set_namespace_(nsp);
    }
    Write(hello);
    pb::SidecarMessage in;
    while (stream.Read(&in)) {
      switch (in.kind_case()) {
        case pb::SidecarMessage::kWelcome:
          std::cout << "attached" << std::endl;
          break;
        case pb::SidecarMessage::kConnect: {
          std::lock_guard lock(mutex_);
          learnt_[in.connect().sid()] = in.connect().recovered() ? "recovered" : "connect";
        }
          if (unresponsive_ != "connects") OnConnect(in.connect());
          break;
        case pb::SidecarMessage::kAdopted: {
          std::lock_guard lock(mutex_);
          learnt_[in.adopted().sid()] = "adopted";
          break;
        }
        case pb::SidecarMessage::kEvent:
          if (unresponsive_ == "events") break;
          if (unresponsive_ == "reads") {
            // Stops reading its stream, as a stuck backend would, until killed.
            std::cout << "stalled" << std::endl;
            for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
          }
          conformance_ ? OnConformanceEvent(in.event()) : OnEvent(in.event());
          break;
        case pb::SidecarMessage::kClientAck:
          Complete(in.client_ack().request_id(), &in.client_ack(), nullptr);
          break;
        case pb::SidecarMessage::kCommandResult:
          if (in.command_result().code() != pb::CODE_OK_UNSPECIFIED) {
            std::cerr << "command failed: " << in.command_result().ShortDebugString() << std::endl;
            if (in.command_result().request_id() == 0) {
              std::lock_guard lock(mutex_);
              refusals_.push_back(in.command_result().message());
            }
          }
          Complete(in.command_result().request_id(), nullptr, &in.command_result());
          break;
        case pb::SidecarMessage::kDisconnected: {
          std::lock_guard lock(mutex_);
          disconnects_.push_back({in.disconnected().sid(), in.disconnected().namespace_(),
                                  in.disconnected().reason()});
          break;
        }
        default:
          break;
      }
    }
    stream_ = nullptr;
  }

 private:
  // Called with the ClientAck (one per answering client) or the final CommandResult.
  using Callback = std::function<void(const pb::ClientAck*, const pb::CommandResult*)>;

  void Write(const pb::BackendMessage& message) {
    std::lock_guard lock(write_mutex_);
    if (stream_) stream_->Write(message);
  }

  uint64_t Expect(Callback callback) {
    std::lock_guard lock(mutex_);
    uint64_t id = ++next_request_id_;
    callbacks_[id] = std::move(callback);
    return id;
  }

  void Complete(uint64_t id, const pb::ClientAck* ack, const pb::CommandResult* result) {
    Callback callback;
    {
      std::lock_guard lock(mutex_);
      auto it = callbacks_.find(id);
      if (it == callbacks_.end()) return;
      callback = it->second;
      if (result != nullptr) callbacks_.erase(it);
    }
    callback(ack, result);
  }

  void Emit(const std::string& nsp, const std::string& event, const std::string& args_json,
            pb::Target target, uint64_t request_id = 0, bool want_ack = false) {
    pb::BackendMessage out;
    auto* emit = out.mutable_emit();
    emit->set_request_id(request_id);
    emit->set_namespace_(nsp);
    emit->set_event(event);
    emit->mutable_args()->set_json(args_json);
    *emit->mutable_target() = std::move(target);
    emit->set_want_ack(want_ack);
    if (want_ack) emit->set_ack_timeout_ms(request_timeout_ms_);
    Write(out);
  }

  static pb::Target ToSid(const std::string& sid) {
    pb::Target target;
    target.add_sids(sid);
    return target;
  }

  void AckWith(const pb::Event& event, const std::string& args_json) {
    if (!event.has_ack_id()) return;
    pb::BackendMessage out;
    auto* ack = out.mutable_ack();
    ack->set_sid(event.sid());
    ack->set_namespace_(event.namespace_());
    ack->set_ack_id(event.ack_id());
    ack->mutable_args()->set_json(args_json);
    Write(out);
  }

  void Decide(const pb::Connect& connect, bool accept, const std::string& message = "",
              const std::string& data = "") {
    pb::BackendMessage out;
    auto* decision = out.mutable_connect_decision();
    decision->set_sid(connect.sid());
    decision->set_namespace_(connect.namespace_());
    decision->set_accept(accept);
    decision->set_error_message(message);
    decision->set_error_data_json(data);
    Write(out);
  }

  void OnConnect(const pb::Connect& connect) {
    Json auth = Json::parse(connect.auth_json(), nullptr, false);
    if (conformance_) {
      Decide(connect, true);
      // The suite's client drops a frame that arrives in the same read as the
      // CONNECT reply, so "auth" follows a moment later.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      Emit(connect.namespace_(), "auth", "[" + connect.auth_json() + "]", ToSid(connect.sid()));
      return;
    }
    std::string token = auth.is_object() ? auth.value("token", "") : "";
    if (token == "reject")
      return Decide(connect, false, "Not authorized", R"({"reason":"bad token"})");
    if (connect.namespace_() == "/private" && token != "secret") {
      return Decide(connect, false, "Private namespace", R"({"reason":"secret needed"})");
    }
    Decide(connect, true);
    Json headers = Json::object(), query = Json::object();
    for (const auto& header : connect.handshake().headers()) headers[header.key()] = header.value();
    for (const auto& param : connect.handshake().query()) query[param.key()] = param.value();
    Json welcome = {{"sid", connect.sid()},
                    {"namespace", connect.namespace_()},
                    {"headers", headers},
                    {"query", query},
                    {"remote", connect.handshake().remote_address()},
                    {"transport", connect.handshake().transport()},
                    {"eio", connect.handshake().eio()},
                    {"auth", auth},
                    {"recovered", connect.recovered()}};
    Emit(connect.namespace_(), "welcome", Json::array({welcome}).dump(), ToSid(connect.sid()));
  }

  void OnConformanceEvent(const pb::Event& event) {
    if (event.namespace_() != "/") return;
    if (event.event() == "message") {
      pb::BackendMessage out;
      auto* emit = out.mutable_emit();
      emit->set_namespace_("/");
      emit->set_event("message-back");
      *emit->mutable_args() = event.args();
      *emit->mutable_target() = ToSid(event.sid());
      Write(out);
    } else if (event.event() == "message-with-ack") {
      pb::BackendMessage out;
      auto* ack = out.mutable_ack();
      ack->set_sid(event.sid());
      ack->set_namespace_("/");
      ack->set_ack_id(event.ack_id());
      *ack->mutable_args() = event.args();
      Write(out);
    }
  }

  // Runs a room command and acks the client's event with the sockets reached.
  template <typename Fill>
  void RoomCommand(const pb::Event& event, Fill fill) {
    pb::BackendMessage out;
    uint64_t id = Expect([this, event](const pb::ClientAck*, const pb::CommandResult* result) {
      AckWith(event, Json::array({result->socket_count()}).dump());
    });
    fill(out, id);
    Write(out);
  }

  void OnEvent(const pb::Event& event) {
    const std::string& name = event.event();
    const std::string& nsp = event.namespace_();
    Json args = Json::parse(event.args().json(), nullptr, false);
    if (!args.is_array()) args = Json::array();
    auto arg = [&](size_t i) { return i < args.size() ? args[i] : Json(); };
    auto text = [&](size_t i) {
      return arg(i).is_string() ? arg(i).get<std::string>() : std::string();
    };

    if (name == "echo") {
      pb::BackendMessage out;
      auto* emit = out.mutable_emit();
      emit->set_namespace_(nsp);
      emit->set_event("echo");
      *emit->mutable_args() = event.args();
      *emit->mutable_target() = ToSid(event.sid());
      Write(out);
    } else if (name == "ack") {
      pb::BackendMessage out;
      auto* ack = out.mutable_ack();
      ack->set_sid(event.sid());
      ack->set_namespace_(nsp);
      ack->set_ack_id(event.ack_id());
      *ack->mutable_args() = event.args();
      Write(out);
    } else if (name == "batch") {
      // Every Welcome offers batches; the sidecar handles a batch's messages in order.
      int count = arg(0).is_number_integer() ? arg(0).get<int>() : 0;
      pb::BackendMessage out;
      pb::BackendBatch* batch = out.mutable_batch();
      for (int i = 1; i <= count; ++i) {
        auto* emit = batch->add_messages()->mutable_emit();
        emit->set_namespace_(nsp);
        emit->set_event("batched");
        emit->mutable_args()->set_json(Json::array({i}).dump());
        *emit->mutable_target() = ToSid(event.sid());
      }
      batch->add_messages()->mutable_batch();
      if (event.has_ack_id()) {
        auto* ack = batch->add_messages()->mutable_ack();
        ack->set_sid(event.sid());
        ack->set_namespace_(nsp);
        ack->set_ack_id(event.ack_id());
        ack->mutable_args()->set_json(R"(["done"])");
      }
      Write(out);
    } else if (name == "slow_ack") {
      // Acked with "done" after arg(0) milliseconds, from another thread.
      int delay_ms = arg(0).is_number_integer() ? arg(0).get<int>() : 0;
      std::thread([this, event, delay_ms] {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        AckWith(event, R"(["done"])");
      }).detach();
    } else if (name == "join" || name == "leave") {
      auto fill = [&](auto* command, uint64_t id) {
        command->set_request_id(id);
        command->set_namespace_(nsp);
        *command->mutable_target() = ToSid(event.sid());
        command->add_rooms(text(0));
      };
      RoomCommand(event, [&](pb::BackendMessage& out, uint64_t id) {
        name == "join" ? fill(out.mutable_join_rooms(), id) : fill(out.mutable_leave_rooms(), id);
      });
    } else if (name == "to_room" || name == "to_room_except_me") {
      pb::Target target;
      target.add_rooms(text(0));
      if (name == "to_room_except_me") target.add_except_sids(event.sid());
      Emit(nsp, "room_message", Json::array({arg(1)}).dump(), target);
    } else if (name == "room_echo") {
      // The event's arguments after the room, binary attachments included, to the room.
      pb::BackendMessage out;
      auto* emit = out.mutable_emit();
      emit->set_namespace_(nsp);
      emit->set_event("room_message");
      Json rest = args.size() > 1 ? Json(args.begin() + 1, args.end()) : Json::array();
      emit->mutable_args()->set_json(rest.dump());
      *emit->mutable_args()->mutable_binary() = event.args().binary();
      emit->mutable_target()->add_rooms(text(0));
      Write(out);
    } else if (name == "broadcast" || name == "broadcast_others") {
      pb::Target target;
      if (name == "broadcast_others") target.add_except_sids(event.sid());
      Emit(nsp, "broadcast", Json::array({arg(0)}).dump(), target);
    } else if (name == "close_room") {
      RoomCommand(event, [&](pb::BackendMessage& out, uint64_t id) {
        out.mutable_close_room()->set_request_id(id);
        out.mutable_close_room()->set_namespace_(nsp);
        out.mutable_close_room()->set_room(text(0));
      });
    } else if (name == "rooms") {
      pb::BackendMessage out;
      uint64_t id = Expect([this, event](const pb::ClientAck*, const pb::CommandResult* result) {
        Json rooms = Json::array();
        for (const std::string& room : result->socket().rooms()) rooms.push_back(room);
        AckWith(event, Json::array({rooms}).dump());
      });
      out.mutable_get_socket()->set_request_id(id);
      out.mutable_get_socket()->set_sid(event.sid());
      out.mutable_get_socket()->set_namespace_(nsp);
      Write(out);
    } else if (name == "session_set") {
      pb::BackendMessage out;
      uint64_t id = Expect([this, event](const pb::ClientAck*, const pb::CommandResult* result) {
        AckWith(event, result->code() == pb::CODE_OK_UNSPECIFIED ? "[true]" : "[false]");
      });
      out.mutable_set_session()->set_request_id(id);
      out.mutable_set_session()->set_sid(event.sid());
      out.mutable_set_session()->set_namespace_(nsp);
      out.mutable_set_session()->set_session_json(arg(0).dump());
      Write(out);
    } else if (name == "session_set_for") {
      // [sid, session]: another socket's session, wherever that socket lives.
      pb::BackendMessage out;
      uint64_t id = Expect([this, event](const pb::ClientAck*, const pb::CommandResult* result) {
        AckWith(event, result->code() == pb::CODE_OK_UNSPECIFIED ? "[true]" : "[false]");
      });
      out.mutable_set_session()->set_request_id(id);
      out.mutable_set_session()->set_sid(text(0));
      out.mutable_set_session()->set_namespace_(nsp);
      out.mutable_set_session()->set_session_json(arg(1).dump());
      Write(out);
    } else if (name == "session_of") {
      // [sid]: another socket's session by GetSocket, or null if there is no such socket.
      pb::BackendMessage out;
      uint64_t id = Expect([this, event](const pb::ClientAck*, const pb::CommandResult* result) {
        const std::string& session = result->socket().session_json();
        AckWith(event, result->code() != pb::CODE_OK_UNSPECIFIED ? "[null]"
                       : session.empty()                         ? "[{}]"
                                                                 : "[" + session + "]");
      });
      out.mutable_get_socket()->set_request_id(id);
      out.mutable_get_socket()->set_sid(text(0));
      out.mutable_get_socket()->set_namespace_(nsp);
      Write(out);
    } else if (name == "session_get") {
      AckWith(
          event,
          "[" + (event.session_json().empty() ? std::string("{}") : event.session_json()) + "]");
    } else if (name == "ask_client") {
      request_timeout_ms_ = arg(0).is_number() ? arg(0).get<uint32_t>() : 2000;
      std::string sid = event.sid();
      uint64_t id =
          Expect([this, sid, nsp](const pb::ClientAck* ack, const pb::CommandResult* result) {
            if (ack != nullptr) {
              pb::BackendMessage out;
              auto* emit = out.mutable_emit();
              emit->set_namespace_(nsp);
              emit->set_event("answer");
              *emit->mutable_args() = ack->args();
              *emit->mutable_target() = ToSid(sid);
              Write(out);
            } else if (result != nullptr && result->ack_timed_out_sids_size() > 0) {
              Emit(nsp, "answer_timeout", "[]", ToSid(sid));
            }
          });
      Emit(nsp, "question", R"(["what is your name?"])", ToSid(sid), id, true);
    } else if (name == "disconnect_me") {
      pb::BackendMessage out;
      out.mutable_disconnect()->set_namespace_(nsp);
      *out.mutable_disconnect()->mutable_target() = ToSid(event.sid());
      Write(out);
    } else if (name == "bad_emit") {
      std::string sid = event.sid();
      uint64_t id = Expect([this, sid, nsp](const pb::ClientAck*, const pb::CommandResult* result) {
        Emit(nsp, "command_error", Json::array({result->message()}).dump(), ToSid(sid));
      });
      Emit(nsp, "anything", "[1,", ToSid(sid), id);
    } else if (name == "whoami") {
      std::string learnt = "unknown";
      {
        std::lock_guard lock(mutex_);
        if (auto it = learnt_.find(event.sid()); it != learnt_.end()) learnt = it->second;
      }
      AckWith(event, Json::array({Json::array({name_, learnt})}).dump());
    } else if (name == "disconnects") {
      Json list = Json::array();
      {
        std::lock_guard lock(mutex_);
        for (const auto& entry : disconnects_) list.push_back(entry);
      }
      AckWith(event, Json::array({list}).dump());
    } else if (name == "refusals") {
      Json list = Json::array();
      {
        std::lock_guard lock(mutex_);
        for (const std::string& message : refusals_) list.push_back(message);
      }
      AckWith(event, Json::array({list}).dump());
    }
  }

  bool conformance_;
  std::string name_;
  std::string unresponsive_;
  std::map<std::string, std::string> learnt_;  // sid -> "connect" or "adopted"
  Stream* stream_ = nullptr;
  std::mutex write_mutex_;
  std::mutex mutex_;
  uint64_t next_request_id_ = 0;
  std::map<uint64_t, Callback> callbacks_;
  std::vector<std::vector<std::string>> disconnects_;
  std::vector<std::string> refusals_;
  std::atomic<uint32_t> request_timeout_ms_{2000};
};

}  // namespace

int main(int argc, char** argv) {
  std::string address = Flag(argc, argv, "sidecar", "127.0.0.1:50051");
  bool conformance = Flag(argc, argv, "mode", "e2e") == "conformance";
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = pb::Backend::NewStub(channel);
  Backend backend(conformance, Flag(argc, argv, "name", "e2e"),
                  Flag(argc, argv, "unresponsive", ""));
  while (true) {
    grpc::ClientContext context;
    auto stream = stub->Attach(&context);
    backend.Serve(*stream);
    grpc::Status status = stream->Finish();
    std::cerr << "stream ended: " << status.error_message() << "; reconnecting" << std::endl;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}
