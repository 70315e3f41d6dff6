// The SDK over a real gRPC stream: an in-process Backend service plays the sidecar.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "socketio/server.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

// Each Attach: checks Hello, welcomes, connects one client, sends it an event
// with an ack request, records the backend's answers, then ends the stream.
class ScriptedSidecar final : public pb::Backend::Service {
 public:
  grpc::Status Attach(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<pb::SidecarMessage, pb::BackendMessage>* stream) override {
    pb::BackendMessage in;
    if (!stream->Read(&in) || !in.has_hello()) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "Hello first"};
    }
    pb::SidecarMessage out;
    out.mutable_welcome()->set_sidecar_version("scripted");
    stream->Write(out);

    std::string sid = "sid-" + std::to_string(attaches_.load() + 1);
    out.Clear();
    out.mutable_connect()->set_sid(sid);
    out.mutable_connect()->set_namespace_("/");
    out.mutable_connect()->set_auth_json(R"({"user":"ann"})");
    stream->Write(out);
    pb::BackendMessage decision;
    stream->Read(&decision);

    out.Clear();
    pb::Event* event = out.mutable_event();
    event->set_sid(sid);
    event->set_namespace_("/");
    event->set_event("add");
    event->mutable_args()->set_json("[20,22]");
    event->set_ack_id(7);
    stream->Write(out);
    pb::BackendMessage ack;
    stream->Read(&ack);

    std::lock_guard lock(mutex_);
    hello_ = in.hello();
    decision_ = decision.connect_decision();
    ack_ = ack.ack();
    ++attaches_;
    changed_.notify_all();
    return grpc::Status::OK;  // the backend must attach again
  }

  bool WaitForAttaches(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(20), [&] { return attaches_ >= count; });
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::atomic<int> attaches_{0};
  pb::Hello hello_;
  pb::ConnectDecision decision_;
  pb::Ack ack_;
};

TEST(GrpcLink, AttachesServesAndAttachesAgainAfterTheStreamEnds) {
  ScriptedSidecar sidecar;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&sidecar);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  ASSERT_NE(port, 0);

  Server server(ServerOptions{.name = "grpc-test",
                              .backoff_min = std::chrono::milliseconds(10),
                              .backoff_max = std::chrono::milliseconds(50)});
  std::string user;
  server.OnConnect("/", [&](Socket&, const Json& auth) { user = auth.value("user", ""); });
  server.On("/", "add", [](Socket&, const Args& args) {
    return Args{args.at(0).get<int>() + args.at(1).get<int>()};
  });
  std::thread running([&] { EXPECT_TRUE(server.Run("127.0.0.1:" + std::to_string(port)).ok()); });

  ASSERT_TRUE(sidecar.WaitForAttaches(2)) << "the backend did not attach twice";
  server.Shutdown();
  running.join();

  std::lock_guard lock(sidecar.mutex_);
  EXPECT_EQ(sidecar.hello_.name(), "grpc-test");
  ASSERT_EQ(sidecar.hello_.namespaces_size(), 1);
  EXPECT_EQ(sidecar.hello_.namespaces(0).namespace_(), "/");
  EXPECT_TRUE(sidecar.decision_.accept());
  EXPECT_EQ(user, "ann");
  EXPECT_EQ(sidecar.ack_.ack_id(), 7u);
  EXPECT_EQ(sidecar.ack_.args().json(), "[42]");
  grpc_server->Shutdown();
}

TEST(GrpcLink, RunKeepsRetryingWhileNoSidecarListensAndStopsOnShutdown) {
  Server server(ServerOptions{.backoff_min = std::chrono::milliseconds(10),
                              .backoff_max = std::chrono::milliseconds(20)});
  server.On("/", "x", [](Socket&, const Args&) { return Args{}; });
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
