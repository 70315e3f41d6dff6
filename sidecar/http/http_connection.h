#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/config/options.h"
#include "sidecar/engineio/session.h"
#include "sidecar/runtime/nodes.h"
#include "sidecar/runtime/shards.h"
#include "socketio/sidecar/v1/sidecar.pb.h"

namespace sidecar::http {

namespace pb = ::socketio::sidecar::v1;
using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// An Engine.IO endpoint: a path and what runs on top of its sessions.
struct Endpoint {
  std::string path;  // with leading and trailing '/'
  std::function<std::unique_ptr<engineio::SessionHandler>(
      runtime::Shard&, std::shared_ptr<engineio::Session>, std::shared_ptr<const pb::Handshake>)>
      new_handler;
  // Test only: how long a session opened over WebSocket waits after the 101 before
  // sending its open packet (see the raw Engine.IO endpoint in main.cc).
  std::chrono::milliseconds websocket_open_delay{0};
};

// What every connection needs to know; immutable once serving starts.
struct ServerContext {
  const config::Options& options;
  runtime::Shards& shards;
  std::vector<Endpoint> endpoints;
  // Cluster mode: where the other replicas are, for requests they own.
  const runtime::NodeDirectory* nodes = nullptr;
};

// One HTTP/1.1 connection on one shard: reads requests, routes them, writes
// responses; hands itself over to a WebSocket on upgrade.
class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(boost::asio::ip::tcp::socket socket, runtime::Shard& shard,
                 const ServerContext& context);
  void Start();

  // Writes a response; safe to call from any shard (it hops to this one).
  void Respond(Response response);

  runtime::Shard& shard() { return shard_; }
  const std::string& remote_address() const { return remote_address_; }
  // Moves the TCP connection, with the upgrade request read from it, to the
  // `target` shard and hands it to `on_moved` there.
  void Upgrade(runtime::Shard& target, Request request,
               std::function<void(runtime::Shard&, boost::beast::tcp_stream, Request)> on_moved);

 private:
  void Read();
  void OnRead(boost::beast::error_code error, size_t bytes);
  void Route(Request request);
  void ServeStatic(const Request& request);
  void Write(Response response);

  boost::beast::tcp_stream stream_;
  runtime::Shard& shard_;
  const ServerContext& context_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::string remote_address_;
};

// Builds a JSON error response like the Node server's:
// {"code":<engine.io error code>,"message":"..."}.
Response ErrorResponse(const Request& request, boost::beast::http::status status, int code,
                       std::string_view message);

}  // namespace sidecar::http
