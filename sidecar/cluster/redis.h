#pragma once

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sidecar::cluster {

// Where Redis is: parsed from redis://[:password@]host[:port][/db].
struct RedisEndpoint {
  std::string host;
  int port = 6379;
  std::string password;
};
absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url);

// One hiredis asynchronous connection driven by an Asio io_context (hiredis
// ships adapters for libevent and libuv, not Asio). It connects in the
// background and reconnects with backoff after every loss. Only used from
// its io_context's thread.
class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  // Gets the reply, or null when the connection was lost first.
  using ReplyHandler = std::function<void(redisReply*)>;

  RedisConnection(boost::asio::io_context& io, RedisEndpoint endpoint, std::string name);
  ~RedisConnection();

  // `on_up` runs after each successful (re)connection, `on_down` after each loss.
  void Start(std::function<void()> on_up, std::function<void(const std::string&)> on_down);
  void Stop();
  bool connected() const { return connected_; }

  // Sends a command; false (and no callback) when not connected.
  bool Command(const std::vector<std::string>& args, ReplyHandler on_reply);
  // Subscribes to channels; `on_message(channel, payload)` runs for every
  // message until the connection is lost (re-subscribe in `on_up`).
  bool Subscribe(const std::vector<std::string>& channels,
                 std::function<void(const std::string&, const std::string&)> on_message);

 private:
  void Connect();
  void Lost(const std::string& why);
  void ScheduleReconnect();
  void Ping();
  void WaitReadable();
  void WaitWritable();

  static void OnConnect(const redisAsyncContext* context, int status);
  static void OnDisconnect(const redisAsyncContext* context, int status);
  static void AddRead(void* self);
  static void DelRead(void* self);
  static void AddWrite(void* self);
  static void DelWrite(void* self);
  static void Cleanup(void* self);
  static void OnReply(redisAsyncContext* context, void* reply, void* handler);
  static void OnSubscriptionReply(redisAsyncContext* context, void* reply, void* self);

  boost::asio::io_context& io_;
  RedisEndpoint endpoint_;
  std::string name_;
  redisAsyncContext* context_ = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  bool want_read_ = false;
  bool want_write_ = false;
  bool read_waiting_ = false;
  bool write_waiting_ = false;
  bool connected_ = false;
  bool stopped_ = false;
  std::chrono::milliseconds backoff_{100};
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer ping_timer_;
  // Counts PINGs sent without a PONG; a connection that stops answering is dropped.
  int unanswered_pings_ = 0;
  std::function<void()> on_up_;
  std::function<void(const std::string&)> on_down_;
  std::function<void(const std::string&, const std::string&)> on_message_;
};

}  // namespace sidecar::cluster
