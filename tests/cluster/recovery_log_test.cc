#include "sidecar/cluster/recovery_log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace sidecar::cluster {
namespace {

using Envelope = ::socketio::sidecar::cluster::Envelope;
using ::socketio::sidecar::v1::Target;

TEST(StreamId, ParsesAndOrdersAsRedisDoes) {
  std::optional<StreamId> a = StreamId::Parse("1700000000000-2");
  std::optional<StreamId> b = StreamId::Parse("1700000000000-10");
  ASSERT_TRUE(a && b);
  EXPECT_LT(*a, *b);
  EXPECT_EQ(b->ToString(), "1700000000000-10");
  EXPECT_FALSE(StreamId::Parse("17"));
  EXPECT_FALSE(StreamId::Parse("a-b"));
}

TEST(NothingTrimmedAfter, KnowsWhenTheMissedEntriesAreGone) {
  StreamId from{100, 0};
  EXPECT_TRUE(NothingTrimmedAfter(StreamBounds{}, from));
  // Never trimmed.
  EXPECT_TRUE(NothingTrimmedAfter({true, 5, 5, StreamId{50, 0}, StreamId{200, 0}}, from));
  // Trimmed, but only entries before `from`.
  EXPECT_TRUE(NothingTrimmedAfter({true, 5, 9, StreamId{100, 0}, StreamId{200, 0}}, from));
  // Trimmed past `from`.
  EXPECT_FALSE(NothingTrimmedAfter({true, 5, 9, StreamId{150, 0}, StreamId{200, 0}}, from));
  // Emptied by trimming, after entries newer than `from` were added.
  EXPECT_FALSE(NothingTrimmedAfter({true, 0, 9, std::nullopt, StreamId{200, 0}}, from));
  EXPECT_TRUE(NothingTrimmedAfter({true, 0, 9, std::nullopt, StreamId{90, 0}}, from));
}

TEST(TargetReaches, FollowsRoomsSidsAndExceptions) {
  const std::vector<std::string> rooms{"a", "b"};
  Target all;
  EXPECT_TRUE(TargetReaches(all, "S1", rooms));
  Target to_c;
  to_c.add_rooms("c");
  EXPECT_FALSE(TargetReaches(to_c, "S1", rooms));
  to_c.add_rooms("b");
  EXPECT_TRUE(TargetReaches(to_c, "S1", rooms));
  Target to_sid;
  to_sid.add_sids("S1");
  EXPECT_TRUE(TargetReaches(to_sid, "S1", rooms));
  EXPECT_FALSE(TargetReaches(to_sid, "S2", rooms));
  Target except_room;
  except_room.add_except_rooms("a");
  EXPECT_FALSE(TargetReaches(except_room, "S1", rooms));
  Target except_sid;
  except_sid.add_except_sids("S1");
  EXPECT_FALSE(TargetReaches(except_sid, "S1", rooms));
  Target own_room;
  own_room.add_rooms("S1");
  EXPECT_TRUE(TargetReaches(own_room, "S1", rooms));
}

// A redis-server of its own on a free loopback port, for the test's lifetime.
class RedisServer {
 public:
  RedisServer() {
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(probe, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    close(probe);
    std::string port = std::to_string(port_);
    std::vector<const char*> argv{"redis-server", "--port",     port.c_str(), "--bind",
                                  "127.0.0.1",    "--save",     "",           "--appendonly",
                                  "no",           "--loglevel", "warning",    nullptr};
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    int spawned = posix_spawnp(&pid_, "redis-server", &quiet, nullptr,
                               const_cast<char**>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0) {
      pid_ = 0;
      return;
    }
    // Ready once it answers PING.
    for (int attempt = 0; attempt < 200; ++attempt) {
      redisContext* context = redisConnect("127.0.0.1", port_);
      if (context != nullptr && context->err == 0) {
        auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
        bool up = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
        if (reply != nullptr) freeReplyObject(reply);
        redisFree(context);
        if (up) return;
      } else if (context != nullptr) {
        redisFree(context);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    Stop();
  }
  ~RedisServer() { Stop(); }
  bool running() const { return pid_ != 0; }
  int port() const { return port_; }

  // PUBSUB NUMSUB of one channel.
  long long Subscribers(const std::string& channel) const {
    redisContext* context = redisConnect("127.0.0.1", port_);
    auto* reply =
        static_cast<redisReply*>(redisCommand(context, "PUBSUB NUMSUB %s", channel.c_str()));
    long long count = reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
                          ? reply->element[1]->integer
                          : -1;
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(context);
    return count;
  }

  // A synchronous command, to look at what the log left in Redis.
  long long Integer(const std::vector<std::string>& args) const {
    redisContext* context = redisConnect("127.0.0.1", port_);
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    long long value = reply != nullptr && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -99;
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(context);
    return value;
  }

 private:
  void Stop() {
    if (pid_ == 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  pid_t pid_ = 0;
  int port_ = 0;
};

class RecoveryLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_.running()) GTEST_SKIP() << "no redis-server";
    redis_ = Connect("recovery");
    log_.OnUp(*redis_);
  }
  void TearDown() override {
    if (redis_) redis_->Stop();
    if (subscriber_) subscriber_->Stop();
    io_.run_for(std::chrono::milliseconds(10));
  }

  std::shared_ptr<RedisConnection> Connect(const std::string& name) {
    auto connection = std::make_shared<RedisConnection>(
        io_, RedisEndpoint{"127.0.0.1", server_.port(), ""}, name);
    auto up = std::make_shared<bool>(false);
    connection->Start([up] { *up = true; }, [](const std::string&) {});
    RunUntil([&] { return *up; });
    EXPECT_TRUE(*up);
    return connection;
  }

  void RunUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(std::chrono::milliseconds(5));
    }
  }

  std::string EmitTo(const std::string& room, const std::string& text) {
    LoggedEmitEntry emit;
    emit.set_nsp("/");
    if (!room.empty()) emit.mutable_target()->add_rooms(room);
    emit.set_data("[\"n\",\"" + text + "\"]");
    return emit.SerializeAsString();
  }

  // Logs an emit and waits for its id.
  std::string Append(const std::string& room, const std::string& text) {
    std::optional<std::string> id;
    bool done = false;
    log_.Append(*redis_, EmitTo(room, text), "envelope", "test-channel",
                [&](std::optional<std::string> logged) {
                  id = std::move(logged);
                  done = true;
                });
    RunUntil([&] { return done; });
    EXPECT_TRUE(id.has_value());
    return id.value_or("");
  }

  absl::StatusOr<StoredRestore> Restore(const std::string& pid, const std::string& offset,
                                        const std::string& nsp = "/") {
    std::optional<absl::StatusOr<StoredRestore>> result;
    log_.Restore(*redis_, pid, nsp, offset,
                 [&](absl::StatusOr<StoredRestore> restored) { result = std::move(restored); });
    RunUntil([&] { return result.has_value(); });
    if (!result) return absl::DeadlineExceededError("no answer");
    return std::move(*result);
  }

  RecoverySession Session(const std::string& sid, std::vector<std::string> rooms) {
    RecoverySession session;
    session.set_sid(sid);
    session.set_nsp("/");
    for (const std::string& room : rooms) session.add_rooms(room);
    session.set_session_json(R"({"user":"ann"})");
    session.set_node("ABCD");
    return session;
  }

  RedisServer server_;
  boost::asio::io_context io_;
  RecoveryLog log_{RecoveryLogConfig{"test", std::chrono::milliseconds(60000), 10000}};
  std::shared_ptr<RedisConnection> redis_;
  std::shared_ptr<RedisConnection> subscriber_;
};

TEST_F(RecoveryLogTest, PublishesEveryLoggedEmitWithItsIdInStreamOrder) {
  subscriber_ = Connect("subscriber");
  std::vector<Envelope> received;
  bool subscribed =
      subscriber_->Subscribe({"test-channel"}, [&](const std::string&, const std::string& payload) {
        Envelope envelope;
        EXPECT_TRUE(envelope.ParseFromString(payload));
        received.push_back(envelope);
      });
  ASSERT_TRUE(subscribed);
  RunUntil([&] { return server_.Subscribers("test-channel") == 1; });
  ASSERT_EQ(server_.Subscribers("test-channel"), 1);

  Envelope envelope;
  envelope.set_origin("ABCD");
  envelope.set_request_id(7);
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    envelope.mutable_logged()->ParseFromString(EmitTo("", std::to_string(i)));
    log_.Append(*redis_, envelope.logged().SerializeAsString(), envelope.SerializeAsString(),
                "test-channel", [&](std::optional<std::string> id) {
                  ASSERT_TRUE(id.has_value());
                  ids.push_back(*id);
                });
  }
  RunUntil([&] { return ids.size() == 20 && received.size() == 20; });
  ASSERT_EQ(received.size(), 20u);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(received[i].log_id(), ids[i]);
    EXPECT_EQ(received[i].origin(), "ABCD");
    EXPECT_EQ(received[i].request_id(), 7u);
    EXPECT_EQ(received[i].logged().data(), "[\"n\",\"" + std::to_string(i) + "\"]");
    if (i > 0) {
      EXPECT_LT(*StreamId::Parse(ids[i - 1]), *StreamId::Parse(ids[i]));
    }
  }
  EXPECT_EQ(server_.Integer({"XLEN", "test:log"}), 20);
}

TEST_F(RecoveryLogTest, RestoresASessionOnceWithTheEntriesOfItsRoomsAfterItsOffset) {
  std::string before = Append("", "before");
  log_.SaveSession(*redis_, "pid1", Session("S1", {"red"}), before);
  std::string first = Append("red", "1");
  Append("blue", "not for it");
  std::string third = Append("", "3");

  // The client got nothing since it connected: everything after the saved offset.
  absl::StatusOr<StoredRestore> restored = Restore("pid1", "");
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->session.sid(), "S1");
  EXPECT_EQ(restored->session.session_json(), R"({"user":"ann"})");
  EXPECT_EQ(restored->from, before);
  EXPECT_EQ(restored->offset_at_connect, before);
  ASSERT_EQ(restored->entries.size(), 3u);
  EXPECT_EQ(restored->entries[0].id, first);
  EXPECT_EQ(restored->entries[2].id, third);
  std::vector<std::string> rooms(restored->session.rooms().begin(),
                                 restored->session.rooms().end());
  EXPECT_TRUE(TargetReaches(restored->entries[0].emit.target(), "S1", rooms));
  EXPECT_FALSE(TargetReaches(restored->entries[1].emit.target(), "S1", rooms));

  // Taken: a second restore (another replica, or a replayed CONNECT) finds nothing.
  EXPECT_EQ(Restore("pid1", "").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RecoveryLogTest, RestoresFromTheClientsOffset) {
  log_.SaveSession(*redis_, "pid2", Session("S2", {}), "0-0");
  std::string first = Append("", "1");
  std::string second = Append("", "2");
  absl::StatusOr<StoredRestore> restored = Restore("pid2", first);
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_EQ(restored->entries.size(), 1u);
  EXPECT_EQ(restored->entries[0].id, second);
}

TEST_F(RecoveryLogTest, RefusesUnknownPidsOtherNamespacesAndForeignOffsets) {
  EXPECT_EQ(Restore("nobody", "").status().code(), absl::StatusCode::kNotFound);
  log_.SaveSession(*redis_, "pid3", Session("S3", {}), "0-0");
  EXPECT_EQ(Restore("pid3", "", "/other").status().code(), absl::StatusCode::kNotFound);
  log_.SaveSession(*redis_, "pid4", Session("S4", {}), "0-0");
  EXPECT_EQ(Restore("pid4", "42").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RecoveryLogTest, KeepsSessionsForTheWindowAndRefreshesThem) {
  log_.SaveSession(*redis_, "pid5", Session("S5", {}), "0-0");
  bool done = false;
  redis_->Command({"PEXPIRE", log_.SessionKey("pid5"), "1000"}, [&](redisReply*) { done = true; });
  RunUntil([&] { return done; });
  long long shortened = server_.Integer({"PTTL", log_.SessionKey("pid5")});
  EXPECT_GT(shortened, 0);
  EXPECT_LE(shortened, 1000);
  log_.RefreshSessions(*redis_, {"pid5"});
  Append("", "sync");  // answered after the refresh
  long long refreshed = server_.Integer({"PTTL", log_.SessionKey("pid5")});
  EXPECT_GT(refreshed, 1000);
  EXPECT_LE(refreshed, 60000);
  log_.DeleteSession(*redis_, "pid5");
  Append("", "sync");
  EXPECT_EQ(server_.Integer({"EXISTS", log_.SessionKey("pid5")}), 0);
}

TEST_F(RecoveryLogTest, BoundsTheStreamAndRefusesARestoreWhoseEntriesWereTrimmed) {
  RecoveryLog small{RecoveryLogConfig{"small", std::chrono::milliseconds(60000), 10}};
  small.OnUp(*redis_);
  small.SaveSession(*redis_, "pid6", Session("S6", {}), "0-0");
  int logged = 0;
  for (int i = 0; i < 1000; ++i) {
    small.Append(*redis_, EmitTo("", std::to_string(i)), "e", "small-channel",
                 [&](std::optional<std::string> id) { logged += id.has_value(); });
  }
  RunUntil([&] { return logged == 1000; });
  ASSERT_EQ(logged, 1000);
  long long length = server_.Integer({"XLEN", "small:log"});
  EXPECT_GE(length, 10);
  EXPECT_LT(length, 1000);
  std::optional<absl::StatusOr<StoredRestore>> result;
  small.Restore(*redis_, "pid6", "/", "",
                [&](absl::StatusOr<StoredRestore> restored) { result = std::move(restored); });
  RunUntil([&] { return result.has_value(); });
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status().code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace sidecar::cluster
