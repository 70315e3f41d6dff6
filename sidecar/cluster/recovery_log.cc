#include "sidecar/cluster/recovery_log.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sidecar/runtime/log.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::cluster {
namespace {

using runtime::Log;
using runtime::LogLevel;

// KEYS: stream, pub/sub channel. ARGV: max entries, window ms, command, envelope.
// The stream id is appended to the envelope as its field 3 (log_id): tag 0x1a,
// then a one-byte length (ids are shorter than 128 bytes).
constexpr const char* kAppendScript = R"lua(
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[3])
local now = redis.call('TIME')
local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[2])
if oldest > 0 then redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', oldest)) end
redis.call('PUBLISH', KEYS[2], ARGV[4] .. string.char(26, #id) .. id)
return id
)lua";

// KEYS: session. ARGV: data, offset ('' keeps the one saved), ttl ms.
constexpr const char* kSaveScript = R"lua(
redis.call('HSET', KEYS[1], 'data', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSETNX', KEYS[1], 'offset', ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
)lua";

// KEYS: session, stream. ARGV: the client's offset ('' for the saved one).
// Returns {} without a session, else {data, from, xinfo-or-0, entries, saved offset}.
constexpr const char* kRestoreScript = R"lua(
local saved = redis.call('HMGET', KEYS[1], 'data', 'offset')
if not saved[1] then return {} end
redis.call('DEL', KEYS[1])
local at_connect = saved[2] or ''
local from = ARGV[1]
if from == '' then from = at_connect end
if from == '' then from = '0-0' end
if redis.call('EXISTS', KEYS[2]) == 0 then return {saved[1], from, 0, {}, at_connect} end
local info = redis.call('XINFO', 'STREAM', KEYS[2])
return {saved[1], from, info, redis.call('XRANGE', KEYS[2], '(' .. from, '+'), at_connect}
)lua";

std::string_view Text(const redisReply* reply) {
  if (reply == nullptr ||
      (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)) {
    return {};
  }
  return {reply->str, reply->len};
}

StreamBounds BoundsOf(const redisReply* info) {
  StreamBounds bounds;
  if (info == nullptr || info->type != REDIS_REPLY_ARRAY) return bounds;
  bounds.exists = true;
  for (size_t i = 0; i + 1 < info->elements; i += 2) {
    std::string_view name = Text(info->element[i]);
    const redisReply* value = info->element[i + 1];
    if (name == "length" && value->type == REDIS_REPLY_INTEGER) {
      bounds.length = static_cast<uint64_t>(value->integer);
    } else if (name == "entries-added" && value->type == REDIS_REPLY_INTEGER) {
      bounds.entries_added = static_cast<uint64_t>(value->integer);
    } else if (name == "last-generated-id") {
      bounds.last_generated = StreamId::Parse(Text(value));
    } else if (name == "first-entry" && value->type == REDIS_REPLY_ARRAY && value->elements > 0) {
      bounds.first = StreamId::Parse(Text(value->element[0]));
    }
  }
  return bounds;
}

}  // namespace

std::optional<StreamId> StreamId::Parse(std::string_view text) {
  size_t dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  StreamId id;
  if (!absl::SimpleAtoi(runtime::ToAbsl(text.substr(0, dash)), &id.ms) ||
      !absl::SimpleAtoi(runtime::ToAbsl(text.substr(dash + 1)), &id.seq)) {
    return std::nullopt;
  }
  return id;
}

std::string StreamId::ToString() const { return absl::StrCat(ms, "-", seq); }

bool NothingTrimmedAfter(const StreamBounds& bounds, StreamId from) {
  if (!bounds.exists) return true;
  if (bounds.entries_added == bounds.length) return true;
  if (bounds.first) return *bounds.first <= from;
  // Empty after trimming: fine only if nothing was ever added after `from`.
  return !bounds.last_generated || *bounds.last_generated <= from;
}

bool TargetReaches(const ::socketio::sidecar::v1::Target& target, std::string_view sid,
                   const std::vector<std::string>& rooms) {
  auto in_rooms = [&](std::string_view room) {
    return room == sid || std::find(rooms.begin(), rooms.end(), room) != rooms.end();
  };
  for (const std::string& room : target.except_rooms()) {
    if (in_rooms(room)) return false;
  }
  for (const std::string& except : target.except_sids()) {
    if (except == sid) return false;
  }
  if (target.rooms().empty() && target.sids().empty()) return true;
  for (const std::string& room : target.rooms()) {
    if (in_rooms(room)) return true;
  }
  for (const std::string& target_sid : target.sids()) {
    if (target_sid == sid) return true;
  }
  return false;
}

RecoveryLog::RecoveryLog(RecoveryLogConfig config)
    : config_(std::move(config)),
      append_{kAppendScript, {}},
      save_{kSaveScript, {}},
      restore_{kRestoreScript, {}} {}

std::string RecoveryLog::StreamKey() const { return absl::StrCat(config_.channel, ":log"); }

std::string RecoveryLog::SessionKey(std::string_view pid) const {
  return absl::StrCat(config_.channel, ":session:", runtime::ToAbsl(pid));
}

void RecoveryLog::OnUp(RedisConnection& redis) {
  for (Script* script : {&append_, &save_, &restore_}) {
    redis.Command({"SCRIPT", "LOAD", script->source}, [script](redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
        script->sha.assign(reply->str, reply->len);
      } else if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        Log(LogLevel::kError, "redis refused a recovery script: ", reply->str);
      }
    });
  }
}

// EVALSHA once the script is known to be loaded; EVAL before (Redis caches it either way).
std::vector<std::string> RecoveryLog::ScriptCommand(const Script& script,
                                                    std::vector<std::string> keys,
                                                    std::vector<std::string> args) const {
  std::vector<std::string> command;
  command.reserve(3 + keys.size() + args.size());
  if (script.sha.empty()) {
    command = {"EVAL", script.source};
  } else {
    command = {"EVALSHA", script.sha};
  }
  command.push_back(std::to_string(keys.size()));
  for (std::string& key : keys) command.push_back(std::move(key));
  for (std::string& arg : args) command.push_back(std::move(arg));
  return command;
}

void RecoveryLog::Run(RedisConnection& redis, const std::vector<std::string>& command,
                      RedisConnection::ReplyHandler on_reply) {
  if (!redis.Command(command, on_reply)) on_reply(nullptr);
}

std::vector<std::string> RecoveryLog::AppendCommand(const std::string& entry,
                                                    const std::string& envelope,
                                                    const std::string& pubsub_channel) const {
  return ScriptCommand(append_, {StreamKey(), pubsub_channel},
                       {std::to_string(config_.max_packets), std::to_string(config_.window.count()),
                        entry, envelope});
}

std::vector<std::string> RecoveryLog::SaveCommand(std::string_view pid,
                                                  const RecoverySession& session,
                                                  std::string_view offset) const {
  return ScriptCommand(
      save_, {SessionKey(pid)},
      {session.SerializeAsString(), std::string(offset), std::to_string(config_.window.count())});
}

std::vector<std::string> RecoveryLog::DeleteCommand(std::string_view pid) const {
  return {"DEL", SessionKey(pid)};
}

void RecoveryLog::Append(RedisConnection& redis, const std::string& entry,
                         const std::string& envelope, const std::string& pubsub_channel,
                         std::function<void(std::optional<std::string>)> on_logged) {
  Run(redis, AppendCommand(entry, envelope, pubsub_channel),
      [on_logged = std::move(on_logged)](redisReply* reply) {
        if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
          return on_logged(std::string(reply->str, reply->len));
        }
        if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
          Log(LogLevel::kWarning, "recovery: logging an emit failed: ", reply->str);
        }
        on_logged(std::nullopt);
      });
}

void RecoveryLog::SaveSession(RedisConnection& redis, std::string_view pid,
                              const RecoverySession& session, std::string_view offset) {
  Run(redis, SaveCommand(pid, session, offset), [](redisReply* reply) {
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
      Log(LogLevel::kWarning, "recovery: saving a session failed: ", reply->str);
    }
  });
}

void RecoveryLog::LastId(RedisConnection& redis,
                         std::function<void(std::optional<std::string>)> on_id) {
  Run(redis, {"XREVRANGE", StreamKey(), "+", "-", "COUNT", "1"},
      [on_id = std::move(on_id)](redisReply* reply) {
        if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
            reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements > 0) {
          return on_id(std::string(Text(reply->element[0]->element[0])));
        }
        on_id(std::nullopt);
      });
}

void RecoveryLog::RefreshSessions(RedisConnection& redis, const std::vector<std::string>& pids) {
  const std::string ttl = std::to_string(config_.window.count());
  for (const std::string& pid : pids) {
    if (!redis.Command({"PEXPIRE", SessionKey(pid), ttl}, [](redisReply*) {})) return;
  }
}

void RecoveryLog::DeleteSession(RedisConnection& redis, std::string_view pid) {
  redis.Command(DeleteCommand(pid), [](redisReply*) {});
}

void RecoveryLog::Restore(RedisConnection& redis, std::string_view pid, std::string_view nsp,
                          std::string_view offset,
                          std::function<void(absl::StatusOr<StoredRestore>)> on_restored) {
  Run(redis, ScriptCommand(restore_, {SessionKey(pid), StreamKey()}, {std::string(offset)}),
      [nsp = std::string(nsp), on_restored = std::move(on_restored)](redisReply* reply) {
        if (reply == nullptr) return on_restored(absl::UnavailableError("Redis is unreachable"));
        if (reply->type == REDIS_REPLY_ERROR) {
          return on_restored(
              absl::InternalError(absl::StrCat("Redis: ", std::string(Text(reply)))));
        }
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 5) {
          return on_restored(absl::NotFoundError("no such session"));
        }
        StoredRestore restore;
        std::string_view data = Text(reply->element[0]);
        if (!restore.session.ParseFromArray(data.data(), static_cast<int>(data.size())) ||
            restore.session.nsp() != nsp) {
          return on_restored(absl::NotFoundError("no such session in this namespace"));
        }
        restore.from = std::string(Text(reply->element[1]));
        restore.offset_at_connect = std::string(Text(reply->element[4]));
        std::optional<StreamId> from = StreamId::Parse(restore.from);
        if (!from) return on_restored(absl::NotFoundError("not an offset of this log"));
        if (!NothingTrimmedAfter(BoundsOf(reply->element[2]), *from)) {
          return on_restored(absl::OutOfRangeError("events it missed have left the log"));
        }
        const redisReply* entries = reply->element[3];
        for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; ++i) {
          const redisReply* entry = entries->element[i];
          if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2) continue;
          const redisReply* fields = entry->element[1];
          if (fields->type != REDIS_REPLY_ARRAY || fields->elements < 2) continue;
          std::string_view bytes = Text(fields->element[1]);
          LoggedEntry logged{std::string(Text(entry->element[0])), {}};
          if (!logged.emit.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) continue;
          restore.entries.push_back(std::move(logged));
        }
        on_restored(std::move(restore));
      });
}

}  // namespace sidecar::cluster
