#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace sidecar::metrics {

// What the operations endpoints report, supplied by main.
struct OpsHandlers {
  // Empty when ready; otherwise why not (e.g. "draining", "no backend for /chat").
  std::function<std::string()> not_ready_reason;
  // The Prometheus exposition text.
  std::function<std::string()> render_metrics;
};

// GET /healthz, /readyz and /metrics on a port of their own (kept off the
// Socket.IO port, which is usually public), served from a thread of their own
// so that a scrape never runs on an io thread.
class OpsServer {
 public:
  explicit OpsServer(OpsHandlers handlers);
  ~OpsServer();

  absl::Status Listen(const boost::asio::ip::tcp::endpoint& endpoint);
  void Start();
  void Stop();
  uint16_t port() const;

 private:
  void Accept();

  OpsHandlers handlers_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace sidecar::metrics
