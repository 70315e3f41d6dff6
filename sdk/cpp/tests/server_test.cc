// The SDK's handler model, driven through the test client.
#include "socketio/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <numeric>
#include <thread>

#include "socketio/testing/test_client.h"

namespace socketio {
namespace {

using testing::ConnectOptions;
using ::testing::ElementsAre;
using testing::Received;
using testing::TestClient;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Names(const std::vector<Received>& received) {
  std::vector<std::string> names;
  for (const Received& item : received) names.push_back(item.name);
  return names;
}

TEST(Server, RunsTheEventsHandlerAndAcksWithItsResult) {
  Server server;
  server.On("/", "add", [](Socket&, const Args& args) {
    return Args{args.at(0).get<int>() + args.at(1).get<int>()};
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  absl::StatusOr<Args> ack = client.Call("add", {2, 3});
  ASSERT_TRUE(ack.ok()) << ack.status();
  EXPECT_EQ(*ack, Args{5});
}

TEST(Server, ARecoveredSocketKeepsItsSidRoomsAndSessionAndTheConnectHandlerKnows) {
  Server server;
  struct Seen {
    std::string sid;
    bool recovered;
    int visits;
  };
  std::vector<Seen> connects;
  std::vector<std::string> disconnects;
  server.OnConnect("/", [&](Socket& socket, const Json&) {
    int visits = socket.session().value("visits", 0) + 1;
    socket.session()["visits"] = visits;
    if (!socket.recovered()) {
      EXPECT_TRUE(socket.JoinRoom("news").ok());
    }
    connects.push_back({socket.sid(), socket.recovered(), visits});
  });
  server.OnDisconnect("/",
                      [&](Socket&, const std::string& reason) { disconnects.push_back(reason); });
  server.On("/", "rooms", [](Socket& socket, const Args&) { return Args{*socket.Rooms()}; });
  TestClient client(server);

  // Nothing dropped yet: a normal connect.
  ASSERT_TRUE(client.Connect("/", ConnectOptions{.recover = true}).ok());
  ASSERT_TRUE(client.DropTransport().ok());
  EXPECT_FALSE(client.IsConnected());
  ASSERT_TRUE(client.Connect("/", ConnectOptions{.recover = true}).ok());
  ASSERT_EQ(connects.size(), 2u);
  EXPECT_FALSE(connects[0].recovered);
  EXPECT_EQ(connects[0].visits, 1);
  EXPECT_TRUE(connects[1].recovered);
  EXPECT_EQ(connects[1].sid, connects[0].sid);
  EXPECT_EQ(connects[1].visits, 2);  // the session came back with the socket
  absl::StatusOr<Args> rooms = client.Call("rooms");
  ASSERT_TRUE(rooms.ok()) << rooms.status();
  EXPECT_THAT(rooms->at(0).get<std::vector<std::string>>(), ::testing::Contains("news"));
  EXPECT_THAT(disconnects, ElementsAre("transport close"));

  // After a deliberate disconnect there is nothing to recover.
  ASSERT_TRUE(client.Disconnect().ok());
  ASSERT_TRUE(client.Connect("/", ConnectOptions{.recover = true}).ok());
  ASSERT_EQ(connects.size(), 3u);
  EXPECT_FALSE(connects[2].recovered);
  EXPECT_NE(connects[2].sid, connects[0].sid);
}

TEST(Server, AcksSeveralArgumentsOrNone) {
  Server server;
  server.On("/", "pair", [](Socket&, const Args&) { return Args{"a", 1}; });
  server.On("/", "nothing", [](Socket&, const Args&) { return Args{}; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(*client.Call("pair"), (Args{"a", 1}));
  EXPECT_EQ(*client.Call("nothing"), Args{});
}

TEST(Server, ConnectHandlersSeeAuthQueryAndHeaders) {
  Server server;
  Json seen;
  server.OnConnect("/", [&](Socket& socket, const Json& auth) {
    seen = {{"auth", auth},
            {"query", socket.handshake().Query("room").value_or("")},
            {"header", socket.handshake().Header("X-Team").value_or("")},
            {"sid", socket.sid()}};
  });
  TestClient client(server);
  ConnectOptions options;
  options.auth = {{"token", "abc"}};
  options.query = {{"room", "lobby"}};
  options.headers = {{"x-team", "blue"}};
  ASSERT_TRUE(client.Connect("/", options).ok());
  EXPECT_EQ(seen["auth"], (Json{{"token", "abc"}}));
  EXPECT_EQ(seen["query"], "lobby");
  EXPECT_EQ(seen["header"], "blue");
  EXPECT_EQ(seen["sid"], client.sid());
}

TEST(Server, AConnectHandlerRefusesWithMessageAndData) {
  Server server;
  server.OnConnect("/", [](Socket&, const Json& auth) {
    if (!auth.contains("token"))
      throw ConnectionRefusedError("unauthorized", {{"login", "/login"}});
  });
  TestClient client(server);
  absl::Status status = client.Connect();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(status.message(), "unauthorized");
  EXPECT_EQ(client.connect_error(),
            (Json{{"message", "unauthorized"}, {"data", {{"login", "/login"}}}}));
  EXPECT_FALSE(client.IsConnected());
  ConnectOptions options;
  options.auth = {{"token", "t"}};
  EXPECT_TRUE(client.Connect("/", options).ok());
}

TEST(Server, EmitsFromAConnectHandlerReachTheClientOnceAccepted) {
  Server server;
  server.OnConnect("/", [](Socket& socket, const Json&) {
    ASSERT_TRUE(socket.Emit("welcome", {"hi"}).ok());
    ASSERT_TRUE(socket.JoinRoom("lobby").ok());
  });
  server.On("/", "rooms", [](Socket& socket, const Args&) {
    std::vector<std::string> rooms = *socket.Rooms();
    return Args{rooms};
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  std::vector<Received> received = client.GetReceived();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].name, "welcome");
  EXPECT_EQ(received[0].args, Args{"hi"});
  Json rooms = (*client.Call("rooms"))[0];
  EXPECT_THAT(rooms.get<std::vector<std::string>>(), UnorderedElementsAre(client.sid(), "lobby"));
}

TEST(Server, KeepsTheSessionAcrossEvents) {
  Server server;
  server.OnConnect("/", [](Socket& socket, const Json&) { socket.session()["count"] = 0; });
  server.On("/", "count", [](Socket& socket, const Args&) {
    int count = socket.session()["count"].get<int>() + 1;
    socket.session()["count"] = count;
    return Args{count};
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(*client.Call("count"), Args{1});
  EXPECT_EQ(*client.Call("count"), Args{2});
  EXPECT_EQ(*client.Call("count"), Args{3});
}

TEST(Server, BroadcastsAndRoomsReachTheRightClients) {
  Server server;
  server.On("/", "join", [](Socket& socket, const Args& args) {
    EXPECT_TRUE(socket.JoinRoom(args.at(0).get<std::string>()).ok());
    return Args{};
  });
  server.On("/", "to_room", [](Socket& socket, const Args& args) {
    EmitOptions options;
    options.to = {args.at(0).get<std::string>()};
    EXPECT_TRUE(socket.Emit("room_message", {args.at(1)}, options).ok());
    return Args{};
  });
  server.On("/", "shout", [](Socket& socket, const Args& args) {
    EmitOptions options;
    options.broadcast = true;
    options.include_self = false;
    EXPECT_TRUE(socket.Emit("shout", args, options).ok());
    return Args{};
  });
  TestClient alice(server), bob(server), carol(server);
  for (TestClient* client : {&alice, &bob, &carol}) ASSERT_TRUE(client->Connect().ok());
  ASSERT_TRUE(alice.Emit("join", {"r"}).ok());
  ASSERT_TRUE(bob.Emit("join", {"r"}).ok());
  ASSERT_TRUE(carol.Emit("to_room", {"r", "hello r"}).ok());
  EXPECT_THAT(Names(alice.GetReceived()), ElementsAre("room_message"));
  EXPECT_THAT(Names(bob.GetReceived()), ElementsAre("room_message"));
  EXPECT_THAT(carol.GetReceived(), ::testing::IsEmpty());

  ASSERT_TRUE(alice.Emit("shout", {"hey"}).ok());
  EXPECT_THAT(alice.GetReceived(), ::testing::IsEmpty());
  EXPECT_THAT(Names(bob.GetReceived()), ElementsAre("shout"));
  EXPECT_THAT(Names(carol.GetReceived()), ElementsAre("shout"));
}

TEST(Server, SkipSidLeavesSocketsOut) {
  Server server;
  server.On("/", "all_but", [](Socket& socket, const Args& args) {
    EmitOptions options;
    options.broadcast = true;
    options.skip_sids = {args.at(0).get<std::string>()};
    EXPECT_TRUE(socket.Emit("news", {}, options).ok());
    return Args{};
  });
  TestClient alice(server), bob(server);
  ASSERT_TRUE(alice.Connect().ok());
  ASSERT_TRUE(bob.Connect().ok());
  ASSERT_TRUE(alice.Emit("all_but", {bob.sid()}).ok());
  EXPECT_THAT(Names(alice.GetReceived()), ElementsAre("news"));
  EXPECT_THAT(bob.GetReceived(), ::testing::IsEmpty());
}

TEST(Server, CloseRoomAndLeaveRoomRemoveMembers) {
  Server server;
  server.On("/", "join", [](Socket& socket, const Args& args) {
    EXPECT_TRUE(socket.JoinRoom(args.at(0).get<std::string>()).ok());
    return Args{};
  });
  server.On("/", "leave", [](Socket& socket, const Args& args) {
    EXPECT_TRUE(socket.LeaveRoom(args.at(0).get<std::string>()).ok());
    return Args{};
  });
  server.On("/", "close", [](Socket& socket, const Args& args) {
    EXPECT_TRUE(socket.CloseRoom(args.at(0).get<std::string>()).ok());
    return Args{};
  });
  server.On("/", "rooms", [](Socket& socket, const Args&) { return Args{*socket.Rooms()}; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Emit("join", {"a"}).ok());
  ASSERT_TRUE(client.Emit("join", {"b"}).ok());
  ASSERT_TRUE(client.Emit("leave", {"a"}).ok());
  ASSERT_TRUE(client.Emit("close", {"b"}).ok());
  EXPECT_EQ((*client.Call("rooms"))[0], Json::array({client.sid()}));
}

TEST(Server, CallWaitsForTheClientsAnswer) {
  Server server;
  server.On("/", "ask", [](Socket& socket, const Args&) {
    absl::StatusOr<Args> answer = socket.Call("question", {"why?"});
    return answer.ok() ? *answer : Args{std::string(answer.status().message())};
  });
  TestClient client(server);
  client.OnCall([](const std::string& event, const Args& args) {
    return Args{event + ": " + args.at(0).get<std::string>() + " because"};
  });
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(*client.Call("ask"), Args{"question: why? because"});
}

TEST(Server, CallReportsAClientThatDoesNotAnswer) {
  Server server;
  server.On("/", "ask", [](Socket& socket, const Args&) {
    absl::StatusOr<Args> answer = socket.Call("question", {}, std::chrono::milliseconds(100));
    return Args{answer.status().code() == absl::StatusCode::kDeadlineExceeded};
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(*client.Call("ask"), Args{true});
}

TEST(Server, EmitCallbacksGetEachClientsAnswer) {
  Server server;
  std::mutex mutex;
  std::vector<std::string> answers;
  server.On("/", "poll", [&](Socket& socket, const Args&) {
    EmitOptions options;
    options.broadcast = true;
    options.callback = [&](const std::string&, absl::StatusOr<Args> answer) {
      std::lock_guard lock(mutex);
      answers.push_back(answer.ok() ? (*answer)[0].get<std::string>() : "timeout");
    };
    EXPECT_TRUE(socket.Emit("vote", {}, options).ok());
    return Args{};
  });
  TestClient alice(server), bob(server);
  alice.OnCall([](const std::string&, const Args&) { return Args{"yes"}; });
  ASSERT_TRUE(alice.Connect().ok());
  ASSERT_TRUE(bob.Connect().ok());
  ASSERT_TRUE(alice.Emit("poll").ok());
  std::lock_guard lock(mutex);
  EXPECT_THAT(answers, UnorderedElementsAre("yes", "timeout"));
}

TEST(Server, AnExceptionGoesToTheNamespacesErrorHandlerWhoseResultIsTheAck) {
  Server server;
  server.On("/chat", "boom",
            [](Socket&, const Args&) -> Args { throw std::runtime_error("kaboom"); });
  server.OnError("/chat", [](Socket& socket, std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      return Args{std::string("chat error in ") + socket.event() + ": " + e.what()};
    }
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect("/chat").ok());
  EXPECT_EQ(*client.Call("boom", {}, "/chat"), Args{"chat error in boom: kaboom"});
  EXPECT_TRUE(client.IsConnected("/chat")) << "a failing handler must not drop the client";
}

TEST(Server, WithoutANamespaceHandlerErrorsGoToTheDefaultOne) {
  Server server;
  server.On("/", "boom", [](Socket&, const Args&) -> Args { throw std::logic_error("no"); });
  server.OnErrorDefault([](Socket&, std::exception_ptr) { return Args{"default"}; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(*client.Call("boom"), Args{"default"});
  EXPECT_EQ(*client.Call("boom"), Args{"default"});
}

TEST(Server, CatchAllAndMessageHandlersGetTheirEvents) {
  Server server;
  server.OnMessage("/", [](Socket& socket, const Args& args) {
    EXPECT_TRUE(socket.Send(args.at(0)).ok());
    return Args{};
  });
  server.OnAny("/", [](Socket& socket, const Args&) { return Args{"any:" + socket.event()}; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Send("text").ok());
  std::vector<Received> received = client.GetReceived();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].name, "message");
  EXPECT_EQ(received[0].args, Args{"text"});
  EXPECT_EQ(*client.Call("whatever"), Args{"any:whatever"});
}

class Counter : public Namespace {
 public:
  Counter() : Namespace("/counter") {
    On("add", &Counter::OnAdd);
    On("reset", &Counter::OnReset);
  }
  void OnConnect(Socket& socket, const Json&) override { socket.session()["total"] = 0; }
  void OnDisconnect(Socket&, const std::string& reason) override { last_reason = reason; }
  Args OnAdd(Socket& socket, const Args& args) {
    int total = socket.session()["total"].get<int>() + args.at(0).get<int>();
    socket.session()["total"] = total;
    return {total};
  }
  void OnReset(Socket& socket, const Args&) { socket.session()["total"] = 0; }

  std::string last_reason;
};

TEST(Namespace, MethodsInItsDispatchTableBecomeHandlers) {
  Server server;
  auto counter = std::make_shared<Counter>();
  server.Register(counter);
  TestClient client(server);
  ASSERT_TRUE(client.Connect("/counter").ok());
  EXPECT_EQ(*client.Call("add", {5}, "/counter"), Args{5});
  EXPECT_EQ(*client.Call("add", {2}, "/counter"), Args{7});
  EXPECT_EQ(*client.Call("reset", {}, "/counter"), Args{});
  EXPECT_EQ(*client.Call("add", {1}, "/counter"), Args{1});
  ASSERT_TRUE(client.Disconnect("/counter").ok());
  EXPECT_EQ(counter->last_reason, "client namespace disconnect");
}

TEST(Server, ClientsConnectToSeveralNamespacesSeparately) {
  Server server;
  server.On("/", "where", [](Socket& socket, const Args&) { return Args{socket.nsp()}; });
  server.On("/admin", "where", [](Socket& socket, const Args&) { return Args{socket.nsp()}; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect("/").ok());
  ASSERT_TRUE(client.Connect("/admin").ok());
  EXPECT_NE(client.sid("/"), client.sid("/admin"));
  EXPECT_EQ(*client.Call("where", {}, "/admin"), Args{"/admin"});
  ASSERT_TRUE(client.Disconnect("/admin").ok());
  EXPECT_TRUE(client.IsConnected("/"));
  EXPECT_FALSE(client.IsConnected("/admin"));
}

TEST(Server, DisconnectHandlersLearnWhyAndServerSideDisconnectsWork) {
  Server server;
  std::vector<std::string> reasons;
  std::mutex mutex;
  server.OnDisconnect("/", [&](Socket&, const std::string& reason) {
    std::lock_guard lock(mutex);
    reasons.push_back(reason);
  });
  server.On("/", "kick_me", [](Socket& socket, const Args&) {
    EXPECT_TRUE(socket.Disconnect().ok());
    return Args{};
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Emit("kick_me").ok());
  EXPECT_FALSE(client.IsConnected());
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Disconnect().ok());
  std::lock_guard lock(mutex);
  EXPECT_THAT(reasons, ElementsAre("server namespace disconnect", "client namespace disconnect"));
}

TEST(Server, BinaryArgumentsRoundTrip) {
  Server server;
  server.On("/", "reverse", [](Socket&, const Args& args) {
    std::vector<uint8_t> bytes = args.at(0)["data"].get_binary();
    std::reverse(bytes.begin(), bytes.end());
    return Args{Json{{"data", Json::binary(bytes)}}};
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  Args ack = *client.Call("reverse", {Json{{"data", Json::binary({1, 2, 3})}}});
  EXPECT_EQ(ack[0]["data"].get_binary(), std::vector<uint8_t>({3, 2, 1}));
}

TEST(Server, ARawArgsHandlerGetsTheWireFormAndItsResultIsTheAckAsItIs) {
  Server server;
  std::string seen_json;
  int seen_attachments = 0;
  server.On("/", "raw", [&](Socket&, const RawArgs& args) {
    seen_json = args.json();
    seen_attachments = args.binary_size();
    return args;
  });
  server.On("/", "raw_status", [](Socket&, const RawArgs&) -> absl::StatusOr<RawArgs> {
    return absl::NotFoundError("nothing here");
  });
  server.OnErrorDefault([](Socket&, std::exception_ptr error) { return ErrorMessage(error); });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  Args ack = *client.Call("raw", {1, "two", Json{{"data", Json::binary({1, 2, 3})}}});
  EXPECT_EQ(seen_json, R"([1,"two",{"data":{"_placeholder":true,"num":0}}])");
  EXPECT_EQ(seen_attachments, 1);
  ASSERT_EQ(ack.size(), 3u);
  EXPECT_EQ(ack[1], "two");
  EXPECT_EQ(ack[2]["data"].get_binary(), std::vector<uint8_t>({1, 2, 3}));
  EXPECT_EQ(*client.Call("raw_status", {}), Args{"NOT_FOUND: nothing here"});
}

TEST(Server, EncodesAndDecodesArgumentsWithoutBinaryAsPlainJson) {
  Args args{1, "two", Json{{"three", Json::array({3, nullptr})}}, Json::array()};
  RawArgs payload = EncodeArgs(args);
  EXPECT_EQ(payload.json(), R"([1,"two",{"three":[3,null]},[]])");
  EXPECT_EQ(payload.binary_size(), 0);
  EXPECT_EQ(*DecodeArgs(payload), args);
  EXPECT_EQ(EncodeArgs({}).json(), "[]");
}

TEST(Server, OneClientsHandlersRunInOrderWhileOthersRunConcurrently) {
  Server server(ServerOptions{.threads = 4});
  std::mutex mutex;
  std::map<std::string, std::vector<int>> order;
  std::atomic<int> running{0}, overlap{0};
  server.On("/", "step", [&](Socket& socket, const Args& args) {
    if (++running > 1) ++overlap;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    {
      std::lock_guard lock(mutex);
      order[socket.sid()].push_back(args.at(0).get<int>());
    }
    --running;
    return Args{};
  });
  TestClient alice(server), bob(server);
  ASSERT_TRUE(alice.Connect().ok());
  ASSERT_TRUE(bob.Connect().ok());
  std::thread other([&] {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(bob.Emit("step", {i}).ok());
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(alice.Emit("step", {i}).ok());
  other.join();
  std::vector<int> expected(20);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(order[alice.sid()], expected);
  EXPECT_EQ(order[bob.sid()], expected);
  EXPECT_GT(overlap.load(), 0) << "two clients' handlers never overlapped";
}

TEST(Server, CommandsWithoutASidecarFailClearly) {
  Server server;
  EXPECT_EQ(server.Emit("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server.JoinRoom("sid", "room").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(server.Emit("").code(), absl::StatusCode::kInvalidArgument);
}

TEST(Server, HandlersMayReturnNothingOneJsonValueOrSeveralArgs) {
  Server server;
  server.On("/", "nothing", [](Socket&, const Args&) {});
  server.On("/", "number", [](Socket&, const Args&) { return 7; });
  server.On("/", "object", [](Socket&, const Args&) { return Json{{"ok", true}}; });
  server.On("/", "list", [](Socket&, const Args&) { return std::vector<int>{1, 2}; });
  server.On("/", "several", [](Socket&, const Args&) { return Args{1, "two"}; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(*client.Call("nothing"), Args{});
  EXPECT_EQ(*client.Call("number"), Args{7});
  EXPECT_EQ(*client.Call("object"), (Args{Json{{"ok", true}}}));
  EXPECT_EQ(*client.Call("list"), (Args{Json::array({1, 2})}));
  EXPECT_EQ(*client.Call("several"), (Args{1, "two"}));
}

TEST(Server, AConnectHandlerReturningFalseRefusesWithTheDefaultMessage) {
  Server server;
  server.OnConnect("/", [](Socket&, const Json& auth) { return auth.contains("token"); });
  TestClient client(server);
  EXPECT_EQ(client.Connect().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client.connect_error(), (Json{{"message", "Connection rejected by server"}}));
  EXPECT_TRUE(client.Connect("/", {.auth = {{"token", "t"}}}).ok());
}

TEST(Server, ANamespaceWithoutHandlersRefusesConnections) {
  Server server;
  server.On("/chat", "say", [](Socket&, const Args&) {});
  TestClient client(server);
  EXPECT_EQ(client.Connect("/admin").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(client.connect_error("/admin")["message"], "Invalid namespace");
  EXPECT_TRUE(client.Connect("/chat").ok());
}

TEST(Server, EventsWithoutAHandlerGetNoAck) {
  Server server;
  server.On("/", "known", [](Socket&, const Args&) { return "yes"; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(client.Call("unknown").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*client.Call("known"), Args{"yes"});
}

TEST(Server, AnErrorNoHandlerTakesIsLoggedWithoutAnAckAndTheClientStays) {
  Server server;
  server.On("/", "boom", [](Socket&, const Args&) -> Args { throw std::runtime_error("x"); });
  server.On("/", "fine", [](Socket&, const Args&) { return "fine"; });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(client.Call("boom").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(client.IsConnected());
  EXPECT_EQ(*client.Call("fine"), Args{"fine"});
}

TEST(Server, ArgumentsThatCannotBeDecodedGoToTheErrorHandler) {
  Server server;
  bool called = false;
  server.On("/", "ev", [&](Socket&, const Args&) { called = true; });
  server.OnErrorDefault([](Socket&, std::exception_ptr error) { return ErrorMessage(error); });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  // A placeholder without its attachment, as a broken client might send.
  Args ack = *client.Call("ev", {Json::binary({1}), Json{{"_placeholder", true}, {"num", 5}}});
  EXPECT_FALSE(called);
  EXPECT_THAT(ack.at(0).get<std::string>(), ::testing::HasSubstr("placeholder 5"));
}

class Picky : public Namespace {
 public:
  Picky() : Namespace("/picky") {
    On("bad_input", &Picky::BadInput);
    On("crash", &Picky::Crash);
  }
  std::optional<Args> OnError(Socket&, std::exception_ptr error) override {
    try {
      std::rethrow_exception(error);
    } catch (const std::invalid_argument& e) {
      return Args{std::string("picky: ") + e.what()};
    } catch (...) {
      return std::nullopt;  // not ours: the default handler's
    }
  }
  void BadInput(Socket&, const Args&) { throw std::invalid_argument("need a number"); }
  void Crash(Socket&, const Args&) { throw std::runtime_error("crashed"); }
};

TEST(Namespace, ErrorsItsOnErrorPassesOnGoToTheDefaultHandler) {
  Server server;
  server.Register(std::make_shared<Picky>());
  server.OnErrorDefault([](Socket& socket, std::exception_ptr error) {
    return "default for " + socket.event() + ": " + ErrorMessage(error);
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect("/picky").ok());
  EXPECT_EQ(*client.Call("bad_input", {}, "/picky"), Args{"picky: need a number"});
  EXPECT_EQ(*client.Call("crash", {}, "/picky"), Args{"default for crash: crashed"});
}

TEST(Server, TheSessionReachesTheDisconnectHandler) {
  Server server;
  std::promise<Json> last_session;
  server.On("/", "name",
            [](Socket& socket, const Args& args) { socket.session()["name"] = args.at(0); });
  server.OnDisconnect(
      "/", [&](Socket& socket, const std::string&) { last_session.set_value(socket.session()); });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Emit("name", {"ann"}).ok());
  ASSERT_TRUE(client.Disconnect().ok());
  EXPECT_EQ(last_session.get_future().get(), (Json{{"name", "ann"}}));
}

TEST(Server, ExceptRoomsLeaveTheirMembersOut) {
  Server server;
  server.On("/", "join", [](Socket& socket, const Args& args) {
    EXPECT_TRUE(socket.JoinRoom(args.at(0).get<std::string>()).ok());
  });
  server.On("/", "announce", [](Socket& socket, const Args&) {
    EXPECT_TRUE(socket.Emit("news", {}, {.broadcast = true, .except_rooms = {"muted"}}).ok());
  });
  TestClient alice(server), bob(server);
  ASSERT_TRUE(alice.Connect().ok());
  ASSERT_TRUE(bob.Connect().ok());
  ASSERT_TRUE(bob.Emit("join", {"muted"}).ok());
  ASSERT_TRUE(alice.Emit("announce").ok());
  EXPECT_THAT(Names(alice.GetReceived()), ElementsAre("news"));
  EXPECT_THAT(bob.GetReceived(), ::testing::IsEmpty());
}

TEST(Server, EmitsMayAddressAnotherNamespace) {
  Server server;
  server.On("/", "tell_admins", [](Socket& socket, const Args& args) {
    EXPECT_TRUE(socket.Emit("report", args, {.broadcast = true, .nsp = "/admin"}).ok());
  });
  server.OnConnect("/admin", [](Socket&, const Json&) {});
  TestClient user(server), admin(server);
  ASSERT_TRUE(user.Connect().ok());
  ASSERT_TRUE(admin.Connect("/admin").ok());
  ASSERT_TRUE(user.Emit("tell_admins", {"spam"}).ok());
  std::vector<Received> received = admin.GetReceived("/admin");
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].nsp, "/admin");
  EXPECT_EQ(received[0].args, Args{"spam"});
  EXPECT_THAT(user.GetReceived(), ::testing::IsEmpty());
}

TEST(Server, CommandsBySidWorkFromOtherThreads) {
  Server server;
  server.On("/", "noop", [](Socket&, const Args&) {});
  TestClient client(server);
  client.OnCall([](const std::string&, const Args& args) { return Args{args.at(0)}; });
  ASSERT_TRUE(client.Connect().ok());
  const std::string sid = client.sid();
  std::thread background([&] {
    EXPECT_TRUE(server.Emit("tick", {1}, {.to = {sid}}).ok());
    EXPECT_TRUE(server.Send("hello").ok());
    EXPECT_TRUE(server.JoinRoom(sid, "room").ok());
    EXPECT_THAT(*server.Rooms(sid), UnorderedElementsAre(sid, "room"));
    EXPECT_EQ(*server.Call(sid, "echo", {"back"}), Args{"back"});
    EXPECT_EQ(server.Call("no-such-sid", "echo").status().code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(server.Rooms("no-such-sid").status().code(), absl::StatusCode::kNotFound);
    EXPECT_TRUE(server.Disconnect(sid).ok());
  });
  background.join();
  EXPECT_THAT(Names(client.GetReceived()), ElementsAre("tick", "message", "echo"));
  EXPECT_FALSE(client.IsConnected());
}

TEST(Server, BinaryAttachmentsTravelAtAnyDepthBothWays) {
  Server server;
  server.On("/", "upload", [](Socket& socket, const Args& args) {
    const Json& file = args.at(0)["file"];
    EXPECT_TRUE(file.is_binary());
    EXPECT_TRUE(socket
                    .Emit("download",
                          {Json::binary(file.get_binary()), Json{{"parts", {Json::binary({9})}}}})
                    .ok());
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Emit("upload", {Json{{"file", Json::binary({1, 2})}}}).ok());
  std::vector<Received> received = client.GetReceived();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].args.at(0).get_binary(), std::vector<uint8_t>({1, 2}));
  EXPECT_EQ(received[0].args.at(1)["parts"][0].get_binary(), std::vector<uint8_t>({9}));
}

TEST(Server, WithoutAsyncHandlersEveryHandlerRunsAlone) {
  Server server(ServerOptions{.async_handlers = false});
  std::atomic<int> running{0}, overlap{0};
  server.On("/", "step", [&](Socket&, const Args&) {
    if (++running > 1) ++overlap;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    --running;
  });
  TestClient alice(server), bob(server);
  ASSERT_TRUE(alice.Connect().ok());
  ASSERT_TRUE(bob.Connect().ok());
  std::thread other([&] {
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(bob.Emit("step").ok());
  });
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(alice.Emit("step").ok());
  other.join();
  EXPECT_EQ(overlap.load(), 0);
}

TEST(Server, WithAlwaysConnectARefusalDisconnectsTheClientWithoutItsDisconnectHandler) {
  Server server;
  std::atomic<int> disconnects{0};
  server.OnConnect("/", [](Socket& socket, const Json& auth) {
    socket.session()["user"] = auth.value("user", "");
    if (!auth.contains("user")) throw ConnectionRefusedError("who are you?");
  });
  server.OnDisconnect("/", [&](Socket&, const std::string&) { ++disconnects; });
  server.On("/", "whoami", [](Socket& socket, const Args&) { return socket.session()["user"]; });
  TestClient stranger(server, {.always_connect = true});
  EXPECT_TRUE(stranger.Connect().ok());
  EXPECT_FALSE(stranger.IsConnected());
  EXPECT_EQ(disconnects.load(), 0);

  TestClient ann(server);
  ASSERT_TRUE(ann.Connect("/", {.auth = {{"user", "ann"}}}).ok());
  EXPECT_EQ(*ann.Call("whoami"), Args{"ann"});
}

TEST(Server, ShutdownFromAHandlerDoesNotWaitForItself) {
  Server server;
  server.On("/", "stop", [](Socket& socket, const Args&) { socket.server().Shutdown(); });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  ASSERT_TRUE(client.Emit("stop").ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.attached() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_FALSE(server.attached());
}

TEST(Server, AFailedStatusFromAHandlerGoesToTheErrorHandler) {
  Server server;
  server.On("/", "emit_nothing", [](Socket& socket, const Args&) { return socket.Emit(""); });
  server.On("/", "fine", [](Socket& socket, const Args&) { return socket.Emit("ok"); });
  server.On("/", "half", [](Socket&, const Args& args) -> absl::StatusOr<int> {
    if (args.empty()) return absl::InvalidArgumentError("half of what?");
    return args[0].get<int>() / 2;
  });
  server.OnErrorDefault([](Socket&, std::exception_ptr error) -> Json {
    try {
      std::rethrow_exception(error);
    } catch (const StatusError& failed) {
      return absl::StatusCodeToString(failed.status().code());
    }
  });
  TestClient client(server);
  ASSERT_TRUE(client.Connect().ok());
  EXPECT_EQ(*client.Call("emit_nothing"), Args{"INVALID_ARGUMENT"});
  EXPECT_EQ(*client.Call("fine"), Args{});
  EXPECT_EQ(*client.Call("half", {8}), Args{4});
  EXPECT_EQ(*client.Call("half"), Args{"INVALID_ARGUMENT"});
}

}  // namespace
}  // namespace socketio
