#include "sidecar/config/options.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/runtime/log.h"

ABSL_FLAG(std::string, host, "0.0.0.0", "Address the Socket.IO HTTP/WebSocket listener binds.");
ABSL_FLAG(uint16_t, port, 5000, "Port of the Socket.IO listener.");
ABSL_FLAG(std::string, grpc_address, "127.0.0.1:50051",
          "Address of the gRPC server backends attach to (Backend.Attach).");
ABSL_FLAG(std::string, path, "socket.io", "URL path of the Socket.IO endpoint.");
ABSL_FLAG(double, ping_interval, 25, "Seconds between server pings (Engine.IO pingInterval).");
ABSL_FLAG(double, ping_timeout, 20,
          "Seconds a client has to answer a ping before it is considered gone.");
ABSL_FLAG(uint64_t, max_http_buffer_size, 1000000,
          "Largest message or polling body accepted, in bytes (Engine.IO maxPayload).");
ABSL_FLAG(bool, allow_upgrades, true, "Allow upgrading from long-polling to WebSocket.");
ABSL_FLAG(bool, allow_eio3, false,
          "Also serve Engine.IO v3 / Socket.IO protocol v4 clients (socket.io-client 1.x/2.x), "
          "as the Node server's allowEIO3.");
ABSL_FLAG(std::string, transports, "polling,websocket", "Transports clients may use.");
ABSL_FLAG(bool, http_compression, true, "Compress polling responses (gzip or deflate).");
ABSL_FLAG(uint64_t, compression_threshold, 1024,
          "Polling responses smaller than this many bytes are not compressed.");
ABSL_FLAG(std::string, cookie, "",
          "Name of a cookie carrying the session id, set on the handshake; empty for none.");
ABSL_FLAG(std::string, cors_allowed_origins, "",
          "Origins allowed to connect: empty for the same origin only, '*' for any, '[]' to "
          "turn CORS handling off, or a comma-separated list of origins.");
ABSL_FLAG(bool, cors_credentials, true,
          "Send Access-Control-Allow-Credentials: true to allowed cross-origin requests.");
ABSL_FLAG(bool, monitor_clients, true,
          "Close sessions whose client stops answering pings. With false, pings are still "
          "sent but a silent client is kept until its transport closes.");
ABSL_FLAG(bool, always_connect, false,
          "Accept connections at once and tell the backend afterwards; a backend rejection "
          "then disconnects the client. With false a connection waits for the backend.");
ABSL_FLAG(double, connect_timeout, 45,
          "Seconds a client has after opening a session to connect to a namespace.");
ABSL_FLAG(double, connect_decision_timeout, 5,
          "Seconds a backend has to accept or reject a connection.");
ABSL_FLAG(double, backend_grace_period, 10,
          "Seconds a namespace whose last backend went away waits for another: its sockets' "
          "events and connects are held (see --backend_buffer_limit) and go to the next backend; "
          "after it they are disconnected, or refused, with a reason.");
ABSL_FLAG(uint64_t, backend_buffer_limit, 100,
          "Messages one socket may have held for a backend (while none serves its namespace, "
          "or unacked by its backend); a socket exceeding it is disconnected.");
ABSL_FLAG(uint64_t, backend_buffer_bytes, 1000000,
          "Bytes one socket may have held for a backend, as --backend_buffer_limit (one message "
          "is always held when nothing else is).");
ABSL_FLAG(uint64_t, max_backend_queue_bytes, 64'000'000,
          "Bytes queued for one backend stream that stopped reading before the sidecar ends "
          "the stream (RESOURCE_EXHAUSTED); its sockets then move as when a backend dies.");
ABSL_FLAG(double, backend_ack_timeout, 30,
          "Seconds the sidecar keeps a client event whose ack the backend owes, to deliver it "
          "again to another backend should this one go away; then it is forgotten.");
ABSL_FLAG(uint32_t, threads, 0, "IO threads; 0 for one per core.");
ABSL_FLAG(std::string, static_dir, "", "Serve the files of this folder at / (e.g. a demo page).");
ABSL_FLAG(bool, raw_engineio, false,
          "Test only: an Engine.IO echo server at /engine.io/, for the protocol test suite.");
ABSL_FLAG(uint64_t, max_outbound_queue, 1000,
          "Packets queued for one connection before it counts as a slow consumer and is "
          "disconnected.");
ABSL_FLAG(uint64_t, max_outbound_bytes, 16'000'000,
          "Bytes queued for one connection before it counts as a slow consumer and is "
          "disconnected (a packet is always queued when nothing else is).");
ABSL_FLAG(std::string, redis_url, "",
          "Cluster mode: redis://[:password@]host[:port] of the Redis that carries broadcasts, "
          "room operations and Admin calls between replicas (Flask-SocketIO's message_queue). "
          "Empty for a single sidecar.");
ABSL_FLAG(uint64_t, redis_outbox_bytes, 16 << 20,
          "Cluster mode: bytes of commands for other replicas (broadcasts, room changes) kept "
          "while Redis is unreachable and published in order once it is back; beyond it they "
          "are dropped (redis_outbox_dropped_total). 0 keeps none.");
ABSL_FLAG(std::string, channel, "socketio-sidecar",
          "Cluster mode: prefix of the Redis pub/sub channels; clusters sharing a Redis need "
          "different ones.");
ABSL_FLAG(std::string, advertise_address, "",
          "Cluster mode: host:port where the other replicas reach this one's Socket.IO port, to "
          "forward requests for its sessions. Default: --host (or this machine's hostname when "
          "--host is a wildcard) and --port.");
ABSL_FLAG(std::string, node_id, "",
          "Cluster mode: this replica's id, 4 characters of [A-Za-z0-9_-]; random by default.");
ABSL_FLAG(std::string, admin_token_file, "",
          "File holding the bearer token Admin calls must present; SIDECAR_ADMIN_TOKEN gives "
          "the token itself. Neither: Admin calls need no token.");
ABSL_FLAG(uint16_t, ops_port, 8081,
          "Port (on --host) of /healthz, /readyz and /metrics (Prometheus); 0 turns them off.");
ABSL_FLAG(std::string, ready_namespaces, "/",
          "Namespaces that need an attached backend before /readyz reports ready "
          "(comma-separated; empty: ready without backends).");
ABSL_FLAG(bool, ready_requires_redis, true,
          "Cluster mode: /readyz fails while Redis is unreachable. With false a replica stays "
          "ready and serves its own clients through an outage (its broadcasts stay local).");
ABSL_FLAG(double, drain_timeout, 20,
          "Seconds a SIGTERM drain may take: readiness fails, no new connections are accepted, "
          "client transports are closed spread over this window (clients reconnect elsewhere), "
          "then the sidecar exits.");
ABSL_FLAG(bool, connection_state_recovery, false,
          "Connection state recovery (socket.io-client 4.6+): a client that lost its transport "
          "and reconnects within --recovery_window gets its socket back (sid, rooms, session) "
          "and the events it missed. Every logged event then carries its offset as a last "
          "argument, which client listeners see, so it is off unless asked for.");
ABSL_FLAG(double, recovery_window, 120,
          "Connection state recovery: seconds a socket whose transport dropped can be restored, "
          "and events are kept for replay.");
ABSL_FLAG(uint64_t, recovery_max_packets, 10000,
          "Connection state recovery: events kept for replay (all namespaces); a client that "
          "missed one that left the log gets a fresh session.");
ABSL_FLAG(std::string, log_format, "text", "Log lines as 'text' or 'json' (one object per line).");
ABSL_FLAG(uint64_t, max_connections, 0,
          "Refuse new clients with HTTP 503 once the process holds about this many file "
          "descriptors (clients, backends, Redis) or Engine.IO sessions; 0 for the open-file "
          "limit minus 64, which the sidecar raises to its hard limit at startup.");
ABSL_FLAG(bool, logger, false, "Log Socket.IO events (debug level for the socketio layer).");
ABSL_FLAG(bool, engineio_logger, false, "Log Engine.IO traffic (debug level).");
ABSL_FLAG(std::string, log_level, "info", "Least severe log level: debug, info, warning, error.");

namespace sidecar::config {
namespace {

// Environment variables are applied as if they were flags given before the
// command line, so an explicit flag wins.
absl::Status ApplyEnvironment() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::StrContains(flag->Filename(), "config/options")) continue;
    std::string variable = absl::StrCat("SIDECAR_", absl::AsciiStrToUpper(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(variable, ": ", error));
    }
  }
  return absl::OkStatus();
}

// A duration flag in seconds: finite, at least a millisecond, at most a day.
absl::StatusOr<std::chrono::milliseconds> Duration(std::string_view name, double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.001 || seconds > 86400) {
    return absl::InvalidArgumentError(absl::StrCat(
        runtime::ToAbsl(name), " must be between 0.001 and 86400 seconds, not ", seconds));
  }
  return std::chrono::milliseconds(std::llround(seconds * 1000));
}

}  // namespace

CorsPolicy ParseCorsPolicy(std::string_view text) {
  CorsPolicy policy;
  absl::string_view value = absl::StripAsciiWhitespace(absl::string_view(text.data(), text.size()));
  if (value.empty()) return policy;
  if (value == "*") {
    policy.mode = CorsPolicy::Mode::kAny;
  } else if (value == "[]") {
    policy.mode = CorsPolicy::Mode::kDisabled;
  } else {
    policy.mode = CorsPolicy::Mode::kList;
    for (absl::string_view origin : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
      policy.origins.emplace_back(absl::StripAsciiWhitespace(origin));
    }
  }
  return policy;
}

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "config/options");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  absl::SetFlagsUsageConfig(usage);
  absl::SetProgramUsageMessage(
      "socketio-sidecar: serves Socket.IO clients and streams their events to backends over "
      "gRPC.\nEvery flag can also be set as an environment variable SIDECAR_<FLAG>, e.g. "
      "SIDECAR_PING_INTERVAL=10.");
  if (absl::Status status = ApplyEnvironment(); !status.ok()) return status;
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument: ", rest[1]));
  }

  Options options;
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.grpc_address = absl::GetFlag(FLAGS_grpc_address);
  std::string path(absl::StripSuffix(absl::StripPrefix(absl::GetFlag(FLAGS_path), "/"), "/"));
  options.path = path.empty() ? "/" : absl::StrCat("/", path, "/");
  struct {
    std::string_view name;
    double seconds;
    std::chrono::milliseconds* field;
  } durations[] = {
      {"ping_interval", absl::GetFlag(FLAGS_ping_interval), &options.ping_interval},
      {"ping_timeout", absl::GetFlag(FLAGS_ping_timeout), &options.ping_timeout},
      {"connect_timeout", absl::GetFlag(FLAGS_connect_timeout), &options.connect_timeout},
      {"connect_decision_timeout", absl::GetFlag(FLAGS_connect_decision_timeout),
       &options.connect_decision_timeout},
      {"drain_timeout", absl::GetFlag(FLAGS_drain_timeout), &options.drain_timeout},
      {"backend_grace_period", absl::GetFlag(FLAGS_backend_grace_period),
       &options.backend_grace_period},
      {"backend_ack_timeout", absl::GetFlag(FLAGS_backend_ack_timeout),
       &options.backend_ack_timeout},
      {"recovery_window", absl::GetFlag(FLAGS_recovery_window), &options.recovery_window},
  };
  for (const auto& duration : durations) {
    absl::StatusOr<std::chrono::milliseconds> value = Duration(duration.name, duration.seconds);
    if (!value.ok()) return value.status();
    *duration.field = *value;
  }
  options.max_http_buffer_size = absl::GetFlag(FLAGS_max_http_buffer_size);
  if (options.max_http_buffer_size < 64) {
    return absl::InvalidArgumentError("max_http_buffer_size must be at least 64 bytes");
  }
  options.allow_upgrades = absl::GetFlag(FLAGS_allow_upgrades);
  options.allow_eio3 = absl::GetFlag(FLAGS_allow_eio3);
  options.allow_polling = options.allow_websocket = false;
  for (absl::string_view transport :
       absl::StrSplit(absl::GetFlag(FLAGS_transports), ',', absl::SkipWhitespace())) {
    transport = absl::StripAsciiWhitespace(transport);
    if (transport == "polling") {
      options.allow_polling = true;
    } else if (transport == "websocket") {
      options.allow_websocket = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown transport: ", transport));
    }
  }
  if (!options.allow_polling && !options.allow_websocket) {
    return absl::InvalidArgumentError("transports must name polling, websocket or both");
  }
  options.http_compression = absl::GetFlag(FLAGS_http_compression);
  options.compression_threshold = absl::GetFlag(FLAGS_compression_threshold);
  options.cookie = absl::GetFlag(FLAGS_cookie);
  options.cors = ParseCorsPolicy(absl::GetFlag(FLAGS_cors_allowed_origins));
  options.cors_credentials = absl::GetFlag(FLAGS_cors_credentials);
  options.monitor_clients = absl::GetFlag(FLAGS_monitor_clients);
  options.always_connect = absl::GetFlag(FLAGS_always_connect);
  options.threads = absl::GetFlag(FLAGS_threads);
  if (options.threads == 0) options.threads = std::max(1u, std::thread::hardware_concurrency());
  if (options.threads > 64) return absl::InvalidArgumentError("threads must be at most 64");
  options.static_dir = absl::GetFlag(FLAGS_static_dir);
  options.raw_engineio = absl::GetFlag(FLAGS_raw_engineio);
  options.max_outbound_queue = std::max<uint64_t>(1, absl::GetFlag(FLAGS_max_outbound_queue));
  options.max_outbound_bytes = std::max<uint64_t>(1, absl::GetFlag(FLAGS_max_outbound_bytes));
  options.backend_buffer_limit = std::max<uint64_t>(1, absl::GetFlag(FLAGS_backend_buffer_limit));
  options.backend_buffer_bytes = absl::GetFlag(FLAGS_backend_buffer_bytes);
  options.max_backend_queue_bytes =
      std::max<uint64_t>(1, absl::GetFlag(FLAGS_max_backend_queue_bytes));

  options.redis_url = absl::GetFlag(FLAGS_redis_url);
  options.channel = absl::GetFlag(FLAGS_channel);
  options.redis_outbox_bytes = absl::GetFlag(FLAGS_redis_outbox_bytes);
  if (options.channel.empty()) return absl::InvalidArgumentError("channel must not be empty");
  options.advertise_address = absl::GetFlag(FLAGS_advertise_address);
  if (options.advertise_address.empty()) {
    std::string host = options.host;
    if (host == "0.0.0.0" || host == "::" || host.empty()) {
      char name[256] = {};
      host = gethostname(name, sizeof(name) - 1) == 0 ? name : "localhost";
    }
    options.advertise_address = host.find(':') != std::string::npos
                                    ? absl::StrCat("[", host, "]:", options.port)
                                    : absl::StrCat(host, ":", options.port);
  }
  options.node_id = absl::GetFlag(FLAGS_node_id);
  if (!options.node_id.empty() && !runtime::IsValidNodeId(options.node_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("node_id \"", options.node_id, "\" is not 4 characters of [A-Za-z0-9_-]"));
  }
  if (const char* token = std::getenv("SIDECAR_ADMIN_TOKEN"); token != nullptr && *token) {
    options.admin_token = token;
  } else if (std::string file = absl::GetFlag(FLAGS_admin_token_file); !file.empty()) {
    std::ifstream in(file);
    std::stringstream contents;
    if (!in || !(contents << in.rdbuf())) {
      return absl::InvalidArgumentError(absl::StrCat("cannot read admin_token_file ", file));
    }
    options.admin_token = std::string(absl::StripAsciiWhitespace(contents.str()));
    if (options.admin_token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("admin_token_file ", file, " is empty"));
    }
  }

  options.ops_port = absl::GetFlag(FLAGS_ops_port);
  // Raise the soft open-file limit to the hard one, as servers expecting many clients do, and
  // keep a reserve below it for backends, Redis and files.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  getrlimit(RLIMIT_NOFILE, &files);
  constexpr size_t kReserve = 64;
  size_t ceiling = files.rlim_cur > 2 * kReserve ? files.rlim_cur - kReserve : files.rlim_cur / 2;
  uint64_t wanted = absl::GetFlag(FLAGS_max_connections);
  options.max_fds = wanted == 0 ? ceiling : std::min<size_t>(wanted, ceiling);
  options.ready_requires_redis = absl::GetFlag(FLAGS_ready_requires_redis);
  options.connection_state_recovery = absl::GetFlag(FLAGS_connection_state_recovery);
  options.recovery_max_packets = absl::GetFlag(FLAGS_recovery_max_packets);
  if (options.recovery_max_packets == 0) {
    return absl::InvalidArgumentError(
        "recovery_max_packets must be at least 1 (recovery is turned off with "
        "--connection_state_recovery=false)");
  }
  for (absl::string_view nsp :
       absl::StrSplit(absl::GetFlag(FLAGS_ready_namespaces), ',', absl::SkipWhitespace())) {
    nsp = absl::StripAsciiWhitespace(nsp);
    if (nsp.empty() || nsp[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("ready_namespaces: \"", nsp, "\" must start with '/'"));
    }
    options.ready_namespaces.emplace_back(nsp);
  }
  std::string log_format = absl::GetFlag(FLAGS_log_format);
  if (log_format != "text" && log_format != "json") {
    return absl::InvalidArgumentError(
        absl::StrCat("log_format must be text or json, not ", log_format));
  }
  runtime::JsonLogs() = log_format == "json";

  std::string level = absl::GetFlag(FLAGS_log_level);
  if (absl::GetFlag(FLAGS_logger) || absl::GetFlag(FLAGS_engineio_logger)) level = "debug";
  if (level == "debug") {
    runtime::MinLogLevel() = runtime::LogLevel::kDebug;
  } else if (level == "info") {
    runtime::MinLogLevel() = runtime::LogLevel::kInfo;
  } else if (level == "warning") {
    runtime::MinLogLevel() = runtime::LogLevel::kWarning;
  } else if (level == "error") {
    runtime::MinLogLevel() = runtime::LogLevel::kError;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown log_level: ", level));
  }
  return options;
}

}  // namespace sidecar::config
