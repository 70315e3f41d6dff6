// The minimal C++ backend for the benchmarks, on the C++ SDK: "echo" acks its
// arguments, "join" joins a room (acked), "fanout" sends "tick" with the rest
// of its arguments to the room in its first.
//
//   bench_backend --sidecar=127.0.0.1:50051
#include <csignal>
#include <iostream>
#include <thread>

#include "socketio/server.h"

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:50051";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--sidecar=", 0) == 0) address = arg.substr(10);
  }
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  socketio::Server server({.name = "bench", .threads = 2});
  // The arguments go back as they came, undecoded (as the Go backend's RawHandler does).
  server.On("/", "echo", [](socketio::Socket&, const socketio::RawArgs& args) { return args; });
  server.On("/", "join", [](socketio::Socket& socket, const socketio::Args& args) {
    if (!args.empty() && args[0].is_string())
      socket.JoinRoom(args[0].get<std::string>()).IgnoreError();
    return socketio::Args{};
  });
  server.On("/", "fanout", [](socketio::Socket& socket, const socketio::Args& args) {
    if (args.empty() || !args[0].is_string()) return socketio::Args{};
    socketio::Args tick(args.begin() + 1, args.end());
    socket.Emit("tick", std::move(tick), {.to = {args[0].get<std::string>()}}).IgnoreError();
    return socketio::Args{};
  });
  server.OnAttach([] { std::cout << "attached" << std::endl; });
  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.Shutdown();
  });
  absl::Status status = server.Run(address);
  stopper.join();
  return status.ok() ? 0 : 1;
}
