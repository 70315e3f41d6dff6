#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "absl/status/status.h"
#include "sidecar/http/http_connection.h"

namespace sidecar::http {

// Accepts TCP connections and spreads them over the shards round-robin; each
// connection then lives on its shard.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(const ServerContext& context, boost::asio::io_context& io);
  absl::Status Listen(const boost::asio::ip::tcp::endpoint& endpoint);
  void Start();
  void Stop();
  uint16_t port() const;

 private:
  void Accept();

  const ServerContext& context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint32_t next_shard_ = 0;
  bool warned_at_capacity_ = false;
};

}  // namespace sidecar::http
