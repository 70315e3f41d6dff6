#include "sidecar/cluster/cluster_recovery.h"

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "sidecar/cluster/cluster.h"
#include "sidecar/cluster/router.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/runtime/log.h"
#include "sidecar/socketio/hub.h"
#include "sidecar/socketio/packet.h"

namespace sidecar::cluster {
namespace {

using Envelope = ::socketio::sidecar::cluster::Envelope;
using runtime::Log;
using runtime::LogLevel;

// Logged emits this node keeps after delivering them (a restore's snapshot
// lags behind by at most one Redis round trip).
constexpr size_t kRecentEmits = 4096;
constexpr std::chrono::milliseconds kLongestRefresh{30000};

LoggedEmitEntry EntryOf(const socketio::EmitPlan& plan) {
  LoggedEmitEntry entry;
  entry.set_nsp(plan.nsp);
  *entry.mutable_target() = plan.target;
  entry.set_data(plan.data);
  for (const auto& attachment : plan.attachments) entry.add_attachments(*attachment);
  return entry;
}

// The plan every receiver of a logged emit gets, as MakeEmitPlan encodes it.
std::shared_ptr<const socketio::EmitPlan> PlanOf(const LoggedEmitEntry& entry, std::string offset) {
  socketio::EmitPlan plan;
  plan.nsp = entry.nsp();
  plan.target = entry.target();
  plan.data = entry.data();
  for (const std::string& attachment : entry.attachments()) {
    plan.attachments.push_back(std::make_shared<const std::string>(attachment));
  }
  socketio::Packet packet{
      plan.attachments.empty() ? socketio::PacketType::kEvent : socketio::PacketType::kBinaryEvent,
      plan.nsp, std::nullopt, plan.attachments.size(), plan.data};
  plan.frame = engineio::Frame{
      std::make_shared<const std::string>(absl::StrCat("4", socketio::EncodePacket(packet))),
      false};
  return socketio::MakeOffsetPlan(plan, std::move(offset));
}

RecoverySession SessionOf(const socketio::SessionState& state) {
  RecoverySession session;
  session.set_sid(state.sid);
  session.set_nsp(state.nsp);
  for (const std::string& room : state.rooms) session.add_rooms(room);
  session.set_session_json(state.session_json);
  session.set_node(runtime::LocalNodeId());
  return session;
}

}  // namespace

ClusterRecoveryStore::ClusterRecoveryStore(RecoveryLogConfig config, Cluster& cluster,
                                           Router& router, socketio::SocketLocations& locations,
                                           uint32_t shard_count)
    : log_(std::move(config)),
      cluster_(cluster),
      router_(router),
      locations_(locations),
      shard_count_(shard_count),
      next_seq_(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count())),
      refresh_timer_(cluster.io_) {}

ClusterRecoveryStore::~ClusterRecoveryStore() = default;

void ClusterRecoveryStore::Append(std::shared_ptr<const Command>,
                                  std::shared_ptr<const socketio::EmitPlan> plan, Deliver deliver) {
  boost::asio::post(cluster_.io_, [this, plan = std::move(plan),
                                   deliver = std::move(deliver)]() mutable {
    uint64_t seq = next_seq_++;
    Envelope envelope;
    envelope.set_origin(runtime::LocalNodeId());
    envelope.set_log_seq(seq);
    *envelope.mutable_logged() = EntryOf(*plan);
    envelope.mutable_logged()->set_origin(runtime::LocalNodeId());
    envelope.mutable_logged()->set_seq(seq);
    std::vector<std::string> command = log_.AppendCommand(
        envelope.logged().SerializeAsString(), envelope.SerializeAsString(), cluster_.channel());
    appends_[seq] = PendingAppend{std::move(plan), std::move(deliver)};
    cluster_.SendOrQueue(std::move(command), [this, seq](redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_STRING) return;
      // Not logged (the outbox overflowed, or Redis refused): local receivers
      // still get it, without an offset.
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        Log(LogLevel::kWarning, "recovery: Redis refused to log an emit: ", reply->str);
      }
      auto it = appends_.find(seq);
      if (it == appends_.end()) return;
      it->second.deliver(it->second.plan);
      appends_.erase(it);
    });
  });
}

void ClusterRecoveryStore::OnLogged(const Envelope& envelope) {
  std::optional<StreamId> id = StreamId::Parse(envelope.log_id());
  if (!id) return;
  // Sent again after Redis died without answering, though it had logged it.
  uint64_t& delivered = delivered_seq_[envelope.logged().origin()];
  if (envelope.logged().seq() != 0 && envelope.logged().seq() <= delivered) return;
  delivered = envelope.logged().seq();
  std::shared_ptr<const socketio::EmitPlan> plan;
  auto pending = envelope.origin() == runtime::LocalNodeId() ? appends_.find(envelope.log_seq())
                                                             : appends_.end();
  if (pending != appends_.end()) {
    plan = socketio::MakeOffsetPlan(*pending->second.plan, envelope.log_id());
    pending->second.deliver(plan);
    appends_.erase(pending);
  } else {
    plan = PlanOf(envelope.logged(), envelope.log_id());
    router_.DeliverLogged(plan);
  }
  {
    std::lock_guard lock(last_mutex_);
    last_offset_ = envelope.log_id();
  }
  recent_.push_back(Recent{*id, std::move(plan)});
  if (recent_.size() > kRecentEmits) {
    recent_.pop_front();
    recent_trimmed_ = true;
  }
}

std::string ClusterRecoveryStore::LastOffset() const {
  std::lock_guard lock(last_mutex_);
  return last_offset_;
}

bool ClusterRecoveryStore::IsAfter(std::string_view offset, std::string_view than) const {
  if (than.empty()) return true;
  std::optional<StreamId> a = StreamId::Parse(offset);
  std::optional<StreamId> b = StreamId::Parse(than);
  return a && b && *a > *b;
}

void ClusterRecoveryStore::Save(const socketio::SessionState& state) {
  cluster_.SendOrQueue(log_.SaveCommand(state.pid, SessionOf(state), state.offset_at_connect),
                       nullptr);
}

void ClusterRecoveryStore::Track(const socketio::SessionState& state) {
  boost::asio::post(cluster_.io_, [this, state] {
    tracked_[state.pid] = state;
    Save(state);
  });
}

void ClusterRecoveryStore::Park(socketio::SessionState state) {
  boost::asio::post(cluster_.io_, [this, state = std::move(state)] {
    if (auto it = tracked_.find(state.pid); it != tracked_.end()) tracked_.erase(it);
    Save(state);
  });
}

void ClusterRecoveryStore::Forget(std::string_view pid) {
  boost::asio::post(cluster_.io_, [this, pid = std::string(pid)] {
    if (auto it = tracked_.find(pid); it != tracked_.end()) tracked_.erase(it);
    cluster_.SendOrQueue(log_.DeleteCommand(pid), nullptr);
  });
}

void ClusterRecoveryStore::OnRedisUp(RedisConnection& publisher) {
  log_.OnUp(publisher);
  if (LastOffset().empty()) {
    log_.LastId(publisher, [this](std::optional<std::string> id) {
      std::lock_guard lock(last_mutex_);
      if (id && last_offset_.empty()) last_offset_ = *id;
    });
  }
  // Redis may have lost them (a restart without persistence).
  for (const auto& [pid, state] : tracked_) {
    publisher.Command(log_.SaveCommand(pid, SessionOf(state), state.offset_at_connect),
                      [](redisReply*) {});
  }
  ScheduleRefresh();
}

void ClusterRecoveryStore::ScheduleRefresh() {
  refresh_timer_.expires_after(std::min(kLongestRefresh, log_.config().window / 3));
  refresh_timer_.async_wait([this](boost::system::error_code error) {
    if (error) return;
    RedisConnection& publisher = cluster_.publisher();
    for (const auto& [pid, state] : tracked_) {
      if (!publisher.Command(log_.SaveCommand(pid, SessionOf(state), state.offset_at_connect),
                             [](redisReply*) {})) {
        break;
      }
    }
    ScheduleRefresh();
  });
}

void ClusterRecoveryStore::Stop() { refresh_timer_.cancel(); }

void ClusterRecoveryStore::Restore(socketio::RestoreRequest request, Restored done) {
  boost::asio::post(cluster_.io_,
                    [this, request = std::move(request), done = std::move(done)]() mutable {
                      std::string pid = request.pid;
                      std::string nsp = request.nsp;
                      std::string offset = request.offset.value_or("");
                      log_.Restore(cluster_.publisher(), pid, nsp, offset,
                                   [this, request = std::move(request),
                                    done = std::move(done)](absl::StatusOr<StoredRestore> stored) {
                                     Finish(request, std::move(stored), done);
                                   });
                    });
}

// On the cluster thread, where logged emits are delivered too: everything up
// to `through` is in `missed`, and only later emits reach the shard after the
// result.
void ClusterRecoveryStore::Finish(const socketio::RestoreRequest& request,
                                  absl::StatusOr<StoredRestore> stored, const Restored& done) {
  if (!stored.ok()) {
    Log(LogLevel::kDebug, "recovery: no restore for pid ", request.pid, ": ",
        stored.status().message());
    return done(std::nullopt);
  }
  socketio::RestoredSession restored;
  socketio::SessionState& state = restored.state;
  state.pid = request.pid;
  state.sid = stored->session.sid();
  state.nsp = stored->session.nsp();
  state.rooms.assign(stored->session.rooms().begin(), stored->session.rooms().end());
  state.session_json = stored->session.session_json();
  state.offset_at_connect = stored->offset_at_connect;
  auto reaches = [&](const pb::Target& target, std::string_view entry_nsp) {
    return entry_nsp == state.nsp && TargetReaches(target, state.sid, state.rooms);
  };
  std::optional<StreamId> through = StreamId::Parse(stored->from);
  for (LoggedEntry& entry : stored->entries) {
    through = StreamId::Parse(entry.id);
    if (reaches(entry.emit.target(), entry.emit.nsp())) {
      restored.missed.push_back(PlanOf(entry.emit, entry.id));
    }
  }
  // This node may have delivered emits logged after the snapshot already.
  std::optional<StreamId> delivered = StreamId::Parse(LastOffset());
  if (delivered && through && *delivered > *through) {
    if (recent_.empty() || (recent_trimmed_ && recent_.front().id > *through)) {
      Log(LogLevel::kWarning, "recovery: cannot restore pid ", request.pid,
          ": this replica delivered too many emits during the restore");
      Park(std::move(restored.state));
      return done(std::nullopt);
    }
    for (const Recent& recent : recent_) {
      if (recent.id > *through && reaches(recent.plan->target, recent.plan->nsp)) {
        restored.missed.push_back(recent.plan);
      }
    }
    through = delivered;
  }
  restored.through = through ? through->ToString() : std::string();
  locations_.Restored(state.sid, request.shard, shard_count_);
  done(std::move(restored));
}

}  // namespace sidecar::cluster
