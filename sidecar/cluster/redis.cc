#include "sidecar/cluster/redis.h"

#include <utility>

#include <boost/url/parse.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sidecar/runtime/log.h"

namespace sidecar::cluster {
namespace {

using runtime::Log;
using runtime::LogLevel;

constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr std::chrono::milliseconds kPingInterval{1000};
// A connection that does not connect, or answer a PING, within this many
// ping intervals is dropped and made again.
constexpr int kMaxUnanswered = 3;

RedisConnection* Self(const redisAsyncContext* context) {
  return static_cast<RedisConnection*>(context->data);
}

}  // namespace

absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view text) {
  auto url = boost::urls::parse_uri(text);
  if (!url || url->scheme() != "redis") {
    return absl::InvalidArgumentError(
        absl::StrCat("redis_url \"", runtime::ToAbsl(text),
                     "\" is not of the form redis://[:password@]host[:port]"));
  }
  RedisEndpoint endpoint;
  endpoint.host = url->host();
  if (endpoint.host.empty()) return absl::InvalidArgumentError("redis_url names no host");
  if (url->has_port()) {
    if (url->port_number() == 0) return absl::InvalidArgumentError("redis_url has a bad port");
    endpoint.port = url->port_number();
  }
  if (url->has_password()) endpoint.password = url->password();
  return endpoint;
}

RedisConnection::RedisConnection(boost::asio::io_context& io, RedisEndpoint endpoint,
                                 std::string name)
    : io_(io),
      endpoint_(std::move(endpoint)),
      name_(std::move(name)),
      retry_timer_(io),
      ping_timer_(io) {}

RedisConnection::~RedisConnection() {
  stopped_ = true;
  if (redisAsyncContext* context = std::exchange(context_, nullptr)) redisAsyncFree(context);
}

void RedisConnection::Start(std::function<void()> on_up,
                            std::function<void(const std::string&)> on_down) {
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
  Connect();
  Ping();
}

void RedisConnection::Stop() {
  stopped_ = true;
  retry_timer_.cancel();
  ping_timer_.cancel();
  // Cleared first: hiredis calls the disconnect callback (which clears it)
  // only for a connected context, so one still connecting would be freed
  // again by the destructor.
  if (redisAsyncContext* context = std::exchange(context_, nullptr)) redisAsyncFree(context);
}

void RedisConnection::Connect() {
  if (stopped_) return;
  unanswered_pings_ = 0;
  context_ = redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port);
  if (context_ == nullptr || context_->err) {
    std::string why = context_ ? context_->errstr : "out of memory";
    if (context_ != nullptr) redisAsyncFree(context_);
    context_ = nullptr;
    return Lost(why);
  }
  context_->data = this;
  context_->ev.data = this;
  context_->ev.addRead = AddRead;
  context_->ev.delRead = DelRead;
  context_->ev.addWrite = AddWrite;
  context_->ev.delWrite = DelWrite;
  context_->ev.cleanup = Cleanup;
  // hiredis owns the descriptor: it is released, never closed, by Asio.
  if (socket_) socket_->release();
  socket_.emplace(io_, context_->c.fd);
  redisAsyncSetConnectCallback(context_, OnConnect);
  redisAsyncSetDisconnectCallback(context_, OnDisconnect);
  // The non-blocking connect completes when the socket turns writable.
  AddWrite(this);
}

void RedisConnection::Lost(const std::string& why) {
  if (connected_) {
    connected_ = false;
    Log(LogLevel::kWarning, "redis ", name_, " connection lost: ", why);
    if (on_down_) on_down_(why);
  } else if (backoff_ >= kMaxBackoff) {
    Log(LogLevel::kDebug, "redis ", name_, " still unreachable: ", why);
  } else {
    Log(LogLevel::kWarning, "redis ", name_, " unreachable: ", why);
  }
  ScheduleReconnect();
}

void RedisConnection::ScheduleReconnect() {
  if (stopped_) return;
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(kMaxBackoff, backoff_ * 2);
  retry_timer_.async_wait([weak = weak_from_this()](boost::system::error_code error) {
    auto self = weak.lock();
    if (error || !self || self->context_ != nullptr) return;
    self->Connect();
  });
}

// Connecting, and answering PINGs, must not take forever: a half-open TCP
// connection would otherwise pass for a live one.
void RedisConnection::Ping() {
  if (stopped_) return;
  ping_timer_.expires_after(kPingInterval);
  ping_timer_.async_wait([weak = weak_from_this()](boost::system::error_code error) {
    auto self = weak.lock();
    if (error || !self) return;
    if (self->context_ != nullptr && ++self->unanswered_pings_ > kMaxUnanswered) {
      redisAsyncContext* context = self->context_;
      // Freeing calls OnDisconnect (when connected) or nothing; either way reconnect.
      bool was_connected = self->connected_;
      redisAsyncFree(context);
      self->context_ = nullptr;
      if (!was_connected) self->Lost("timed out");
    } else if (self->connected_ && !self->on_message_) {
      self->Command({"PING"}, [weak = self->weak_from_this()](redisReply* reply) {
        auto self = weak.lock();
        if (self && reply != nullptr) self->unanswered_pings_ = 0;
      });
    } else if (self->connected_) {
      // A subscribed connection sees traffic only when there are messages;
      // its liveness shows through the publishing connection's PINGs.
      self->unanswered_pings_ = 0;
    }
    self->Ping();
  });
}

bool RedisConnection::Command(const std::vector<std::string>& args, ReplyHandler on_reply) {
  if (!connected_ || context_ == nullptr) return false;
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* handler = new ReplyHandler(std::move(on_reply));
  if (redisAsyncCommandArgv(context_, OnReply, handler, static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    delete handler;
    return false;
  }
  return true;
}

bool RedisConnection::Subscribe(
    const std::vector<std::string>& channels,
    std::function<void(const std::string&, const std::string&)> on_message) {
  if (!connected_ || context_ == nullptr) return false;
  on_message_ = std::move(on_message);
  std::vector<const char*> argv{"SUBSCRIBE"};
  std::vector<size_t> lengths{9};
  for (const std::string& channel : channels) {
    argv.push_back(channel.data());
    lengths.push_back(channel.size());
  }
  return redisAsyncCommandArgv(context_, OnSubscriptionReply, this, static_cast<int>(argv.size()),
                               argv.data(), lengths.data()) == REDIS_OK;
}

void RedisConnection::OnConnect(const redisAsyncContext* context, int status) {
  RedisConnection* self = Self(context);
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    self->context_ = nullptr;
    return self->Lost(context->errstr);
  }
  self->connected_ = true;
  self->backoff_ = std::chrono::milliseconds(100);
  Log(LogLevel::kInfo, "redis ", self->name_, " connected to ", self->endpoint_.host, ":",
      self->endpoint_.port);
  if (!self->endpoint_.password.empty()) {
    self->Command({"AUTH", self->endpoint_.password}, [name = self->name_](redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        Log(LogLevel::kError, "redis ", name, " refused the password: ", reply->str);
      }
    });
  }
  if (self->on_up_) self->on_up_();
}

void RedisConnection::OnDisconnect(const redisAsyncContext* context, int status) {
  RedisConnection* self = Self(context);
  self->context_ = nullptr;
  self->on_message_ = nullptr;
  self->Lost(status == REDIS_OK ? "closed" : context->errstr);
}

void RedisConnection::AddRead(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_read_ = true;
  self->WaitReadable();
}

void RedisConnection::DelRead(void* data) {
  static_cast<RedisConnection*>(data)->want_read_ = false;
}

void RedisConnection::AddWrite(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_write_ = true;
  self->WaitWritable();
}

void RedisConnection::DelWrite(void* data) {
  static_cast<RedisConnection*>(data)->want_write_ = false;
}

void RedisConnection::Cleanup(void* data) {
  auto* self = static_cast<RedisConnection*>(data);
  self->want_read_ = self->want_write_ = false;
  // hiredis closes the descriptor itself.
  if (self->socket_) self->socket_->release();
  self->socket_.reset();
}

void RedisConnection::WaitReadable() {
  if (!want_read_ || read_waiting_ || !socket_) return;
  read_waiting_ = true;
  socket_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](boost::system::error_code error) {
                        self->read_waiting_ = false;
                        if (error || self->context_ == nullptr) return;
                        if (self->want_read_) redisAsyncHandleRead(self->context_);
                        self->WaitReadable();
                      });
}

void RedisConnection::WaitWritable() {
  if (!want_write_ || write_waiting_ || !socket_) return;
  write_waiting_ = true;
  socket_->async_wait(boost::asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this()](boost::system::error_code error) {
                        self->write_waiting_ = false;
                        if (error || self->context_ == nullptr) return;
                        if (self->want_write_) redisAsyncHandleWrite(self->context_);
                        self->WaitWritable();
                      });
}

void RedisConnection::OnReply(redisAsyncContext*, void* reply, void* handler) {
  std::unique_ptr<ReplyHandler> owned(static_cast<ReplyHandler*>(handler));
  (*owned)(static_cast<redisReply*>(reply));
}

void RedisConnection::OnSubscriptionReply(redisAsyncContext*, void* data, void* self_data) {
  auto* reply = static_cast<redisReply*>(data);
  auto* self = static_cast<RedisConnection*>(self_data);
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
  const redisReply* kind = reply->element[0];
  if (kind->type != REDIS_REPLY_STRING || std::string_view(kind->str, kind->len) != "message") {
    return;
  }
  if (!self->on_message_) return;
  self->on_message_(std::string(reply->element[1]->str, reply->element[1]->len),
                    std::string(reply->element[2]->str, reply->element[2]->len));
}

}  // namespace sidecar::cluster
