// The demo's handlers, driven by the SDK's test client.
#include "demo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "socketio/testing/test_client.h"

namespace demo {
namespace {

using socketio::Args;
using socketio::Json;
using socketio::testing::Received;
using socketio::testing::TestClient;

Json Message(std::string data, std::string room = "") {
  return {{"data", std::move(data)}, {"room", std::move(room)}};
}

// The `data` of every my_response received, in order.
std::vector<std::string> Responses(TestClient& client) {
  std::vector<std::string> data;
  for (const Received& received : client.GetReceived()) {
    if (received.name == "my_response") data.push_back(received.args.at(0)["data"]);
  }
  return data;
}

class DemoTest : public ::testing::Test {
 protected:
  DemoTest() { server_.Register(std::make_shared<Demo>()); }

  std::unique_ptr<TestClient> Connected() {
    auto client = std::make_unique<TestClient>(server_);
    EXPECT_TRUE(client->Connect().ok());
    client->GetReceived();
    return client;
  }

  socketio::Server server_;
};

TEST_F(DemoTest, GreetsEachNewClientWithCountZero) {
  TestClient client(server_);
  ASSERT_TRUE(client.Connect().ok());
  std::vector<Received> received = client.GetReceived();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].name, "my_response");
  EXPECT_EQ(received[0].args[0], (Json{{"data", "Connected"}, {"count", 0}}));
}

TEST_F(DemoTest, MyEventEchoesWithACountKeptInTheSession) {
  auto client = Connected();
  ASSERT_TRUE(client->Emit("my_event", {Message("one")}).ok());
  ASSERT_TRUE(client->Emit("my_event", {Message("two")}).ok());
  std::vector<Received> received = client->GetReceived();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].args[0], (Json{{"data", "one"}, {"count", 1}}));
  EXPECT_EQ(received[1].args[0], (Json{{"data", "two"}, {"count", 2}}));
}

TEST_F(DemoTest, TheCountCoversEveryEventTheClientSent) {
  auto client = Connected();
  ASSERT_TRUE(client->Emit("my_event", {Message("a")}).ok());
  ASSERT_TRUE(client->Emit("join", {Message("", "r")}).ok());
  ASSERT_TRUE(client->Emit("my_room_event", {Message("b", "r")}).ok());
  std::vector<int> counts;
  for (const Received& received : client->GetReceived()) {
    counts.push_back(received.args.at(0)["count"]);
  }
  EXPECT_THAT(counts, ::testing::ElementsAre(1, 2, 3));
}

TEST_F(DemoTest, MyBroadcastEventReachesEveryClient) {
  auto alice = Connected();
  auto bob = Connected();
  ASSERT_TRUE(alice->Emit("my_broadcast_event", {Message("all")}).ok());
  EXPECT_THAT(Responses(*alice), ::testing::ElementsAre("all"));
  EXPECT_THAT(Responses(*bob), ::testing::ElementsAre("all"));
}

TEST_F(DemoTest, RoomEventsReachOnlyTheRoomsMembers) {
  auto alice = Connected();
  auto bob = Connected();
  ASSERT_TRUE(alice->Emit("join", {Message("", "r1")}).ok());
  std::vector<std::string> joined = Responses(*alice);
  ASSERT_EQ(joined.size(), 1u);
  EXPECT_THAT(joined[0], ::testing::HasSubstr("r1"));
  ASSERT_TRUE(bob->Emit("my_room_event", {Message("psst", "r1")}).ok());
  EXPECT_THAT(Responses(*alice), ::testing::ElementsAre("psst"));
  EXPECT_THAT(Responses(*bob), ::testing::IsEmpty());
  ASSERT_TRUE(alice->Emit("leave", {Message("", "r1")}).ok());
  EXPECT_THAT(Responses(*alice), ::testing::ElementsAre("In rooms: " + alice->sid()));
  ASSERT_TRUE(bob->Emit("my_room_event", {Message("gone", "r1")}).ok());
  EXPECT_THAT(Responses(*alice), ::testing::IsEmpty());
}

TEST_F(DemoTest, CloseRoomWarnsTheMembersThenEmptiesTheRoom) {
  auto alice = Connected();
  auto bob = Connected();
  ASSERT_TRUE(alice->Emit("join", {Message("", "r2")}).ok());
  alice->GetReceived();
  ASSERT_TRUE(bob->Emit("close_room", {Message("", "r2")}).ok());
  EXPECT_THAT(Responses(*alice), ::testing::ElementsAre("Room r2 is closing."));
  ASSERT_TRUE(bob->Emit("my_room_event", {Message("after", "r2")}).ok());
  EXPECT_THAT(Responses(*alice), ::testing::IsEmpty());
}

TEST_F(DemoTest, MyPingIsAnsweredWithMyPong) {
  auto client = Connected();
  ASSERT_TRUE(client->Emit("my_ping").ok());
  std::vector<Received> received = client->GetReceived();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].name, "my_pong");
}

TEST_F(DemoTest, DisconnectRequestDisconnectsOnceTheClientAcknowledged) {
  auto client = Connected();
  client->OnCall([](const std::string&, const Args&) { return Args{}; });
  ASSERT_TRUE(client->Emit("disconnect_request").ok());
  EXPECT_THAT(Responses(*client), ::testing::ElementsAre("Disconnected!"));
  EXPECT_FALSE(client->IsConnected());
}

TEST_F(DemoTest, DisconnectRequestKeepsAClientThatDidNotAcknowledge) {
  auto client = Connected();
  ASSERT_TRUE(client->Emit("disconnect_request").ok());
  EXPECT_TRUE(client->IsConnected());
}

TEST_F(DemoTest, TheBackgroundTaskEmitsNumberedServerEvents) {
  auto client = Connected();
  {
    ServerEvents events(server_, std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  std::vector<Received> received = client->GetReceived();
  ASSERT_GE(received.size(), 2u);
  EXPECT_EQ(received[0].args[0], (Json{{"data", "Server generated event"}, {"count", 1}}));
  EXPECT_EQ(received[1].args[0]["count"], 2);
}

}  // namespace
}  // namespace demo
