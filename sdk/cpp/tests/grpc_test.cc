// The SDK over a real gRPC stream: an in-process Backend service plays the sidecar.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "socketio/server.h"
#include "socketio/sidecar/v1/sidecar.grpc.pb.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;
using Stream = grpc::ServerReaderWriter<pb::SidecarMessage, pb::BackendMessage>;
using Script = std::function<grpc::Status(Stream&)>;
constexpr auto kWait = std::chrono::seconds(20);

// A Backend service whose Attach runs a test's script, counting attaches.
class ScriptedSidecar final : public pb::Backend::Service {
 public:
  explicit ScriptedSidecar(Script script) : script_(std::move(script)) {}

  grpc::Status Attach(grpc::ServerContext*, Stream* stream) override {
    {
      std::lock_guard lock(mutex_);
      ++attaches_;
      changed_.notify_all();
    }
    return script_(*stream);
  }

  bool WaitForAttaches(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kWait, [&] { return attaches_ >= count; });
  }

 private:
  Script script_;
  std::mutex mutex_;
  std::condition_variable changed_;
  int attaches_ = 0;
};

// A sidecar's gRPC server on 127.0.0.1 (port 0: any free one).
struct FakeSidecar {
  explicit FakeSidecar(Script script, int port = 0) : service(std::move(script)) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                             &this->port);
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
  }
  ~FakeSidecar() { Stop(); }

  // Ends open streams at once, as a sidecar that goes away does.
  void Stop() {
    if (server) server->Shutdown(std::chrono::system_clock::now());
    server.reset();
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  ScriptedSidecar service;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

// What scripts saw, for the test's thread.
struct Seen {
  void Add(const pb::BackendMessage& message) {
    std::lock_guard lock(mutex);
    messages.push_back(message);
    changed.notify_all();
  }
  // The first message of a kind, waiting for it.
  std::optional<pb::BackendMessage> First(pb::BackendMessage::KindCase kind, size_t skip = 0) {
    std::unique_lock lock(mutex);
    std::optional<pb::BackendMessage> found;
    changed.wait_for(lock, kWait, [&] {
      size_t skipped = 0;
      for (const pb::BackendMessage& message : messages) {
        if (message.kind_case() == kind && skipped++ == skip) {
          found = message;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<pb::BackendMessage> messages;
};

// Reads Hello and answers Welcome.
bool Welcome(Stream& stream, Seen& seen) {
  pb::BackendMessage hello;
  if (!stream.Read(&hello) || !hello.has_hello()) return false;
  seen.Add(hello);
  pb::SidecarMessage welcome;
  welcome.mutable_welcome()->set_sidecar_version("scripted");
  return stream.Write(welcome);
}

void SendConnect(Stream& stream, const std::string& sid, const std::string& auth_json) {
  pb::SidecarMessage message;
  message.mutable_connect()->set_sid(sid);
  message.mutable_connect()->set_namespace_("/");
  message.mutable_connect()->set_auth_json(auth_json);
  message.mutable_connect()->mutable_handshake()->set_remote_address("10.0.0.7:41000");
  stream.Write(message);
}

void SendEvent(Stream& stream, const std::string& sid, const std::string& event,
               const std::string& json, uint64_t ack_id) {
  pb::SidecarMessage message;
  pb::Event* out = message.mutable_event();
  out->set_sid(sid);
  out->set_namespace_("/");
  out->set_event(event);
  out->mutable_args()->set_json(json);
  out->set_ack_id(ack_id);
  stream.Write(message);
}

// Records everything the backend sends until it ends the stream.
grpc::Status RecordUntilTheEnd(Stream& stream, Seen& seen) {
  pb::BackendMessage message;
  while (stream.Read(&message)) seen.Add(message);
  return grpc::Status::OK;
}

ServerOptions FastRetries() {
  return ServerOptions{.name = "grpc-test",
                       .backoff_min = std::chrono::milliseconds(10),
                       .backoff_max = std::chrono::milliseconds(50),
                       .shutdown_timeout = std::chrono::seconds(5)};
}

void AddCalculator(Server& server) {
  server.OnConnect("/", [](Socket& socket, const Json& auth) {
    return auth.value("user", "") == "ann" && socket.handshake().remote_address == "10.0.0.7:41000";
  });
  server.On("/", "add", [](Socket&, const Args& args) {
    return args.at(0).get<int>() + args.at(1).get<int>();
  });
}

TEST(GrpcLink, AttachesWithItsNamespacesThenServesConnectsAndEvents) {
  Seen seen;
  FakeSidecar sidecar([&](Stream& stream) {
    if (!Welcome(stream, seen)) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "");
    SendConnect(stream, "sid-1", R"({"user":"ann"})");
    SendEvent(stream, "sid-1", "add", "[20,22]", 7);
    return RecordUntilTheEnd(stream, seen);
  });
  Server server(FastRetries());
  AddCalculator(server);
  server.On("/chat", "say", [](Socket&, const Args&) {});
  std::thread running([&] { EXPECT_TRUE(server.Run(sidecar.address()).ok()); });

  std::optional<pb::BackendMessage> hello = seen.First(pb::BackendMessage::kHello);
  std::optional<pb::BackendMessage> decision = seen.First(pb::BackendMessage::kConnectDecision);
  std::optional<pb::BackendMessage> ack = seen.First(pb::BackendMessage::kAck);
  server.Shutdown();
  running.join();

  ASSERT_TRUE(hello && decision && ack);
  EXPECT_EQ(hello->hello().name(), "grpc-test");
  ASSERT_EQ(hello->hello().namespaces_size(), 2);
  EXPECT_EQ(hello->hello().namespaces(0).namespace_(), "/");
  EXPECT_EQ(hello->hello().namespaces(0).events(0), "add");
  EXPECT_EQ(hello->hello().namespaces(1).namespace_(), "/chat");
  EXPECT_TRUE(decision->connect_decision().accept());
  EXPECT_EQ(ack->ack().ack_id(), 7u);
  EXPECT_EQ(ack->ack().args().json(), "[42]");
}

TEST(GrpcLink, EventHandlersSeeTheHandshakeAndAuthOfConnectedAndAdoptedSockets) {
  Seen seen;
  FakeSidecar sidecar([&](Stream& stream) {
    if (!Welcome(stream, seen)) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "");
    SendConnect(stream, "sid-1", R"({"user":"ann"})");
    pb::SidecarMessage adopted;
    adopted.mutable_adopted()->set_sid("sid-2");
    adopted.mutable_adopted()->set_namespace_("/");
    adopted.mutable_adopted()->set_auth_json(R"({"user":"bob"})");
    pb::Handshake* handshake = adopted.mutable_adopted()->mutable_handshake();
    handshake->set_remote_address("10.0.0.8:41001");
    pb::KeyValue* header = handshake->add_headers();
    header->set_key("x-team");
    header->set_value("blue");
    stream.Write(adopted);
    SendEvent(stream, "sid-1", "whoami", "[]", 1);
    SendEvent(stream, "sid-2", "whoami", "[]", 2);
    return RecordUntilTheEnd(stream, seen);
  });
  Server server(FastRetries());
  AddCalculator(server);
  server.On("/", "whoami", [](Socket& socket, const Args&) {
    return Args{socket.auth().value("user", ""), socket.handshake().remote_address,
                socket.handshake().Header("X-Team").value_or("")};
  });
  std::thread running([&] { EXPECT_TRUE(server.Run(sidecar.address()).ok()); });
  std::optional<pb::BackendMessage> first = seen.First(pb::BackendMessage::kAck);
  std::optional<pb::BackendMessage> second = seen.First(pb::BackendMessage::kAck, 1);
  server.Shutdown();
  running.join();

  ASSERT_TRUE(first && second);
  // The two sockets' handlers run concurrently: their acks come in either order.
  if (first->ack().ack_id() == 2) std::swap(first, second);
  EXPECT_EQ(first->ack().args().json(), R"(["ann","10.0.0.7:41000",""])");
  EXPECT_EQ(second->ack().args().json(), R"(["bob","10.0.0.8:41001","blue"])");
}

TEST(GrpcLink, AttachesAgainAfterTheSidecarRestarts) {
  Seen seen;
  Script script = [&](Stream& stream) {
    if (!Welcome(stream, seen)) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "");
    SendConnect(stream, "sid-1", R"({"user":"ann"})");
    SendEvent(stream, "sid-1", "add", "[1,2]", 1);
    return RecordUntilTheEnd(stream, seen);
  };
  auto first = std::make_unique<FakeSidecar>(script);
  const int port = first->port;
  const std::string address = first->address();
  Server server(FastRetries());
  AddCalculator(server);
  std::thread running([&] { EXPECT_TRUE(server.Run(address).ok()); });
  ASSERT_TRUE(seen.First(pb::BackendMessage::kAck));

  first.reset();  // the sidecar goes away; the backend retries meanwhile
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  FakeSidecar second(script, port);
  ASSERT_EQ(second.port, port);

  std::optional<pb::BackendMessage> ack = seen.First(pb::BackendMessage::kAck, /*skip=*/1);
  EXPECT_TRUE(server.attached());
  server.Shutdown();
  running.join();
  ASSERT_TRUE(ack) << "the backend did not serve the restarted sidecar";
  EXPECT_EQ(ack->ack().args().json(), "[3]");
}

TEST(GrpcLink, ShutdownLetsARunningHandlerFinishAndSendItsAck) {
  Seen seen;
  std::atomic<bool> handler_started{false};
  FakeSidecar sidecar([&](Stream& stream) {
    if (!Welcome(stream, seen)) return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "");
    SendConnect(stream, "sid-1", R"({"user":"ann"})");
    SendEvent(stream, "sid-1", "slow", "[]", 5);
    return RecordUntilTheEnd(stream, seen);
  });
  Server server(FastRetries());
  AddCalculator(server);
  server.On("/", "slow", [&](Socket&, const Args&) {
    handler_started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return "done";
  });
  absl::Status run_status;
  std::thread running([&] { run_status = server.Run(sidecar.address()); });
  while (!handler_started) std::this_thread::sleep_for(std::chrono::milliseconds(5));

  server.Shutdown();  // returns once the stream is closed
  running.join();
  EXPECT_TRUE(run_status.ok()) << run_status;
  std::lock_guard lock(seen.mutex);
  ASSERT_FALSE(seen.messages.empty());
  const pb::BackendMessage& last = seen.messages.back();
  ASSERT_TRUE(last.has_ack()) << last.DebugString();
  EXPECT_EQ(last.ack().args().json(), R"(["done"])");
}

TEST(GrpcLink, RunReturnsWhenTheSidecarRefusesTheBackend) {
  FakeSidecar sidecar([](Stream&) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "Hello declares no namespace");
  });
  Server server(FastRetries());
  absl::Status status = server.Run(sidecar.address());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("Hello declares no namespace"), std::string::npos) << status;
}

TEST(GrpcLink, RunKeepsRetryingWhileNoSidecarListensAndStopsOnShutdown) {
  Server server(FastRetries());
  server.On("/", "x", [](Socket&, const Args&) {});
  std::atomic<bool> returned{false};
  std::thread running([&] {
    EXPECT_TRUE(server.Run("127.0.0.1:1").ok());
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(returned.load());
  EXPECT_FALSE(server.attached());
  server.Shutdown();
  running.join();
  EXPECT_TRUE(returned.load());
}

}  // namespace
}  // namespace socketio
