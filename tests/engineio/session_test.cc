#include "sidecar/engineio/session.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/runtime/timer_wheel.h"

namespace sidecar::engineio {
namespace {

using std::chrono::milliseconds;

class RecordingHandler : public SessionHandler {
 public:
  explicit RecordingHandler(std::vector<std::string>& closes) : closes_(closes) {}
  void OnMessage(Packet) override {}
  void OnClose(std::string_view reason) override { closes_.emplace_back(reason); }

 private:
  std::vector<std::string>& closes_;
};

// Heartbeats of polling sessions, driven by a real wheel on an io_context run until it has
// nothing left to do.
class SessionHeartbeatTest : public ::testing::Test {
 protected:
  std::shared_ptr<Session> Open(SessionConfig config, std::vector<std::string>& closes) {
    auto session = std::make_shared<Session>(wheel_, "sid", config, nullptr);
    session->set_handler(std::make_unique<RecordingHandler>(closes));
    session->StartPolling();
    return session;
  }

  static SessionConfig ShortPing() {
    SessionConfig config;
    config.ping_interval = milliseconds(20);
    config.ping_timeout = milliseconds(20);
    return config;
  }

  // Holds a GET whose body is appended to `bodies`, then runs `then`.
  static void Poll(Session& session, std::vector<std::string>& bodies,
                   std::function<void()> then = nullptr) {
    ASSERT_TRUE(session
                    .HandlePollGet([&bodies, then](Session::PollBody body) {
                      bodies.push_back(body.data);
                      if (then) then();
                    })
                    .ok());
  }

  boost::asio::io_context io_;
  runtime::TimerWheel wheel_{io_, milliseconds(5)};
};

TEST_F(SessionHeartbeatTest, PingsAfterTheIntervalAndClosesWhenNoPongComes) {
  std::vector<std::string> closes, bodies;
  auto session = Open(ShortPing(), closes);
  Poll(*session, bodies);
  io_.run();
  EXPECT_EQ(bodies, (std::vector<std::string>{"2"}));
  EXPECT_EQ(closes, (std::vector<std::string>{"ping timeout"}));
  EXPECT_TRUE(session->closed());
}

TEST_F(SessionHeartbeatTest, EachPongArmsTheNextPing) {
  std::vector<std::string> closes, bodies;
  auto session = Open(ShortPing(), closes);
  // The pong arrives on a later request, as over HTTP.
  std::function<void()> answer = [&] {
    if (bodies.size() >= 3) return;
    boost::asio::post(io_, [&] {
      ASSERT_TRUE(session->HandlePollPost("3").ok());
      Poll(*session, bodies, answer);
    });
  };
  Poll(*session, bodies, answer);
  io_.run();
  EXPECT_EQ(bodies, (std::vector<std::string>{"2", "2", "2"}));
  EXPECT_EQ(closes, (std::vector<std::string>{"ping timeout"}));
}

TEST_F(SessionHeartbeatTest, WithoutClientMonitoringUnansweredPingsGoOnWithoutATimeout) {
  SessionConfig config = ShortPing();
  config.monitor_clients = false;
  std::vector<std::string> closes, bodies;
  auto session = Open(config, closes);
  std::function<void()> next = [&] {
    if (bodies.size() < 3) return Poll(*session, bodies, next);
    session->Close("server shutting down");
  };
  Poll(*session, bodies, next);
  io_.run();
  EXPECT_EQ(bodies, (std::vector<std::string>{"2", "2", "2"}));
  EXPECT_EQ(closes, (std::vector<std::string>{"server shutting down"}));
}

TEST_F(SessionHeartbeatTest, AVersion3SessionClosesWhenItsClientStopsPinging) {
  SessionConfig config = ShortPing();
  config.protocol = 3;
  std::vector<std::string> closes, bodies;
  auto session = Open(config, closes);
  ASSERT_TRUE(session->HandlePollPost("1:2").ok());
  Poll(*session, bodies);
  io_.run();
  // The pong, then nothing: v3 servers do not ping.
  EXPECT_EQ(bodies, (std::vector<std::string>{"1:3"}));
  EXPECT_EQ(closes, (std::vector<std::string>{"ping timeout"}));
}

TEST_F(SessionHeartbeatTest, ASessionClosedWhileItsPingIsDueSendsNoPing) {
  // Both sessions' pings fall in one 50 ms tick; the first one's ping closes the second.
  runtime::TimerWheel wheel(io_, milliseconds(50));
  SessionConfig config;
  config.ping_interval = milliseconds(1);
  config.ping_timeout = milliseconds(20);
  std::vector<std::string> closes, first_bodies, second_bodies;
  auto first = std::make_shared<Session>(wheel, "first", config, nullptr);
  auto second = std::make_shared<Session>(wheel, "second", config, nullptr);
  second->set_handler(std::make_unique<RecordingHandler>(closes));
  first->StartPolling();
  second->StartPolling();
  Poll(*first, first_bodies, [&] { second->Close("closed by the test"); });
  Poll(*second, second_bodies);
  // The first session's unanswered ping times out on its own.
  io_.run();
  EXPECT_EQ(first_bodies, (std::vector<std::string>{"2"}));
  EXPECT_EQ(second_bodies, (std::vector<std::string>{"1"}));
  EXPECT_EQ(closes, (std::vector<std::string>{"closed by the test"}));
}

}  // namespace
}  // namespace sidecar::engineio
