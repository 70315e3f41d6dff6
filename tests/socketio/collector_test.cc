#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sidecar/socketio/hub.h"

namespace sidecar::socketio {
namespace {

using ::testing::ElementsAre;

// Records what a collector hands over.
class RecordingSink : public OutcomeSink {
 public:
  void OnClientAck(const std::string& sid, pb::Payload args) override {
    acks.emplace_back(sid, args.json());
  }
  void OnOutcome(cluster::Outcome outcome) override {
    ++outcomes;
    last = std::move(outcome);
  }

  std::vector<std::pair<std::string, std::string>> acks;
  int outcomes = 0;
  cluster::Outcome last;
};

TEST(CommandCollector, FinishesOnceEveryPartReported) {
  auto sink = std::make_shared<RecordingSink>();
  CommandCollector collector(sink, 2);
  collector.AddSockets(3);
  collector.PartDone();
  EXPECT_EQ(sink->outcomes, 0);
  collector.AddSockets(2);
  collector.PartDone();
  EXPECT_EQ(sink->outcomes, 1);
  EXPECT_EQ(sink->last.socket_count(), 5u);
}

TEST(CommandCollector, WaitsForAcksAfterThePartsAndReportsTheSilentOnes) {
  auto sink = std::make_shared<RecordingSink>();
  CommandCollector collector(sink, 1);
  collector.ExpectAck("a");
  collector.ExpectAck("b");
  collector.PartDone();
  collector.AckReceived("a", [] {
    pb::Payload args;
    args.set_json("[1]");
    return args;
  }());
  EXPECT_EQ(sink->outcomes, 0);
  collector.AckTimedOut("b");
  ASSERT_EQ(sink->outcomes, 1);
  EXPECT_THAT(sink->acks, ElementsAre(std::pair<std::string, std::string>("a", "[1]")));
  EXPECT_THAT(sink->last.ack_timed_out_sids(), ElementsAre("b"));
}

TEST(CommandCollector, MergesOtherNodesOutcomesAndSortsTheirSockets) {
  auto sink = std::make_shared<RecordingSink>();
  CommandCollector collector(sink, 1);
  collector.AddParts(2);
  pb::SocketInfo local;
  local.set_sid("m");
  collector.AddSocket(local);
  collector.AddRoom("lobby", 1);
  collector.PartDone();
  for (const char* sid : {"z", "a"}) {
    cluster::Outcome remote;
    remote.set_socket_count(1);
    remote.add_sockets()->set_sid(sid);
    pb::RoomInfo* room = remote.add_rooms();
    room->set_name("lobby");
    room->set_socket_count(1);
    collector.RemoteOutcome(remote);
  }
  ASSERT_EQ(sink->outcomes, 1);
  EXPECT_EQ(sink->last.socket_count(), 2u);
  ASSERT_EQ(sink->last.sockets_size(), 3);
  EXPECT_EQ(sink->last.sockets(0).sid(), "a");
  EXPECT_EQ(sink->last.sockets(2).sid(), "z");
  ASSERT_EQ(sink->last.rooms_size(), 1);
  EXPECT_EQ(sink->last.rooms(0).socket_count(), 3u);
}

TEST(CommandCollector, ForgetsANotFoundFromANodeWhenAnotherFoundTheSocket) {
  auto sink = std::make_shared<RecordingSink>();
  CommandCollector collector(sink, 2);
  collector.Fail(pb::CODE_NOT_FOUND, "no socket");
  collector.PartDone();
  cluster::Outcome found;
  found.add_sockets()->set_sid("s");
  collector.RemoteOutcome(found);
  ASSERT_EQ(sink->outcomes, 1);
  EXPECT_EQ(sink->last.code(), pb::CODE_OK_UNSPECIFIED);
  EXPECT_EQ(sink->last.sockets_size(), 1);
}

TEST(CommandCollector, ExpiringFailsWithDeadlineExceededWhenANodeIsMissing) {
  auto sink = std::make_shared<RecordingSink>();
  CommandCollector collector(sink, 2);
  collector.PartDone();
  collector.Expire("a replica did not answer");
  ASSERT_EQ(sink->outcomes, 1);
  EXPECT_EQ(sink->last.code(), pb::CODE_DEADLINE_EXCEEDED);
  EXPECT_EQ(sink->last.message(), "a replica did not answer");
  collector.PartDone();
  EXPECT_EQ(sink->outcomes, 1) << "a late part must not report twice";
}

TEST(CommandCollector, RemoteAcksPassThroughUntilFinished) {
  auto sink = std::make_shared<RecordingSink>();
  CommandCollector collector(sink, 1);
  pb::Payload args;
  args.set_json("[\"x\"]");
  collector.RemoteAck("r", args);
  collector.PartDone();
  collector.RemoteAck("late", args);
  EXPECT_THAT(sink->acks, ElementsAre(std::pair<std::string, std::string>("r", "[\"x\"]")));
}

TEST(MakeEmitPlan, RefusesBadNamespacesEventsAndJson) {
  pb::Emit emit;
  emit.set_namespace_("chat");
  emit.set_event("e");
  EXPECT_FALSE(MakeEmitPlan(emit).ok());
  emit.set_namespace_("/");
  emit.set_event("");
  EXPECT_FALSE(MakeEmitPlan(emit).ok());
  emit.set_event("e");
  emit.mutable_args()->set_json("{");
  EXPECT_FALSE(MakeEmitPlan(emit).ok());
}

TEST(MakeEmitPlan, EncodesTheFrameOnceWithAttachments) {
  pb::Emit emit;
  emit.set_namespace_("/chat");
  emit.set_event("file");
  emit.mutable_args()->set_json(R"([{"_placeholder":true,"num":0}])");
  emit.mutable_args()->add_binary("\x01\x02");
  absl::StatusOr<std::shared_ptr<const EmitPlan>> plan = MakeEmitPlan(emit);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(*(*plan)->frame.data, R"(451-/chat,["file",{"_placeholder":true,"num":0}])");
  EXPECT_EQ((*plan)->attachments.size(), 1u);
  EXPECT_EQ((*plan)->ack_timeout, std::chrono::milliseconds(10000));
}

}  // namespace
}  // namespace sidecar::socketio
