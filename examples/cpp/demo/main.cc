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

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "demo.h"

namespace {

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

int EnvIntOr(const char* name, int fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  long parsed = std::strtol(value, &end, 10);
  return *end == '\0' ? static_cast<int>(parsed) : fallback;
}

}  // namespace

ABSL_FLAG(std::string, sidecar, EnvOr("SIDECAR_ADDRESS", "127.0.0.1:50051"),
          "gRPC address of the sidecar (default from $SIDECAR_ADDRESS)");
ABSL_FLAG(int, interval, EnvIntOr("DEMO_INTERVAL", 10),
          "seconds between server-generated events; 0 for none (default from $DEMO_INTERVAL)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Flask-SocketIO's example application, attached to socketio-sidecar over gRPC");
  // --help lists this file's flags rather than every library's.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "demo/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  const std::string address = absl::GetFlag(FLAGS_sidecar);
  const int interval = absl::GetFlag(FLAGS_interval);

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
