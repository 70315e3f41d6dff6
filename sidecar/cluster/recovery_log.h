#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sidecar/cluster/cluster.pb.h"
#include "sidecar/cluster/redis.h"

namespace sidecar::cluster {

using RecoverySession = ::socketio::sidecar::cluster::RecoverySession;
using LoggedEmitEntry = ::socketio::sidecar::cluster::LoggedEmit;

// A Redis stream entry id, "<milliseconds>-<sequence>", ordered as Redis orders them.
struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  static std::optional<StreamId> Parse(std::string_view text);
  std::string ToString() const;
  auto operator<=>(const StreamId&) const = default;
};

// One logged emit: its stream id (the offset its receivers see) and the emit.
struct LoggedEntry {
  std::string id;
  LoggedEmitEntry emit;
};

// What a restore found in Redis: the session, the offset saved when it
// connected, the offset it resumes from, and the logged emits after that
// offset, in order (not yet filtered by namespace or rooms).
struct StoredRestore {
  RecoverySession session;
  std::string offset_at_connect;
  std::string from;
  std::vector<LoggedEntry> entries;
};

// What XINFO STREAM says about a stream's trimmed head.
struct StreamBounds {
  bool exists = false;
  uint64_t length = 0;
  uint64_t entries_added = 0;
  std::optional<StreamId> first;
  std::optional<StreamId> last_generated;
};
// Whether every entry after `from` is still in the stream (trimming removes a prefix).
bool NothingTrimmedAfter(const StreamBounds& bounds, StreamId from);

// Whether an emit to `target` reaches a socket `sid` in `rooms` (its sid room
// left out): rooms and sids together, none meaning every socket, minus the
// excepted ones, as Hub::Resolve decides.
bool TargetReaches(const ::socketio::sidecar::v1::Target& target, std::string_view sid,
                   const std::vector<std::string>& rooms);

struct RecoveryLogConfig {
  // Prefix of every key, as of the pub/sub channels.
  std::string channel;
  // Sessions live this long after their last refresh; entries this long in the stream.
  std::chrono::milliseconds window{120000};
  // Entries kept per namespace stream (trimmed approximately, never below).
  uint64_t max_packets = 10000;
};

// The Redis side of connection state recovery in a cluster, as in Node's
// socket.io-redis-streams-adapter: every logged emit is appended to the
// stream `<channel>:log` (MAXLEN ~ max_packets, MINID ~ now - window)
// and published on `<channel>` with its new stream id, by one Lua script, so
// every node sees logged emits in stream order with the same offsets. Sockets
// are kept as hashes `<channel>:session:<pid>` (field `data`, a
// RecoverySession, and `offset`, the last id logged before it connected) with
// PX = window, refreshed by the node serving them; a restore takes the hash
// and reads the stream after the client's offset in one script.
//
// Calls and callbacks run on the io_context of the RedisConnection given.
class RecoveryLog {
 public:
  explicit RecoveryLog(RecoveryLogConfig config);

  const RecoveryLogConfig& config() const { return config_; }
  std::string StreamKey() const;
  std::string SessionKey(std::string_view pid) const;

  // Loads the scripts (after each connection, before any other command).
  void OnUp(RedisConnection& redis);

  // Logs `entry` (a LoggedEmit) in the stream and publishes `envelope` on
  // `pubsub_channel` with the id appended as Envelope.log_id. `on_logged`
  // gets the id, or nullopt when it was not sent or failed.
  void Append(RedisConnection& redis, const std::string& entry, const std::string& envelope,
              const std::string& pubsub_channel,
              std::function<void(std::optional<std::string>)> on_logged);
  // The commands behind Append, SaveSession and DeleteSession, for callers
  // that queue them while Redis is down.
  std::vector<std::string> AppendCommand(const std::string& entry, const std::string& envelope,
                                         const std::string& pubsub_channel) const;
  std::vector<std::string> SaveCommand(std::string_view pid, const RecoverySession& session,
                                       std::string_view offset) const;
  std::vector<std::string> DeleteCommand(std::string_view pid) const;
  // The id the stream ends with; nullopt when empty or unknown.
  void LastId(RedisConnection& redis, std::function<void(std::optional<std::string>)> on_id);

  // Keeps a socket: `offset` (the last id logged before it connected) only on
  // its first save. TTL = window.
  void SaveSession(RedisConnection& redis, std::string_view pid, const RecoverySession& session,
                   std::string_view offset);
  // Sets the TTL of these sessions back to the window.
  void RefreshSessions(RedisConnection& redis, const std::vector<std::string>& pids);
  void DeleteSession(RedisConnection& redis, std::string_view pid);

  // Takes the session `pid` (whoever asks first gets it) and the entries of
  // the stream after `offset` (the client's last, or the one
  // saved at connect when empty). NotFound: no such session, or not of `nsp`;
  // OutOfRange: entries it missed were trimmed; Unavailable: Redis is down.
  void Restore(RedisConnection& redis, std::string_view pid, std::string_view nsp,
               std::string_view offset,
               std::function<void(absl::StatusOr<StoredRestore>)> on_restored);

 private:
  struct Script {
    const char* source;
    std::string sha;
  };
  std::vector<std::string> ScriptCommand(const Script& script, std::vector<std::string> keys,
                                         std::vector<std::string> args) const;
  void Run(RedisConnection& redis, const std::vector<std::string>& command,
           RedisConnection::ReplyHandler on_reply);

  RecoveryLogConfig config_;
  Script append_;
  Script save_;
  Script restore_;
};

}  // namespace sidecar::cluster
