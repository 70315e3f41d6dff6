#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sidecar::config {

// Flask-SocketIO's cors_allowed_origins: unset means same origin only, "*" any
// origin, an empty list turns CORS handling off, otherwise a list of origins.
struct CorsPolicy {
  enum class Mode { kSameOrigin, kAny, kDisabled, kList };
  Mode mode = Mode::kSameOrigin;
  std::vector<std::string> origins;
};

// Everything the sidecar can be told, with Flask-SocketIO's names, meanings and
// defaults where Flask-SocketIO has the option.
struct Options {
  std::string host = "0.0.0.0";
  uint16_t port = 5000;
  std::string grpc_address = "127.0.0.1:50051";
  std::string path = "/socket.io/";  // always with leading and trailing '/'
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  size_t max_http_buffer_size = 1'000'000;
  bool allow_upgrades = true;
  bool allow_eio3 = false;  // Engine.IO v3 / Socket.IO v4 clients too
  bool allow_polling = true;
  bool allow_websocket = true;
  bool http_compression = true;
  size_t compression_threshold = 1024;
  std::string cookie;  // empty: no cookie
  CorsPolicy cors;
  bool cors_credentials = true;
  bool monitor_clients = true;
  bool always_connect = false;
  std::chrono::milliseconds connect_timeout{45000};
  std::chrono::milliseconds connect_decision_timeout{5000};
  uint32_t threads = 0;  // resolved to the core count by ParseOptions
  std::string static_dir;
  bool raw_engineio = false;
  size_t max_outbound_queue = 1000;        // packets queued per connection before it is dropped
  size_t max_outbound_bytes = 16'000'000;  // bytes queued per connection before it is dropped
  std::string redis_url;                   // empty: a single node
  size_t redis_outbox_bytes = 16 << 20;
  std::string channel = "socketio-sidecar";
  std::string advertise_address;  // resolved by ParseOptions
  std::string node_id;            // empty: random
  std::string admin_token;        // empty: Admin calls need no token
  uint16_t ops_port = 8081;       // 0: no /healthz, /readyz, /metrics
  size_t max_fds = 0;             // resolved by ParseOptions from the open-file limit
  std::vector<std::string> ready_namespaces;
  bool ready_requires_redis = true;
  std::chrono::milliseconds drain_timeout{20000};
  std::chrono::milliseconds backend_grace_period{10000};
  size_t backend_buffer_limit = 100;        // messages held per socket while no backend serves it
  size_t backend_buffer_bytes = 1'000'000;  // and their size
  size_t max_backend_queue_bytes = 64'000'000;
  std::chrono::milliseconds backend_ack_timeout{30000};
  // Connection state recovery (socket.io's connectionStateRecovery); off by default.
  bool connection_state_recovery = false;
  std::chrono::milliseconds recovery_window{120000};
  size_t recovery_max_packets = 10000;
};

// Parses flags, each of which can also come from the environment as
// SIDECAR_<FLAG_NAME_IN_UPPER_CASE>; a flag on the command line wins.
// Handles --help itself (and exits), as command-line tools do.
absl::StatusOr<Options> ParseOptions(int argc, char** argv);

// Parses a cors_allowed_origins value: "" same origin, "*", "[]", or a comma list.
CorsPolicy ParseCorsPolicy(std::string_view value);

}  // namespace sidecar::config
