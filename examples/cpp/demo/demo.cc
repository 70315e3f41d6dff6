#include "demo.h"

#include <iostream>

#include "absl/strings/str_join.h"

namespace demo {
namespace {

using socketio::Args;
using socketio::Json;
using socketio::Socket;

Json Response(const std::string& data, int count) { return {{"data", data}, {"count", count}}; }

// The page sends {data, room}; a missing field reads as "".
std::string Field(const Args& args, const char* name) {
  if (args.empty() || !args[0].is_object()) return "";
  auto it = args[0].find(name);
  return it != args[0].end() && it->is_string() ? it->get<std::string>() : "";
}

// Counts the events the client sent, in its session.
int ReceiveCount(Socket& socket) {
  Json& session = socket.session();
  int count = session.value("receive_count", 0) + 1;
  session["receive_count"] = count;
  return count;
}

// For failures outside handlers, where no one else would see them.
void Log(const absl::Status& status) {
  if (!status.ok()) std::cerr << "demo: " << status << std::endl;
}

absl::Status ReportRooms(Socket& socket) {
  absl::StatusOr<std::vector<std::string>> rooms = socket.Rooms();
  if (!rooms.ok()) return rooms.status();
  return socket.Emit("my_response",
                     {Response("In rooms: " + absl::StrJoin(*rooms, ", "), ReceiveCount(socket))});
}

}  // namespace

Demo::Demo() : Namespace("/") {
  On("my_event", &Demo::MyEvent);
  On("my_broadcast_event", &Demo::MyBroadcastEvent);
  On("join", &Demo::Join);
  On("leave", &Demo::Leave);
  On("close_room", &Demo::CloseRoom);
  On("my_room_event", &Demo::MyRoomEvent);
  On("disconnect_request", &Demo::DisconnectRequest);
  On("my_ping", &Demo::MyPing);
}

void Demo::OnConnect(Socket& socket, const Json&) {
  Log(socket.Emit("my_response", {Response("Connected", 0)}));
}

void Demo::OnDisconnect(Socket& socket, const std::string& reason) {
  std::cerr << "demo: client " << socket.sid() << " disconnected: " << reason << std::endl;
}

absl::Status Demo::MyEvent(Socket& socket, const Args& args) {
  return socket.Emit("my_response", {Response(Field(args, "data"), ReceiveCount(socket))});
}

absl::Status Demo::MyBroadcastEvent(Socket& socket, const Args& args) {
  return socket.Emit("my_response", {Response(Field(args, "data"), ReceiveCount(socket))},
                     {.broadcast = true});
}

absl::Status Demo::Join(Socket& socket, const Args& args) {
  if (absl::Status joined = socket.JoinRoom(Field(args, "room")); !joined.ok()) return joined;
  return ReportRooms(socket);
}

absl::Status Demo::Leave(Socket& socket, const Args& args) {
  if (absl::Status left = socket.LeaveRoom(Field(args, "room")); !left.ok()) return left;
  return ReportRooms(socket);
}

absl::Status Demo::CloseRoom(Socket& socket, const Args& args) {
  std::string room = Field(args, "room");
  absl::Status warned =
      socket.Emit("my_response", {Response("Room " + room + " is closing.", ReceiveCount(socket))},
                  {.to = {room}});
  if (!warned.ok()) return warned;
  return socket.CloseRoom(room);
}

absl::Status Demo::MyRoomEvent(Socket& socket, const Args& args) {
  return socket.Emit("my_response", {Response(Field(args, "data"), ReceiveCount(socket))},
                     {.to = {Field(args, "room")}});
}

// Says goodbye and disconnects once the client acknowledged it, so the
// goodbye is not lost.
absl::Status Demo::DisconnectRequest(Socket& socket, const Args&) {
  socketio::Server& server = socket.server();
  std::string nsp = socket.nsp();
  auto disconnect = [&server, nsp](const std::string& sid, absl::StatusOr<Args> answer) {
    if (!answer.ok()) {
      std::cerr << "demo: no ack for the goodbye from " << sid << "; staying connected"
                << std::endl;
      return;
    }
    Log(server.Disconnect(sid, nsp));
  };
  return socket.Emit("my_response", {Response("Disconnected!", ReceiveCount(socket))},
                     {.callback = disconnect});
}

absl::Status Demo::MyPing(Socket& socket, const Args&) { return socket.Emit("my_pong"); }

ServerEvents::ServerEvents(socketio::Server& server, std::chrono::milliseconds interval)
    : server_(server) {
  thread_ = std::thread([this, interval] {
    int count = 0;
    std::unique_lock lock(mutex_);
    while (!stop_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
      absl::Status status =
          server_.Emit("my_response", {Response("Server generated event", ++count)});
      // Not attached (yet, or for a moment): the event is skipped, as nobody is connected.
      if (!absl::IsFailedPrecondition(status)) Log(status);
    }
  });
}

ServerEvents::~ServerEvents() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

}  // namespace demo
