#pragma once

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/container/devector.hpp>
#include <functional>
#include <memory>

#include "sidecar/engineio/session.h"

namespace sidecar::http {

// A WebSocket carrying one Engine.IO session (or probing an upgrade).
class WebSocketConnection : public engineio::WebSocketTransport,
                            public std::enable_shared_from_this<WebSocketConnection> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using OpenCallback = std::function<void(std::shared_ptr<WebSocketConnection>)>;

  // `protocol`: the Engine.IO revision, 3 or 4; v3 binary frames carry a type byte.
  WebSocketConnection(boost::beast::tcp_stream stream, size_t max_message_bytes, int protocol);

  // Completes the handshake, adding `set_cookie` to the 101 when not empty,
  // then calls `on_open` on this connection's thread.
  void Accept(Request request, std::string set_cookie, OpenCallback on_open);
  // Delivers frames to the session from now on.
  void Bind(std::weak_ptr<engineio::Session> session);

  void Send(engineio::Frame frame) override;
  size_t QueuedFrames() const override { return queue_.size(); }
  size_t QueuedBytes() const override { return queued_bytes_; }
  void Close() override;

 private:
  void Read();
  void OnRead(boost::beast::error_code error, size_t bytes);
  void Write();
  void OnWrite(boost::beast::error_code error, size_t bytes);
  void Shutdown();
  void CloseSocket();

  // Idle connections dominate memory, so each holds as little as it can: the
  // WebSocket runs on the bare socket (a tcp_stream adds a timer and a heap
  // block; the WebSocket's own timer bounds the handshakes), without deflate
  // support, reads into a buffer that is only as large as a message needs, and
  // queues in a devector, which allocates nothing while empty (a deque does).
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket, /*deflateSupported=*/false>
      websocket_;
  boost::beast::flat_buffer buffer_;
  std::weak_ptr<engineio::Session> session_;
  boost::container::devector<engineio::Frame> queue_;
  size_t queued_bytes_ = 0;
  int protocol_;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace sidecar::http
