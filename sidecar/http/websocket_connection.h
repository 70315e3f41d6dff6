#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/container/devector.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sidecar/engineio/session.h"
#include "sidecar/http/websocket_codec.h"

namespace sidecar::http {

// A WebSocket carrying one Engine.IO session (or probing an upgrade): RFC 6455
// framing on the bare non-blocking socket (websocket_codec.h).
//
// Written for the two costs that dominate a socket server, idle connections and
// fan-out. An idle connection holds no read buffer and no pending read: it waits
// for readability, then reads into a per-thread scratch buffer, keeping only a
// partial frame or message. A send writes at once, without an asynchronous
// operation, when nothing is queued; only what the kernel does not take is
// queued, and a writable socket then gets every queued frame in one gathered
// write, each header beside the payload a broadcast shares, never copied.
class WebSocketConnection : public engineio::WebSocketTransport,
                            public std::enable_shared_from_this<WebSocketConnection> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using OpenCallback = std::function<void(std::shared_ptr<WebSocketConnection>)>;

  // `protocol`: the Engine.IO revision, 3 or 4; v3 binary frames carry a type byte.
  WebSocketConnection(boost::beast::tcp_stream stream, size_t max_message_bytes, int protocol);

  // Answers the upgrade request with the 101, adding `set_cookie` when not
  // empty, then calls `on_open` on this connection's thread; a request without
  // a usable key or version gets 400 (426 for another version) and is closed.
  void Accept(Request request, std::string set_cookie, OpenCallback on_open);
  // Delivers messages to the session from now on.
  void Bind(std::weak_ptr<engineio::Session> session);

  void Send(engineio::Frame frame) override;
  size_t QueuedFrames() const override { return queue_.size(); }
  size_t QueuedBytes() const override { return queued_bytes_; }
  // Sends the queued frames, then a close frame, then ends the connection.
  void Close() override;

 private:
  // Bytes waiting for the socket: a frame header (and the v3 type byte), then
  // the payload, which a broadcast shares with its other receivers.
  struct Outbound {
    std::shared_ptr<const std::string> data;
    // Bytes of header and payload already written.
    size_t written = 0;
    std::array<char, websocket::kMaxHeaderBytes + 1> header{};
    uint8_t header_size = 0;
  };

  void Write(Outbound outbound);
  void WriteRaw(std::string bytes);
  void WriteControl(websocket::Opcode opcode, std::string payload);
  void WaitWritable();
  void OnWritable(boost::system::error_code error);
  void Flush();
  void WaitReadable();
  void OnReadable(boost::system::error_code error);
  void Deliver(std::string_view input);
  // Queues a close frame with `code`; once it is written, TearDown.
  void SendClose(uint16_t code);
  // Shuts our side down and reads until the client closes its own.
  void TearDown();
  void CloseSocket();
  // Tells the bound session, once, that the connection ended.
  void NotifyClosed();

  boost::asio::ip::tcp::socket socket_;
  websocket::FrameReader reader_;
  std::weak_ptr<engineio::Session> session_;
  // Empty unless the kernel refused bytes: a devector allocates nothing while empty.
  boost::container::devector<Outbound> queue_;
  size_t queued_bytes_ = 0;
  // Bounds the close handshake; only a closing connection has one.
  std::unique_ptr<boost::asio::steady_timer> close_timer_;
  uint8_t protocol_;
  // A readability wait is pending.
  bool reading_ = false;
  // The last bytes to send are queued (a close frame or an error response).
  bool closing_ = false;
  // They left and our side is shut down: reads only wait for the client's end.
  bool shut_down_ = false;
  bool closed_ = false;
  bool notified_ = false;
};

}  // namespace sidecar::http
