// Batches on the Backend.Attach stream, over a scripted in-memory link: the
// SDK unpacks the sidecar's batches in order, and coalesces what it writes
// while a write is in flight only for a sidecar that accepts batches.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "socketio/server.h"

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;
constexpr auto kWait = std::chrono::seconds(20);

// Plays the sidecar: Read returns what the test pushed; writes are recorded,
// one at a time as a gRPC stream takes them, and one write can be held until
// the test releases it (a write in flight).
class ScriptedLink : public Link {
 public:
  bool Write(const pb::BackendMessage& message) override {
    std::lock_guard write_lock(write_mutex_);
    std::unique_lock lock(mutex_);
    if (hold_next_ && !message.has_hello()) {
      hold_next_ = false;
      holding_ = true;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !holding_; });
    }
    written_.push_back(message);
    changed_.notify_all();
    return true;
  }

  bool Read(pb::SidecarMessage* message) override {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !incoming_.empty() || closed_; });
    if (incoming_.empty()) return false;
    *message = std::move(incoming_.front());
    incoming_.pop_front();
    return true;
  }

  void Close() override {
    std::lock_guard lock(mutex_);
    closed_ = true;
    changed_.notify_all();
  }

  void Push(pb::SidecarMessage message) {
    std::lock_guard lock(mutex_);
    incoming_.push_back(std::move(message));
    changed_.notify_all();
  }

  // The next write (after Hello) stays in flight until Release.
  void HoldNextWrite() {
    std::lock_guard lock(mutex_);
    hold_next_ = true;
  }
  bool WaitHolding() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, kWait, [&] { return holding_; });
  }
  void Release() {
    std::lock_guard lock(mutex_);
    holding_ = false;
    changed_.notify_all();
  }

  std::vector<pb::BackendMessage> WaitWritten(size_t count) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, kWait, [&] { return written_.size() >= count; });
    return written_;
  }

 private:
  std::mutex write_mutex_;  // held through a write, as GrpcLink's is
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<pb::SidecarMessage> incoming_;
  std::vector<pb::BackendMessage> written_;
  bool closed_ = false;
  bool hold_next_ = false;
  bool holding_ = false;
};

pb::SidecarMessage WelcomeOf(bool accepts_batches) {
  pb::SidecarMessage message;
  message.mutable_welcome()->set_sidecar_version("scripted");
  message.mutable_welcome()->set_always_connect(true);
  message.mutable_welcome()->set_accepts_batches(accepts_batches);
  return message;
}

// Serves a link on its own thread until the test ends.
class Serving {
 public:
  Serving(Server& server, std::shared_ptr<ScriptedLink> link, bool accepts_batches)
      : server_(server), link_(std::move(link)) {
    server_.OnAttach([this] {
      std::lock_guard lock(mutex_);
      attached_ = true;
      attached_cv_.notify_all();
    });
    link_->Push(WelcomeOf(accepts_batches));
    thread_ = std::thread([this] { EXPECT_TRUE(server_.Serve(link_).ok()); });
    std::unique_lock lock(mutex_);
    EXPECT_TRUE(attached_cv_.wait_for(lock, kWait, [&] { return attached_; }));
  }
  ~Serving() {
    server_.Shutdown();
    thread_.join();
  }

 private:
  Server& server_;
  std::shared_ptr<ScriptedLink> link_;
  std::mutex mutex_;
  std::condition_variable attached_cv_;
  bool attached_ = false;
  std::thread thread_;
};

std::string EmittedArgs(const pb::BackendMessage& message) {
  return message.has_emit() ? message.emit().args().json() : message.DebugString();
}

TEST(Batching, HelloSaysTheBackendAcceptsBatches) {
  auto link = std::make_shared<ScriptedLink>();
  Server server({.name = "batching"});
  Serving serving(server, link, /*accepts_batches=*/false);
  std::vector<pb::BackendMessage> written = link->WaitWritten(1);
  ASSERT_TRUE(written.at(0).has_hello());
  EXPECT_TRUE(written.at(0).hello().accepts_batches());
}

TEST(Batching, HandlesTheMessagesOfASidecarBatchInOrder) {
  auto link = std::make_shared<ScriptedLink>();
  Server server({.name = "batching"});
  server.On("/", "n", [](Socket&, const Args& args) { return args; });
  Serving serving(server, link, /*accepts_batches=*/false);
  pb::SidecarMessage batch;
  pb::Adopted* adopted = batch.mutable_batch()->add_messages()->mutable_adopted();
  adopted->set_sid("s1");
  adopted->set_namespace_("/");
  for (int i = 1; i <= 5; ++i) {
    pb::Event* event = batch.mutable_batch()->add_messages()->mutable_event();
    event->set_sid("s1");
    event->set_namespace_("/");
    event->set_event("n");
    event->mutable_args()->set_json("[" + std::to_string(i) + "]");
    event->set_ack_id(static_cast<uint64_t>(i));
  }
  link->Push(std::move(batch));
  std::vector<pb::BackendMessage> written = link->WaitWritten(6);
  ASSERT_EQ(written.size(), 6u);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(written[i].has_ack()) << written[i].DebugString();
    EXPECT_EQ(written[i].ack().ack_id(), static_cast<uint64_t>(i));
    EXPECT_EQ(written[i].ack().args().json(), "[" + std::to_string(i) + "]");
  }
}

TEST(Batching, SendsWhatIsWrittenDuringAWriteInFlightAsOneBatchInOrder) {
  auto link = std::make_shared<ScriptedLink>();
  Server server({.name = "batching"});
  Serving serving(server, link, /*accepts_batches=*/true);
  link->HoldNextWrite();
  std::thread first([&] { EXPECT_TRUE(server.Emit("e", {0}).ok()); });
  ASSERT_TRUE(link->WaitHolding());
  // Queued behind the write in flight: each returns at once.
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(server.Emit("e", {i}).ok());
  link->Release();
  first.join();
  std::vector<pb::BackendMessage> written = link->WaitWritten(3);
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(EmittedArgs(written[1]), "[0]");
  ASSERT_TRUE(written[2].has_batch()) << written[2].DebugString();
  ASSERT_EQ(written[2].batch().messages_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(EmittedArgs(written[2].batch().messages(i)), "[" + std::to_string(i + 1) + "]");
  }
  // Idle again: the next write leaves alone and at once.
  EXPECT_TRUE(server.Emit("e", {4}).ok());
  written = link->WaitWritten(4);
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(EmittedArgs(written[3]), "[4]");
}

TEST(Batching, NeverSendsABatchToASidecarThatDoesNotAcceptThem) {
  auto link = std::make_shared<ScriptedLink>();
  Server server({.name = "batching"});
  Serving serving(server, link, /*accepts_batches=*/false);
  link->HoldNextWrite();
  std::thread first([&] { EXPECT_TRUE(server.Emit("e", {0}).ok()); });
  ASSERT_TRUE(link->WaitHolding());
  // These wait for the write in flight, as on a stream without batches.
  std::thread rest([&] {
    for (int i = 1; i <= 3; ++i) EXPECT_TRUE(server.Emit("e", {i}).ok());
  });
  link->Release();
  first.join();
  rest.join();
  std::vector<pb::BackendMessage> written = link->WaitWritten(5);
  ASSERT_EQ(written.size(), 5u);
  for (int i = 0; i <= 3; ++i)
    EXPECT_EQ(EmittedArgs(written[i + 1]), "[" + std::to_string(i) + "]");
}

}  // namespace
}  // namespace socketio
