#include "sidecar/backend/backend_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sidecar::backend {
namespace {

pb::SidecarMessage EventOf(const std::string& sid, int number, size_t padding = 0) {
  pb::SidecarMessage message;
  pb::Event* event = message.mutable_event();
  event->set_sid(sid);
  event->set_namespace_("/");
  event->set_event("n");
  event->mutable_args()->set_json("[" + std::to_string(number) + "]");
  event->set_session_json(std::string(padding, ' '));
  return message;
}

pb::Hello HelloOf(bool accepts_batches) {
  pb::Hello hello;
  hello.set_name("unit");
  hello.add_namespaces()->set_namespace_("/");
  hello.set_accepts_batches(accepts_batches);
  return hello;
}

// The numbers of the events in what was written, a batch flattened.
std::vector<std::string> ArgsOf(const pb::SidecarMessage& message) {
  std::vector<std::string> args;
  if (message.has_batch()) {
    for (const pb::SidecarMessage& each : message.batch().messages()) {
      args.push_back(each.event().args().json());
    }
  } else {
    args.push_back(message.event().args().json());
  }
  return args;
}

// A stream whose writes complete when the test says so.
struct Recorded {
  explicit Recorded(bool accepts_batches, size_t max_queued_bytes = 64 << 20)
      : stream([this](const pb::SidecarMessage* message) { written.push_back(*message); },
               max_queued_bytes, [this](size_t) { ++overflows; }) {
    stream.Declare(HelloOf(accepts_batches));
    stream.Activate();
  }
  std::vector<pb::SidecarMessage> written;
  int overflows = 0;
  BackendStream stream;
};

TEST(BackendStream, WritesAMessageAtOnceWhenNoWriteIsInFlight) {
  Recorded recorded(/*accepts_batches=*/true);
  recorded.stream.Send(EventOf("a", 1));
  ASSERT_EQ(recorded.written.size(), 1u);
  EXPECT_FALSE(recorded.written[0].has_batch());
  recorded.stream.OnWriteDone(true);
  recorded.stream.Send(EventOf("a", 2));
  ASSERT_EQ(recorded.written.size(), 2u);
  EXPECT_EQ(ArgsOf(recorded.written[1]), std::vector<std::string>{"[2]"});
}

TEST(BackendStream, SendsWhatQueuedDuringAWriteAsOneBatchInOrder) {
  Recorded recorded(/*accepts_batches=*/true);
  for (int i = 1; i <= 4; ++i) recorded.stream.Send(EventOf(i % 2 ? "a" : "b", i));
  ASSERT_EQ(recorded.written.size(), 1u);
  recorded.stream.OnWriteDone(true);
  ASSERT_EQ(recorded.written.size(), 2u);
  ASSERT_TRUE(recorded.written[1].has_batch());
  EXPECT_EQ(ArgsOf(recorded.written[1]), (std::vector<std::string>{"[2]", "[3]", "[4]"}));
  EXPECT_EQ(recorded.written[1].batch().messages(1).event().sid(), "a");
  recorded.stream.OnWriteDone(true);
  EXPECT_EQ(recorded.written.size(), 2u);  // nothing left: the stream is idle
}

TEST(BackendStream, WritesOneMessageAtATimeToABackendThatDoesNotAcceptBatches) {
  Recorded recorded(/*accepts_batches=*/false);
  for (int i = 1; i <= 3; ++i) recorded.stream.Send(EventOf("a", i));
  recorded.stream.OnWriteDone(true);
  recorded.stream.OnWriteDone(true);
  recorded.stream.OnWriteDone(true);
  ASSERT_EQ(recorded.written.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(recorded.written[i].has_batch());
    EXPECT_EQ(ArgsOf(recorded.written[i]),
              std::vector<std::string>{"[" + std::to_string(i + 1) + "]"});
  }
}

TEST(BackendStream, KeepsEachBatchWithinItsByteBound) {
  Recorded recorded(/*accepts_batches=*/true);
  size_t padding = kMaxBatchBytes / 3;
  for (int i = 1; i <= 5; ++i) recorded.stream.Send(EventOf("a", i, padding));
  recorded.stream.OnWriteDone(true);
  recorded.stream.OnWriteDone(true);
  recorded.stream.OnWriteDone(true);
  ASSERT_EQ(recorded.written.size(), 3u);
  EXPECT_EQ(ArgsOf(recorded.written[1]), (std::vector<std::string>{"[2]", "[3]"}));
  EXPECT_EQ(ArgsOf(recorded.written[2]), (std::vector<std::string>{"[4]", "[5]"}));
  for (const pb::SidecarMessage& message : recorded.written) {
    EXPECT_LE(message.ByteSizeLong(), kMaxBatchBytes + 64);
  }
}

TEST(BackendStream, DetachesWhenWhatIsQueuedForABackendPassesTheBound) {
  Recorded recorded(/*accepts_batches=*/true, /*max_queued_bytes=*/3000);
  for (int i = 1; i <= 3; ++i) recorded.stream.Send(EventOf("a", i, 1000));
  EXPECT_EQ(recorded.overflows, 1);
  EXPECT_FALSE(recorded.stream.alive());
  recorded.stream.OnWriteDone(true);
  EXPECT_EQ(recorded.written.size(), 1u);  // nothing more is written to it
}

TEST(BackendStream, StopsWritingAfterAFailedWrite) {
  Recorded recorded(/*accepts_batches=*/true);
  recorded.stream.Send(EventOf("a", 1));
  recorded.stream.Send(EventOf("a", 2));
  recorded.stream.OnWriteDone(false);
  EXPECT_EQ(recorded.written.size(), 1u);
}

}  // namespace
}  // namespace sidecar::backend
