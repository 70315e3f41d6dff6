// socketio-sidecar: serves Socket.IO clients and streams their events to
// application backends over gRPC.
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <boost/asio/ip/address.hpp>
#include <csignal>
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "sidecar/admin/admin_service.h"
#include "sidecar/backend/backend_service.h"
#include "sidecar/cluster/cluster.h"
#include "sidecar/cluster/cluster_recovery.h"
#include "sidecar/config/options.h"
#include "sidecar/engineio/raw_echo.h"
#include "sidecar/http/listener.h"
#include "sidecar/metrics/ops_server.h"
#include "sidecar/metrics/prometheus.h"
#include "sidecar/runtime/drain.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/runtime/log.h"
#include "sidecar/runtime/shards.h"

namespace {

using sidecar::runtime::Log;
using sidecar::runtime::LogLevel;

int Run(const sidecar::config::Options& options, const sigset_t& stop_signals) {
  // Before any id is made: every id names its node.
  if (!options.node_id.empty()) sidecar::runtime::SetLocalNodeId(options.node_id);
  sidecar::runtime::Shards shards(options.threads);

  sidecar::backend::BackendServiceConfig backend_config;
  backend_config.always_connect = options.always_connect;
  backend_config.connect_decision_timeout_ms =
      static_cast<uint32_t>(options.connect_decision_timeout.count());
  backend_config.backend_grace_period = options.backend_grace_period;
  backend_config.max_backend_queue_bytes = options.max_backend_queue_bytes;
  sidecar::cluster::Router router(shards);
  sidecar::backend::BackendService backend_service(shards, router, backend_config);

  std::unique_ptr<sidecar::cluster::Cluster> cluster;
  if (!options.redis_url.empty()) {
    cluster = std::make_unique<sidecar::cluster::Cluster>(
        sidecar::cluster::ClusterConfig{options.redis_url, options.channel,
                                        options.advertise_address, options.redis_outbox_bytes},
        router);
  }
  sidecar::socketio::SocketLocations socket_locations;
  std::unique_ptr<sidecar::socketio::RecoveryStore> recovery;
  if (options.connection_state_recovery && cluster) {
    // In Redis, so that a client recovers on any replica, even after its own died.
    auto store = std::make_unique<sidecar::cluster::ClusterRecoveryStore>(
        sidecar::cluster::RecoveryLogConfig{.channel = options.channel,
                                            .window = options.recovery_window,
                                            .max_packets = options.recovery_max_packets},
        *cluster, router, socket_locations, shards.size());
    cluster->set_recovery(store.get());
    router.set_log_reaches_every_node(true);
    recovery = std::move(store);
  } else if (options.connection_state_recovery) {
    recovery = std::make_unique<sidecar::socketio::MemoryRecoveryStore>(
        sidecar::socketio::MemoryRecoveryConfig{.window = options.recovery_window,
                                                .max_packets = options.recovery_max_packets},
        socket_locations, shards.size());
  }
  if (recovery) router.set_recovery(recovery.get(), &socket_locations);
  for (uint32_t i = 0; i < shards.size(); ++i) {
    sidecar::socketio::HubConfig hub_config;
    hub_config.recovery = recovery.get();
    hub_config.locations = &socket_locations;
    hub_config.shard = i;
    hub_config.always_connect = options.always_connect;
    hub_config.connect_timeout = options.connect_timeout;
    hub_config.connect_decision_timeout = options.connect_decision_timeout;
    hub_config.max_packet_bytes = options.max_http_buffer_size;
    hub_config.backend_buffer_limit = options.backend_buffer_limit;
    hub_config.backend_buffer_bytes = options.backend_buffer_bytes;
    hub_config.backend_ack_timeout = options.backend_ack_timeout;
    hub_config.metrics = &shards.at(i).metrics;
    shards.at(i).hub = std::make_unique<sidecar::socketio::Hub>(shards.at(i).io, hub_config,
                                                                backend_service.registry());
  }

  if (cluster) {
    if (absl::Status status = cluster->Start(); !status.ok()) {
      Log(LogLevel::kError, status.message());
      return 1;
    }
    router.set_peers(cluster.get());
  }
  router.set_describe_node([&](socketio::sidecar::v1::NodeStats& node) {
    node.set_address(options.advertise_address);
    node.set_backend_count(static_cast<uint32_t>(backend_service.registry().size()));
    node.set_redis_state(cluster ? cluster->redis_state() : "disabled");
  });
  sidecar::admin::AdminService admin_service(router, options.admin_token);

  std::atomic<bool> draining{false};
  sidecar::metrics::OpsServer ops_server({
      .not_ready_reason = [&]() -> std::string {
        if (draining) return "draining";
        if (cluster && options.ready_requires_redis && cluster->redis_state() != "connected") {
          return "Redis is unreachable";
        }
        for (const std::string& nsp : options.ready_namespaces) {
          if (!backend_service.registry().Pick(nsp, "")) return "no backend attached for " + nsp;
        }
        return "";
      },
      .render_metrics =
          [&] {
            return sidecar::metrics::RenderMetrics(shards, router, draining.load(), cluster.get());
          },
  });

  sidecar::http::ServerContext context{options, shards, {}, cluster.get()};
  context.endpoints.push_back(
      {options.path, [](sidecar::runtime::Shard& shard, auto session, auto handshake) {
         return shard.hub->NewClient(std::move(session), std::move(handshake));
       }});
  if (options.raw_engineio) {
    // The suites' ws client drops a frame that arrives in the same read as the 101
    // (it emits it before "open"), and the v3 suite then waits forever: no server ping
    // follows in v3 to stand in for the lost open packet.
    context.endpoints.push_back({"/engine.io/",
                                 [](sidecar::runtime::Shard&, auto session, auto) {
                                   return sidecar::engineio::NewRawEcho(std::move(session));
                                 },
                                 std::chrono::milliseconds(5)});
  }

  grpc::ServerBuilder builder;
  // Without this, a second sidecar would silently share the port and split the backends.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int grpc_port = 0;
  builder.AddListeningPort(options.grpc_address, grpc::InsecureServerCredentials(), &grpc_port);
  builder.RegisterService(&backend_service);
  builder.RegisterService(&admin_service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server || grpc_port == 0) {
    Log(LogLevel::kError, "cannot serve gRPC on ", options.grpc_address);
    return 1;
  }

  boost::system::error_code error;
  auto address = boost::asio::ip::make_address(options.host, error);
  if (error) {
    Log(LogLevel::kError, "invalid --host ", options.host, ": ", error.message());
    return 1;
  }
  auto listener = std::make_shared<sidecar::http::Listener>(context, shards.at(0).io);
  if (absl::Status status = listener->Listen({address, options.port}); !status.ok()) {
    Log(LogLevel::kError, status.message());
    return 1;
  }
  listener->Start();
  if (options.ops_port != 0) {
    if (absl::Status status = ops_server.Listen({address, options.ops_port}); !status.ok()) {
      Log(LogLevel::kError, status.message());
      return 1;
    }
    ops_server.Start();
  }

  shards.Run();
  Log(LogLevel::kInfo, "socketio-sidecar listening on http://", options.host, ":", listener->port(),
      options.path, " with ", shards.size(), " io threads; backends attach at ",
      options.grpc_address, cluster ? " (Admin too); cluster node " : " (Admin too)",
      cluster ? sidecar::runtime::LocalNodeId() : "");
  int signal = 0;
  sigwait(&stop_signals, &signal);
  // Fail readiness, stop accepting, and let clients move elsewhere before exiting
  // (SIGTERM); Ctrl-C closes every client at once.
  draining = true;
  std::chrono::milliseconds drain_timeout =
      signal == SIGTERM ? options.drain_timeout : std::chrono::milliseconds(1000);
  Log(LogLevel::kInfo, "signal ", signal, " received; draining for at most ", drain_timeout.count(),
      " ms");
  listener->Stop();
  auto drain_started = std::chrono::steady_clock::now();
  sidecar::runtime::DrainSessions(
      shards, signal == SIGTERM ? drain_timeout * 3 / 4 : std::chrono::milliseconds(0),
      drain_started + drain_timeout);
  Log(LogLevel::kInfo, "drained in ",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                            drain_started)
          .count(),
      " ms; stopping");
  ops_server.Stop();
  // Shutdown waits for every Admin call to finish, however long its command takes.
  admin_service.Stop(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  shards.Stop();
  if (cluster) cluster->Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil is built without NDEBUG, which leaves absl::Mutex's deadlock detection on:
  // a lock-order graph update under every lock gRPC takes. Abseil's release default is off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the stop signals before any thread exists, so every thread inherits
  // the mask and only the main thread's sigwait receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<sidecar::config::Options> options = sidecar::config::ParseOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << "socketio-sidecar: " << options.status().message() << "\n";
    return 2;
  }
  return Run(*options, stop_signals);
}
