#include "sidecar/http/websocket_connection.h"

#include <array>

#include "sidecar/runtime/log.h"

namespace sidecar::http {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

WebSocketConnection::WebSocketConnection(beast::tcp_stream stream, size_t max_message_bytes,
                                         int protocol)
    : websocket_(stream.release_socket()), protocol_(protocol) {
  websocket_.read_message_max(max_message_bytes);
  // Engine.IO has its own heartbeat; this only bounds the close handshake.
  websocket::stream_base::timeout timeouts =
      websocket::stream_base::timeout::suggested(beast::role_type::server);
  timeouts.idle_timeout = websocket::stream_base::none();
  websocket_.set_option(timeouts);
  websocket_.auto_fragment(false);
}

void WebSocketConnection::Accept(Request request, std::string set_cookie, OpenCallback on_open) {
  websocket_.set_option(websocket::stream_base::decorator(
      [set_cookie = std::move(set_cookie)](websocket::response_type& response) {
        response.set(beast::http::field::server, "socketio-sidecar");
        if (!set_cookie.empty()) response.set(beast::http::field::set_cookie, set_cookie);
      }));
  auto request_holder = std::make_shared<Request>(std::move(request));
  websocket_.async_accept(*request_holder, [self = shared_from_this(), request_holder,
                                            on_open = std::move(on_open)](beast::error_code error) {
    if (error) return;
    on_open(self);
  });
}

void WebSocketConnection::Bind(std::weak_ptr<engineio::Session> session) {
  session_ = std::move(session);
  Read();
}

// Beast sizes the buffer before anything arrives: a whole TCP frame (1536
// bytes) for async_read, on every idle connection. Between messages this reads
// at most kFirstReadBytes, enough for most Socket.IO packets; the rest of a
// larger message is read in TCP-frame steps.
constexpr size_t kFirstReadBytes = 128;
// A buffer that grew beyond this for a large message is released after it.
constexpr size_t kKeptBufferBytes = 1024;

void WebSocketConnection::Read() {
  websocket_.async_read_some(
      buffer_, buffer_.size() == 0 ? kFirstReadBytes : 0,
      beast::bind_front_handler(&WebSocketConnection::OnRead, shared_from_this()));
}

void WebSocketConnection::OnRead(beast::error_code error, size_t) {
  auto session = session_.lock();
  if (error) {
    closed_ = true;
    if (session) session->OnWebSocketClosed(this);
    return;
  }
  if (!websocket_.is_message_done()) return Read();
  std::string data = beast::buffers_to_string(buffer_.data());
  buffer_.consume(buffer_.size());
  if (buffer_.capacity() > kKeptBufferBytes) buffer_.shrink_to_fit();
  if (session) session->OnWebSocketFrame(this, std::move(data), websocket_.got_binary());
  if (!closed_) Read();
}

void WebSocketConnection::Send(engineio::Frame frame) {
  if (closing_ || closed_) return;
  queued_bytes_ += frame.data->size();
  queue_.push_back(std::move(frame));
  if (!writing_) Write();
}

void WebSocketConnection::Write() {
  writing_ = true;
  const engineio::Frame& frame = queue_.front();
  websocket_.binary(frame.binary);
  // A v3 binary message starts with its packet type (4): written from a constant
  // beside the shared buffer, so a broadcast's attachment is never copied.
  static constexpr char kMessageType = '\x04';
  bool prefixed = frame.binary && protocol_ == 3;
  std::array<boost::asio::const_buffer, 2> buffers = {
      boost::asio::buffer(&kMessageType, prefixed ? 1 : 0), boost::asio::buffer(*frame.data)};
  websocket_.async_write(
      buffers, beast::bind_front_handler(&WebSocketConnection::OnWrite, shared_from_this()));
}

void WebSocketConnection::OnWrite(beast::error_code error, size_t) {
  writing_ = false;
  queued_bytes_ -= queue_.front().data->size();
  queue_.pop_front();
  if (error) {
    queue_.clear();
    queued_bytes_ = 0;
    closed_ = true;
    CloseSocket();
    return;
  }
  if (!queue_.empty()) return Write();
  if (closing_) Shutdown();
}

void WebSocketConnection::Close() {
  if (closing_ || closed_) return;
  closing_ = true;
  if (!writing_) Shutdown();
}

void WebSocketConnection::Shutdown() {
  closed_ = true;
  websocket_.async_close(websocket::close_code::normal,
                         [self = shared_from_this()](beast::error_code) { self->CloseSocket(); });
}

void WebSocketConnection::CloseSocket() {
  beast::error_code ignored;
  beast::get_lowest_layer(websocket_).close(ignored);
}

}  // namespace sidecar::http
