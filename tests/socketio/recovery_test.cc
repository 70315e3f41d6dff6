#include "sidecar/socketio/recovery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/socketio/hub.h"

namespace sidecar::socketio {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

std::shared_ptr<const EmitPlan> Plan(std::string event, std::string args,
                                     std::vector<std::string> rooms = {},
                                     std::vector<std::string> except_rooms = {},
                                     std::string nsp = "/") {
  pb::Emit emit;
  emit.set_namespace_(nsp);
  emit.set_event(event);
  emit.mutable_args()->set_json(args);
  for (auto& room : rooms) emit.mutable_target()->add_rooms(room);
  for (auto& room : except_rooms) emit.mutable_target()->add_except_rooms(room);
  return *MakeEmitPlan(emit);
}

// A store on a clock the test moves, which records what it delivers.
class MemoryStoreTest : public ::testing::Test {
 protected:
  MemoryStoreTest()
      : store_({.window = std::chrono::seconds(10), .max_packets = 4}, locations_, 2,
               [this] { return now_; }) {}

  // Logs an emit; returns its offset.
  std::string Append(std::shared_ptr<const EmitPlan> plan) {
    std::string offset;
    store_.Append(nullptr, std::move(plan), [&](std::shared_ptr<const EmitPlan> logged) {
      delivered_.push_back(logged);
      offset = logged->offset;
    });
    return offset;
  }

  std::optional<RestoredSession> Restore(std::string pid, std::optional<std::string> offset,
                                         std::string nsp = "/") {
    std::optional<RestoredSession> result;
    bool answered = false;
    store_.Restore({.pid = pid, .nsp = nsp, .offset = offset, .shard = 1},
                   [&](std::optional<RestoredSession> restored) {
                     answered = true;
                     result = std::move(restored);
                   });
    EXPECT_TRUE(answered);  // the memory store answers before Restore returns
    return result;
  }

  void Park(std::string pid, std::string sid, std::vector<std::string> rooms,
            std::string offset_at_connect = "") {
    rooms.push_back(sid);
    store_.Park({.pid = pid,
                 .sid = sid,
                 .nsp = "/",
                 .rooms = rooms,
                 .session_json = R"({"user":"ann"})",
                 .offset_at_connect = offset_at_connect});
  }

  static std::vector<std::string> Frames(const RestoredSession& restored) {
    std::vector<std::string> frames;
    for (const auto& plan : restored.missed) frames.push_back(*plan->frame.data);
    return frames;
  }

  Clock::time_point now_ = Clock::now();
  SocketLocations locations_;
  MemoryRecoveryStore store_;
  std::vector<std::shared_ptr<const EmitPlan>> delivered_;
};

TEST_F(MemoryStoreTest, AppendsTheOffsetAsTheLastArgumentOfTheFrameEncodedOnce) {
  std::string first = Append(Plan("news", R"([1,{"a":"b"}])"));
  std::string second = Append(Plan("ping", "[]"));
  ASSERT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(*delivered_[0]->frame.data, absl::StrCat(R"(42["news",1,{"a":"b"},")", first, R"("])"));
  EXPECT_EQ(*delivered_[1]->frame.data, absl::StrCat(R"(42["ping",")", second, R"("])"));
  EXPECT_EQ(delivered_[1]->data, absl::StrCat(R"(["ping",")", second, R"("])"));
  EXPECT_TRUE(store_.IsAfter(second, first));
  EXPECT_FALSE(store_.IsAfter(first, second));
  EXPECT_FALSE(store_.IsAfter(first, first));
  EXPECT_EQ(store_.LastOffset(), second);
}

TEST_F(MemoryStoreTest, OffsetsAreNotNumbersAClientMightSendByChance) {
  std::string offset = Append(Plan("news", "[]"));
  EXPECT_THAT(offset, ::testing::MatchesRegex("[0-9]+-1"));
  EXPECT_TRUE(store_.IsAfter(offset, "1"));   // not one of ours: before everything
  EXPECT_FALSE(store_.IsAfter("2", offset));  // likewise
}

TEST_F(MemoryStoreTest, RestoresRoomsSessionAndTheMissedEventsOfItsRoomsInOrder) {
  std::string before = Append(Plan("old", "[0]", {"news"}));
  Park("pid1", "sid1", {"news"});
  std::string offset = before;
  Append(Plan("a", "[1]", {"news"}));
  Append(Plan("b", "[2]", {"sports"}));
  Append(Plan("c", "[3]", {"sid1"}));
  std::string last = Append(Plan("d", "[4]", {}, {"news"}));
  std::optional<RestoredSession> restored = Restore("pid1", offset);
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(restored->state.sid, "sid1");
  EXPECT_THAT(restored->state.rooms, ElementsAre("news", "sid1"));
  EXPECT_EQ(restored->state.session_json, R"({"user":"ann"})");
  ASSERT_EQ(restored->missed.size(), 2u);
  EXPECT_EQ(restored->missed[0]->data.substr(0, 8), R"(["a",1,")");
  EXPECT_EQ(restored->missed[1]->data.substr(0, 8), R"(["c",3,")");
  EXPECT_EQ(restored->through, last);
  // Taken: a second attempt finds nothing.
  EXPECT_FALSE(Restore("pid1", offset).has_value());
  EXPECT_EQ(store_.parked(), 0u);
}

TEST_F(MemoryStoreTest, WithoutAnOffsetTheClientMissedEverythingSinceItConnected) {
  Append(Plan("before", "[0]"));
  std::string at_connect = store_.LastOffset();
  Append(Plan("after", "[1]"));
  Park("pid1", "sid1", {}, at_connect);
  std::optional<RestoredSession> restored = Restore("pid1", std::nullopt);
  ASSERT_TRUE(restored.has_value());
  ASSERT_EQ(restored->missed.size(), 1u);
  EXPECT_EQ(restored->missed[0]->data.substr(0, 10), R"(["after",1)");
}

TEST_F(MemoryStoreTest, OnlyTheSameNamespaceRestoresAndItsEventsOnly) {
  std::string offset = Append(Plan("x", "[]"));
  Park("pid1", "sid1", {});
  Append(Plan("other", "[]", {}, {}, "/chat"));
  EXPECT_FALSE(Restore("pid1", offset, "/chat").has_value());
  std::optional<RestoredSession> restored = Restore("pid1", offset);
  ASSERT_TRUE(restored.has_value());
  EXPECT_THAT(restored->missed, IsEmpty());
}

TEST_F(MemoryStoreTest, AnEventThatLeftTheLogByCountMeansNoRecovery) {
  std::string first = Append(Plan("e", "[1]"));
  std::string second = Append(Plan("e", "[2]"));
  Park("pid1", "sid1", {});
  Park("pid2", "sid2", {});
  for (int i = 3; i <= 6; ++i) Append(Plan("e", absl::StrCat("[", i, "]")));
  EXPECT_EQ(store_.logged(), 4u);  // 3..6: 1 and 2 left the log
  // Missed 2, which left the log.
  EXPECT_FALSE(Restore("pid1", first).has_value());
  // Got 2: everything it missed is still there.
  std::optional<RestoredSession> restored = Restore("pid2", second);
  ASSERT_TRUE(restored.has_value());
  EXPECT_EQ(restored->missed.size(), 4u);
}

TEST_F(MemoryStoreTest, EventsAndSessionsExpireAfterTheWindow) {
  std::string offset = Append(Plan("e", "[1]"));
  Park("pid1", "sid1", {});
  now_ += std::chrono::seconds(9);
  Park("pid2", "sid2", {});
  Append(Plan("e", "[2]"));
  now_ += std::chrono::seconds(2);
  // pid1 was parked 11 s ago; the first event left the log, the second did not.
  EXPECT_FALSE(Restore("pid1", offset).has_value());
  EXPECT_EQ(store_.logged(), 1u);
  EXPECT_TRUE(Restore("pid2", offset).has_value());
}

TEST_F(MemoryStoreTest, AnOffsetNotOfThisStoreMeansNoRecovery) {
  Append(Plan("e", "[1]"));
  Park("pid1", "sid1", {});
  EXPECT_FALSE(Restore("pid1", "1700000000000-1").has_value());
}

TEST_F(MemoryStoreTest, ARestoredSocketOnAnotherShardIsFoundThere) {
  std::string sid = runtime::NewId(0);
  Park("pid1", sid, {});
  ASSERT_TRUE(Restore("pid1", std::nullopt).has_value());  // asks for shard 1
  EXPECT_EQ(locations_.ShardOf(sid), 1u);
  locations_.Erase(sid);
  EXPECT_EQ(locations_.ShardOf(sid), std::nullopt);
  // A socket restored on the shard its id names needs no record.
  EXPECT_FALSE(locations_.Restored(runtime::NewId(1), 1, 2));
}

TEST(Recovery, OnlyALostTransportIsRecoverable) {
  EXPECT_TRUE(IsRecoverableReason("transport close"));
  EXPECT_TRUE(IsRecoverableReason("ping timeout"));
  EXPECT_TRUE(IsRecoverableReason("server shutting down"));
  EXPECT_FALSE(IsRecoverableReason("client namespace disconnect"));
  EXPECT_FALSE(IsRecoverableReason("server namespace disconnect"));
  EXPECT_FALSE(IsRecoverableReason("parse error"));
}

TEST(Recovery, BinaryEventsCarryTheOffsetAfterTheirPlaceholders) {
  pb::Emit emit;
  emit.set_namespace_("/chat");
  emit.set_event("file");
  emit.mutable_args()->set_json(R"([{"_placeholder":true,"num":0}])");
  emit.mutable_args()->add_binary("abc");
  std::shared_ptr<const EmitPlan> plan = MakeOffsetPlan(**MakeEmitPlan(emit), "5-1");
  EXPECT_EQ(*plan->frame.data, R"(451-/chat,["file",{"_placeholder":true,"num":0},"5-1"])");
  EXPECT_EQ(plan->attachments.size(), 1u);
  EXPECT_EQ(plan->offset, "5-1");
}

}  // namespace
}  // namespace sidecar::socketio
