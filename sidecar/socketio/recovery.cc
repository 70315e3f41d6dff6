#include "sidecar/socketio/recovery.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/socketio/hub.h"

namespace sidecar::socketio {
namespace {

// Whether a socket in `rooms` (its own sid among them) was a receiver of an
// emit to `target`, as Hub::Resolve decides.
bool Included(const runtime::StringSet& rooms, const pb::Target& target) {
  auto any_in = [&](const auto& names) {
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& name) { return rooms.contains(name); });
  };
  if (any_in(target.except_rooms()) || any_in(target.except_sids())) return false;
  if (target.rooms().empty() && target.sids().empty()) return true;
  return any_in(target.rooms()) || any_in(target.sids());
}

}  // namespace

// --- SocketLocations ---------------------------------------------------------

bool SocketLocations::Restored(const std::string& sid, uint32_t shard, uint32_t shard_count) {
  if (runtime::IsLocalId(sid) && runtime::ShardOfId(sid, shard_count) == shard) return false;
  std::lock_guard lock(mutex_);
  shards_[sid] = shard;
  return true;
}

void SocketLocations::Erase(std::string_view sid) {
  std::lock_guard lock(mutex_);
  if (auto it = shards_.find(sid); it != shards_.end()) shards_.erase(it);
}

std::optional<uint32_t> SocketLocations::ShardOf(std::string_view sid) const {
  std::lock_guard lock(mutex_);
  auto it = shards_.find(sid);
  if (it == shards_.end()) return std::nullopt;
  return it->second;
}

// --- MemoryRecoveryStore -----------------------------------------------------

MemoryRecoveryStore::MemoryRecoveryStore(MemoryRecoveryConfig config, SocketLocations& locations,
                                         uint32_t shard_count, Clock clock)
    : config_(config),
      locations_(locations),
      shard_count_(shard_count),
      clock_(std::move(clock)),
      prefix_(absl::StrCat(std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count(),
                           "-")) {}

std::string MemoryRecoveryStore::Format(uint64_t number) const {
  return absl::StrCat(prefix_, number);
}

std::optional<uint64_t> MemoryRecoveryStore::Parse(std::string_view offset) const {
  if (!offset.starts_with(prefix_)) return std::nullopt;
  offset.remove_prefix(prefix_.size());
  uint64_t number = 0;
  if (offset.empty() || !absl::SimpleAtoi(runtime::ToAbsl(offset), &number)) return std::nullopt;
  return number;
}

bool MemoryRecoveryStore::IsAfter(std::string_view offset, std::string_view than) const {
  std::optional<uint64_t> a = Parse(offset);
  std::optional<uint64_t> b = Parse(than);
  if (!b) return true;
  return a && *a > *b;
}

void MemoryRecoveryStore::PruneLocked(std::chrono::steady_clock::time_point now) {
  while (!log_.empty() &&
         (log_.size() > config_.max_packets || log_.front().time + config_.window < now)) {
    dropped_through_ = log_.front().number;
    log_.pop_front();
  }
  while (!expiries_.empty() && expiries_.front().first <= now) {
    auto parked = parked_.find(expiries_.front().second);
    if (parked != parked_.end() && parked->second.expiry <= now) parked_.erase(parked);
    expiries_.pop_front();
  }
}

void MemoryRecoveryStore::Append(std::shared_ptr<const ::socketio::sidecar::cluster::Command>,
                                 std::shared_ptr<const EmitPlan> plan, Deliver deliver) {
  std::lock_guard lock(mutex_);
  auto now = clock_();
  uint64_t number = ++last_number_;
  std::shared_ptr<const EmitPlan> logged = MakeOffsetPlan(*plan, Format(number));
  log_.push_back(Logged{number, now, logged});
  PruneLocked(now);
  // Under the lock: shards get the events in offset order, and a restore's
  // snapshot falls between two deliveries.
  deliver(std::move(logged));
}

std::string MemoryRecoveryStore::LastOffset() const {
  std::lock_guard lock(mutex_);
  return LastOffsetLocked();
}

std::string MemoryRecoveryStore::LastOffsetLocked() const {
  return last_number_ == 0 ? std::string() : Format(last_number_);
}

void MemoryRecoveryStore::Park(SessionState state) {
  std::lock_guard lock(mutex_);
  auto now = clock_();
  PruneLocked(now);
  auto expiry = now + config_.window;
  expiries_.emplace_back(expiry, state.pid);
  std::string pid = state.pid;
  parked_[std::move(pid)] = Parked{std::move(state), expiry};
}

void MemoryRecoveryStore::Restore(RestoreRequest request, Restored done) {
  std::lock_guard lock(mutex_);
  PruneLocked(clock_());
  auto parked = parked_.find(request.pid);
  if (parked == parked_.end() || parked->second.state.nsp != request.nsp) {
    return done(std::nullopt);
  }
  RestoredSession restored{std::move(parked->second.state), {}, LastOffsetLocked()};
  parked_.erase(parked);
  // Without an offset the client got no logged event since it connected.
  const std::string& offset = request.offset.value_or(restored.state.offset_at_connect);
  uint64_t after = 0;
  if (!offset.empty()) {
    std::optional<uint64_t> number = Parse(offset);
    // Not one of our offsets: what the client missed is unknown.
    if (!number || *number > last_number_) return done(std::nullopt);
    after = *number;
  }
  // An event after the client's offset has left the log: it cannot get them all.
  if (dropped_through_ > after) return done(std::nullopt);
  locations_.Restored(restored.state.sid, request.shard, shard_count_);
  runtime::StringSet rooms(restored.state.rooms.begin(), restored.state.rooms.end());
  rooms.insert(restored.state.sid);
  auto first =
      std::upper_bound(log_.begin(), log_.end(), after,
                       [](uint64_t value, const Logged& logged) { return value < logged.number; });
  for (auto it = first; it != log_.end(); ++it) {
    if (it->plan->nsp == restored.state.nsp && Included(rooms, it->plan->target)) {
      restored.missed.push_back(it->plan);
    }
  }
  done(std::move(restored));
}

size_t MemoryRecoveryStore::logged() const {
  std::lock_guard lock(mutex_);
  return log_.size();
}

size_t MemoryRecoveryStore::parked() const {
  std::lock_guard lock(mutex_);
  return parked_.size();
}

// --- Helpers -----------------------------------------------------------------

// socket.io's RECOVERABLE_DISCONNECT_REASONS: the transport was lost, and the
// client reconnects on its own.
bool IsRecoverableReason(std::string_view reason) {
  return reason == "transport close" || reason == "transport error" || reason == "ping timeout" ||
         reason == "forced close" || reason == "server shutting down" ||
         reason == "forced server close";
}

std::shared_ptr<const EmitPlan> MakeOffsetPlan(const EmitPlan& plan, std::string offset) {
  auto with_offset = std::make_shared<EmitPlan>(plan);
  // The event array `["name",...]` ends the packet, and so the frame: the
  // offset goes before its closing bracket.
  std::string argument = absl::StrCat(",\"", offset, "\"");
  with_offset->data.insert(with_offset->data.size() - 1, argument);
  std::string frame = *plan.frame.data;
  frame.insert(frame.size() - 1, argument);
  with_offset->frame =
      engineio::Frame{std::make_shared<const std::string>(std::move(frame)), plan.frame.binary};
  with_offset->offset = std::move(offset);
  return with_offset;
}

}  // namespace sidecar::socketio
