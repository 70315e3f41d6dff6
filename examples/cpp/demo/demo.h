#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "socketio/server.h"

namespace demo {

// Flask-SocketIO's example application as a class-based namespace: on
// connect it greets the client, and it serves the demo page's events. Every
// reply is a `my_response` {data, count}, where count is the number of
// events the client sent, kept in its session. A failed command goes to the
// SDK, which logs it (there is no error handler).
class Demo : public socketio::Namespace {
 public:
  Demo();

  void OnConnect(socketio::Socket& socket, const socketio::Json& auth) override;
  void OnDisconnect(socketio::Socket& socket, const std::string& reason) override;

  absl::Status MyEvent(socketio::Socket& socket, const socketio::Args& args);
  absl::Status MyBroadcastEvent(socketio::Socket& socket, const socketio::Args& args);
  absl::Status Join(socketio::Socket& socket, const socketio::Args& args);
  absl::Status Leave(socketio::Socket& socket, const socketio::Args& args);
  absl::Status CloseRoom(socketio::Socket& socket, const socketio::Args& args);
  absl::Status MyRoomEvent(socketio::Socket& socket, const socketio::Args& args);
  absl::Status DisconnectRequest(socketio::Socket& socket, const socketio::Args& args);
  absl::Status MyPing(socketio::Socket& socket, const socketio::Args& args);
};

// Flask-SocketIO's background thread: emits "Server generated event" with a
// rising count to every client each interval, until stopped.
class ServerEvents {
 public:
  ServerEvents(socketio::Server& server, std::chrono::milliseconds interval);
  ~ServerEvents();  // stops the thread

 private:
  socketio::Server& server_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace demo
