#include "sidecar/runtime/timer_wheel.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sidecar::runtime {
namespace {

using std::chrono::milliseconds;

// A timer that records its name when it fires, then runs `then`.
class NamedTimer : public TimerWheel::Timer {
 public:
  NamedTimer(std::string name, std::vector<std::string>& fired) : name_(name), fired_(fired) {}
  std::function<void()> then;

 private:
  void OnTimer() override {
    fired_.push_back(name_);
    if (then) then();
  }
  std::string name_;
  std::vector<std::string>& fired_;
};

class TimerWheelTest : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
  std::vector<std::string> fired_;
};

TEST_F(TimerWheelTest, FiresTimersInTheOrderOfTheirDeadlines) {
  TimerWheel wheel(io_, milliseconds(5));
  NamedTimer a("a", fired_), b("b", fired_), c("c", fired_);
  wheel.Schedule(a, milliseconds(60));
  wheel.Schedule(b, milliseconds(20));
  wheel.Schedule(c, milliseconds(40));
  EXPECT_TRUE(a.armed());
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"b", "c", "a"}));
  EXPECT_FALSE(a.armed());
}

TEST_F(TimerWheelTest, FiresTimersDueInTheSameTickInTheOrderTheyWereArmed) {
  TimerWheel wheel(io_, milliseconds(50));
  NamedTimer a("a", fired_), b("b", fired_), c("c", fired_);
  wheel.Schedule(b, milliseconds(0));
  wheel.Schedule(a, milliseconds(0));
  wheel.Schedule(c, milliseconds(0));
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"b", "a", "c"}));
}

TEST_F(TimerWheelTest, NeverFiresBeforeTheDelay) {
  TimerWheel wheel(io_, milliseconds(10));
  NamedTimer a("a", fired_);
  TimerWheel::Clock::time_point fired_at;
  a.then = [&] { fired_at = TimerWheel::Clock::now(); };
  TimerWheel::Clock::time_point armed_at = TimerWheel::Clock::now();
  wheel.Schedule(a, milliseconds(25));
  io_.run();
  ASSERT_EQ(fired_.size(), 1u);
  EXPECT_GE(fired_at - armed_at, milliseconds(25));
}

TEST_F(TimerWheelTest, ACancelledTimerDoesNotFire) {
  TimerWheel wheel(io_, milliseconds(5));
  NamedTimer a("a", fired_), b("b", fired_);
  wheel.Schedule(a, milliseconds(10));
  wheel.Schedule(b, milliseconds(20));
  a.Cancel();
  EXPECT_FALSE(a.armed());
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"b"}));
}

TEST_F(TimerWheelTest, ReArmingAnArmedTimerReplacesItsDeadline) {
  TimerWheel wheel(io_, milliseconds(5));
  NamedTimer a("a", fired_), b("b", fired_);
  wheel.Schedule(a, milliseconds(10));
  wheel.Schedule(b, milliseconds(40));
  wheel.Schedule(a, milliseconds(80));
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"b", "a"}));
}

TEST_F(TimerWheelTest, ReArmingToAnEarlierDeadlineWakesTheWheelSooner) {
  TimerWheel wheel(io_, milliseconds(5));
  NamedTimer a("a", fired_), b("b", fired_);
  wheel.Schedule(a, milliseconds(200));
  wheel.Schedule(b, milliseconds(10));
  b.then = [&] { EXPECT_TRUE(a.armed()); };
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"b", "a"}));
}

TEST_F(TimerWheelTest, ATimerReArmedFromItsCallbackFiresAgain) {
  TimerWheel wheel(io_, milliseconds(5));
  NamedTimer a("a", fired_);
  int rounds = 0;
  a.then = [&] {
    if (++rounds < 3) wheel.Schedule(a, milliseconds(rounds == 1 ? 0 : 10));
  };
  wheel.Schedule(a, milliseconds(10));
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "a", "a"}));
}

TEST_F(TimerWheelTest, ATimerDestroyedByAnEarlierCallbackOfTheSameTickNeverFires) {
  // As a session closed by another's timeout while its own heartbeat is due.
  TimerWheel wheel(io_, milliseconds(50));
  NamedTimer a("a", fired_), c("c", fired_);
  auto b = std::make_unique<NamedTimer>("b", fired_);
  wheel.Schedule(a, milliseconds(1));
  wheel.Schedule(*b, milliseconds(1));
  wheel.Schedule(c, milliseconds(1));
  a.then = [&] { b.reset(); };
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "c"}));
}

TEST_F(TimerWheelTest, ATimerCancelledByAnEarlierCallbackOfTheSameTickNeverFires) {
  TimerWheel wheel(io_, milliseconds(50));
  NamedTimer a("a", fired_), b("b", fired_);
  wheel.Schedule(a, milliseconds(1));
  wheel.Schedule(b, milliseconds(1));
  a.then = [&] { b.Cancel(); };
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a"}));
}

TEST_F(TimerWheelTest, ATimerMayDestroyItsOwnerFromItsCallback) {
  TimerWheel wheel(io_, milliseconds(5));
  auto a = std::make_unique<NamedTimer>("a", fired_);
  NamedTimer b("b", fired_);
  a->then = [&] { a.reset(); };
  wheel.Schedule(*a, milliseconds(5));
  wheel.Schedule(b, milliseconds(20));
  io_.run();
  EXPECT_EQ(a, nullptr);
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "b"}));
}

TEST_F(TimerWheelTest, ATimerDestroyedBeforeItIsDueNeverFires) {
  TimerWheel wheel(io_, milliseconds(5));
  NamedTimer b("b", fired_);
  {
    NamedTimer a("a", fired_);
    wheel.Schedule(a, milliseconds(5));
    wheel.Schedule(b, milliseconds(20));
  }
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"b"}));
}

TEST_F(TimerWheelTest, ATimerDueInALaterTurnWaitsWhenItsBucketComesRoundEarlier) {
  // Eight buckets of 5 ms: 60 ms lands in the bucket of 20 ms, one turn later.
  TimerWheel wheel(io_, milliseconds(5), 8);
  NamedTimer far("far", fired_), near("near", fired_), middle("middle", fired_);
  wheel.Schedule(far, milliseconds(60));
  wheel.Schedule(near, milliseconds(20));
  wheel.Schedule(middle, milliseconds(35));
  near.then = [&] { EXPECT_TRUE(far.armed()); };
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"near", "middle", "far"}));
}

TEST_F(TimerWheelTest, TimersArmedLongAfterTheWheelWentIdleStillFireInOrder) {
  TimerWheel wheel(io_, milliseconds(1), 8);
  NamedTimer a("a", fired_), b("b", fired_);
  wheel.Schedule(a, milliseconds(1));
  io_.run();
  io_.restart();
  // Several turns later the wheel's position is stale; deadlines come from the clock.
  boost::asio::steady_timer pause(io_, milliseconds(30));
  pause.async_wait([&](boost::system::error_code) {
    wheel.Schedule(b, milliseconds(20));
    wheel.Schedule(a, milliseconds(10));
  });
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "a", "b"}));
}

TEST_F(TimerWheelTest, ACallbackThatThrowsLeavesTheOtherTimersRunning) {
  TimerWheel wheel(io_, milliseconds(50));
  NamedTimer a("a", fired_), b("b", fired_), c("c", fired_);
  wheel.Schedule(a, milliseconds(1));
  wheel.Schedule(b, milliseconds(1));
  wheel.Schedule(c, milliseconds(120));
  a.then = [] { throw std::runtime_error("handler failed"); };
  EXPECT_THROW(io_.run(), std::runtime_error);
  // As the shard's thread does: run() resumes after an exception.
  io_.restart();
  io_.run();
  EXPECT_EQ(fired_, (std::vector<std::string>{"a", "b", "c"}));
}

}  // namespace
}  // namespace sidecar::runtime
