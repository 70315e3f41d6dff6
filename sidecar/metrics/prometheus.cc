#include "sidecar/metrics/prometheus.h"

#include <future>

#include "absl/strings/str_cat.h"

namespace sidecar::metrics {
namespace {

namespace pb = ::socketio::sidecar::v1;

constexpr char kPrefix[] = "socketio_sidecar_";
constexpr std::chrono::seconds kSnapshotWait{1};

// Hands the outcome of a local Stats command to a waiting scrape.
class Snapshot : public socketio::OutcomeSink {
 public:
  void OnClientAck(const std::string&, pb::Payload) override {}
  void OnOutcome(cluster::Outcome outcome) override { promise_.set_value(std::move(outcome)); }
  std::future<cluster::Outcome> future() { return promise_.get_future(); }

 private:
  std::promise<cluster::Outcome> promise_;
};

std::string LabelValue(std::string_view value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped.push_back('\\');
    if (c == '\n') {
      escaped.append("\\n");
      continue;
    }
    escaped.push_back(c);
  }
  return escaped;
}

class Exposition {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    absl::StrAppend(&text_, "# HELP ", kPrefix, runtime::ToAbsl(name), " ", runtime::ToAbsl(help),
                    "\n# TYPE ", kPrefix, runtime::ToAbsl(name), " ", runtime::ToAbsl(type), "\n");
  }
  void Sample(std::string_view name, uint64_t value, std::string_view labels = "") {
    absl::StrAppend(&text_, kPrefix, runtime::ToAbsl(name));
    if (!labels.empty()) absl::StrAppend(&text_, "{", runtime::ToAbsl(labels), "}");
    absl::StrAppend(&text_, " ", value, "\n");
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

std::string RenderMetrics(runtime::Shards& shards, cluster::Router& router, bool draining,
                          const cluster::Cluster* cluster) {
  auto sum = [&](runtime::Counter runtime::ShardMetrics::*counter) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < shards.size(); ++i) total += (shards.at(i).metrics.*counter).Get();
    return total;
  };
  using M = runtime::ShardMetrics;
  Exposition out;
  out.Family("engineio_connections_opened_total", "counter", "Engine.IO sessions opened.");
  out.Sample("engineio_connections_opened_total", sum(&M::sessions_opened));
  out.Family("received_bytes_total", "counter", "Engine.IO payload bytes received from clients.");
  out.Sample("received_bytes_total", sum(&M::bytes_received));
  out.Family("sent_bytes_total", "counter", "Engine.IO payload bytes queued for clients.");
  out.Sample("sent_bytes_total", sum(&M::bytes_sent));
  out.Family("outbound_dropped_total", "counter",
             "Packets not delivered: volatile ones for clients behind, and clients disconnected "
             "because their outbound queue was full.");
  out.Sample("outbound_dropped_total", sum(&M::frames_dropped), R"(reason="volatile")");
  out.Sample("outbound_dropped_total", sum(&M::slow_consumers), R"(reason="slow_consumer")");
  out.Family("namespace_connects_total", "counter", "Namespace connections, by outcome.");
  out.Sample("namespace_connects_total", sum(&M::connects_accepted), R"(result="accepted")");
  out.Sample("namespace_connects_total", sum(&M::connects_rejected), R"(result="rejected")");
  out.Family("recoveries_total", "counter",
             "Reconnections with connection state recovery: sockets restored, and those that got "
             "a fresh socket (outside the window, or an event they missed left the log).");
  out.Sample("recoveries_total", sum(&M::recoveries), R"(result="recovered")");
  out.Sample("recoveries_total", sum(&M::recoveries_refused), R"(result="fresh")");
  out.Family("recovery_replayed_total", "counter", "Missed events replayed to restored sockets.");
  out.Sample("recovery_replayed_total", sum(&M::events_replayed));
  out.Family("disconnects_total", "counter", "Connected sockets that left a namespace.");
  out.Sample("disconnects_total", sum(&M::disconnects));
  out.Family("events_total", "counter",
             "Events: received from clients, and sent to clients (one per receiving socket).");
  out.Sample("events_total", sum(&M::events_received), R"(direction="in")");
  out.Sample("events_total", sum(&M::events_sent), R"(direction="out")");
  out.Family("acks_total", "counter",
             "Acks: client answers to server emits (in), backend answers to client emits (out).");
  out.Sample("acks_total", sum(&M::acks_received), R"(direction="in")");
  out.Sample("acks_total", sum(&M::acks_sent), R"(direction="out")");
  out.Family("ack_timeouts_total", "counter", "Server emits a client did not answer in time.");
  out.Sample("ack_timeouts_total", sum(&M::ack_timeouts));
  out.Family("backend_buffered_total", "counter",
             "Client messages held for a backend while none served their namespace.");
  out.Sample("backend_buffered_total", sum(&M::events_buffered));
  out.Family("backend_redelivered_total", "counter",
             "Events delivered again to another backend: the one that went away owed their ack.");
  out.Sample("backend_redelivered_total", sum(&M::events_redelivered));
  out.Family("backend_abandoned_total", "counter",
             "Sockets refused or disconnected because no backend took them within the grace "
             "period, or their buffer for a backend was full.");
  out.Sample("backend_abandoned_total", sum(&M::backend_abandoned));
  out.Family("backend_ack_timeouts_total", "counter",
             "Client events whose ack a backend still owed after --backend_ack_timeout.");
  out.Sample("backend_ack_timeouts_total", sum(&M::backend_ack_timeouts));
  out.Family("draining", "gauge", "1 while a SIGTERM drain is in progress.");
  out.Sample("draining", draining ? 1 : 0);
  if (cluster != nullptr) {
    out.Family("redis_outbox_messages", "gauge",
               "Commands for other replicas waiting for Redis to come back.");
    out.Sample("redis_outbox_messages", cluster->outbox_messages());
    out.Family("redis_outbox_dropped_total", "counter",
               "Commands for other replicas dropped because the outbox for Redis was full "
               "(--redis_outbox_bytes).");
    out.Sample("redis_outbox_dropped_total", cluster->outbox_dropped());
  }

  cluster::Command command;
  command.mutable_stats();
  auto snapshot = std::make_shared<Snapshot>();
  std::future<cluster::Outcome> result = snapshot->future();
  router.RunHere(std::make_shared<const cluster::Command>(std::move(command)), snapshot);
  if (result.wait_for(kSnapshotWait) != std::future_status::ready) return out.Take();
  cluster::Outcome outcome = result.get();
  if (outcome.nodes_size() == 0) return out.Take();
  const pb::NodeStats& node = outcome.nodes(0);
  out.Family("engineio_connections", "gauge", "Open Engine.IO connections, by transport.");
  out.Sample("engineio_connections", node.client_count() - node.websocket_client_count(),
             R"(transport="polling")");
  out.Sample("engineio_connections", node.websocket_client_count(), R"(transport="websocket")");
  out.Family("sockets", "gauge", "Connected sockets, by namespace.");
  for (const pb::NamespaceStats& nsp : node.namespaces()) {
    out.Sample("sockets", nsp.socket_count(),
               absl::StrCat("namespace=\"", LabelValue(nsp.namespace_()), "\""));
  }
  out.Family("rooms", "gauge", "Rooms other than the sockets' own, by namespace.");
  for (const pb::NamespaceStats& nsp : node.namespaces()) {
    out.Sample("rooms", nsp.room_count(),
               absl::StrCat("namespace=\"", LabelValue(nsp.namespace_()), "\""));
  }
  out.Family("backend_streams", "gauge", "Attached Backend.Attach streams.");
  out.Sample("backend_streams", node.backend_count());
  if (node.redis_state() != "disabled") {
    out.Family("redis_connected", "gauge", "1 while the cluster's Redis is reachable.");
    out.Sample("redis_connected", node.redis_state() == "connected" ? 1 : 0);
  }
  return out.Take();
}

}  // namespace sidecar::metrics
