// Flask-SocketIO's example application as a socketio-sidecar backend in C++:
// it attaches to the sidecar over gRPC, serves the demo page's events, and
// emits a server-generated event every few seconds.
//
//   demo-backend-cpp --sidecar=127.0.0.1:50051 --interval=10
//
// SIDECAR_ADDRESS and DEMO_INTERVAL give defaults for the flags. It prints
// "attached" each time the sidecar welcomed it.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "demo.h"

namespace {

std::string Option(int argc, char** argv, const std::string& name, const char* env,
                   std::string fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  if (const char* value = std::getenv(env); value != nullptr && *value != '\0') return value;
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: demo-backend-cpp [--sidecar=host:port] [--interval=seconds]\n";
      return 0;
    }
    if (arg.rfind("--sidecar=", 0) != 0 && arg.rfind("--interval=", 0) != 0) {
      std::cerr << "demo-backend-cpp: unknown argument " << arg << " (see --help)\n";
      return 2;
    }
  }
  std::string address = Option(argc, argv, "sidecar", "SIDECAR_ADDRESS", "127.0.0.1:50051");
  int interval = std::atoi(Option(argc, argv, "interval", "DEMO_INTERVAL", "10").c_str());

  // Stop signals are taken by a thread of ours, not by whichever thread they land on.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  socketio::Server server(socketio::ServerOptions{.name = "cpp-demo"});
  server.Register(std::make_shared<demo::Demo>());
  server.OnAttach([] { std::cout << "attached" << std::endl; });
  std::optional<demo::ServerEvents> events;
  if (interval > 0) events.emplace(server, std::chrono::seconds(interval));

  std::thread stopper([&] {
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.Shutdown();
  });
  absl::Status status = server.Run(address);
  if (!status.ok()) {
    std::cerr << "demo-backend-cpp: " << status << std::endl;
    std::exit(1);
  }
  stopper.join();
  return 0;
}
