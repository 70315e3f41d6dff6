#include "sidecar/http/websocket_connection.h"

#include <boost/asio/post.hpp>
#include <boost/container/static_vector.hpp>
#include <chrono>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sidecar::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using websocket::Opcode;
using websocket::ReadEvent;

namespace {

// Reads go to one buffer per io thread (each shard runs on one), so a
// connection holds only what it has not finished parsing.
constexpr size_t kScratchBytes = 64 * 1024;
// Reads per readability before other connections get their turn.
constexpr int kReadsPerWake = 4;
// asio gathers at most 64 buffers per write; each frame takes two.
constexpr size_t kGatherBuffers = 64;
// How long a closing connection may take to flush and see the client's end, as
// Beast's suggested server timeout.
constexpr std::chrono::seconds kCloseTimeout{30};

std::span<char> Scratch() {
  thread_local std::unique_ptr<char[]> buffer;
  if (!buffer) buffer = std::make_unique_for_overwrite<char[]>(kScratchBytes);
  return {buffer.get(), kScratchBytes};
}

bool WouldBlock(const boost::system::error_code& error) {
  return error == asio::error::would_block || error == asio::error::try_again;
}

std::string ErrorResponse(std::string_view status, std::string_view body,
                          std::string_view extra_headers = "") {
  return absl::StrCat(
      "HTTP/1.1 ", std::string(status), "\r\nServer: socketio-sidecar\r\nConnection: close\r\n",
      std::string(extra_headers), "Content-Type: text/plain\r\nContent-Length: ", body.size(),
      "\r\n\r\n", std::string(body));
}

}  // namespace

WebSocketConnection::WebSocketConnection(beast::tcp_stream stream, size_t max_message_bytes,
                                         int protocol)
    : socket_(stream.release_socket()),
      reader_(max_message_bytes),
      protocol_(static_cast<uint8_t>(protocol)) {
  boost::system::error_code error;
  socket_.non_blocking(true, error);
  if (error) CloseSocket();
}

void WebSocketConnection::Accept(Request request, std::string set_cookie, OpenCallback on_open) {
  namespace http = beast::http;
  std::string_view key = request[http::field::sec_websocket_key];
  std::string_view version = request[http::field::sec_websocket_version];
  std::string refusal;
  // The checks Beast's accept makes beyond websocket::is_upgrade, which the
  // handler applied already.
  if (key.empty() || key.size() > 24) {
    refusal = ErrorResponse("400 Bad Request", "Missing or bad Sec-WebSocket-Key");
  } else if (version.empty()) {
    refusal = ErrorResponse("400 Bad Request", "Missing Sec-WebSocket-Version");
  } else if (version != "13") {
    refusal = ErrorResponse("426 Upgrade Required", "Unsupported Sec-WebSocket-Version",
                            "Sec-WebSocket-Version: 13\r\n");
  }
  if (!refusal.empty()) {
    closing_ = true;
    close_timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor(), kCloseTimeout);
    close_timer_->async_wait([self = shared_from_this()](boost::system::error_code error) {
      if (!error) self->CloseSocket();
    });
    WriteRaw(std::move(refusal));
    return;
  }
  std::string response =
      absl::StrCat("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: ", websocket::AcceptKey(key),
                   "\r\nServer: socketio-sidecar\r\n");
  if (!set_cookie.empty()) absl::StrAppend(&response, "Set-Cookie: ", set_cookie, "\r\n");
  response += "\r\n";
  WriteRaw(std::move(response));
  if (closed_) return;
  asio::post(socket_.get_executor(),
             [self = shared_from_this(), on_open = std::move(on_open)] { on_open(self); });
}

void WebSocketConnection::Bind(std::weak_ptr<engineio::Session> session) {
  session_ = std::move(session);
  if (closed_) {
    // A write failed before the session was bound; tell it from a fresh handler,
    // as a failed read would.
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->NotifyClosed(); });
    return;
  }
  WaitReadable();
}

void WebSocketConnection::Send(engineio::Frame frame) {
  if (closing_ || closed_) return;
  const bool prefixed = frame.binary && protocol_ == 3;
  Outbound outbound;
  outbound.header_size = static_cast<uint8_t>(
      websocket::EncodeFrameHeader(frame.binary ? websocket::kBinary : websocket::kText,
                                   frame.data->size() + prefixed, outbound.header.data()));
  // A v3 binary message starts with its packet type (4): written beside the
  // shared buffer, so a broadcast's attachment is never copied.
  if (prefixed) outbound.header[outbound.header_size++] = '\x04';
  outbound.data = std::move(frame.data);
  Write(std::move(outbound));
}

void WebSocketConnection::WriteRaw(std::string bytes) {
  Outbound outbound;
  outbound.data = std::make_shared<const std::string>(std::move(bytes));
  Write(std::move(outbound));
}

void WebSocketConnection::WriteControl(Opcode opcode, std::string payload) {
  Outbound outbound;
  outbound.header_size = static_cast<uint8_t>(
      websocket::EncodeFrameHeader(opcode, payload.size(), outbound.header.data()));
  outbound.data = std::make_shared<const std::string>(std::move(payload));
  Write(std::move(outbound));
}

// The fan-out path: with nothing queued, one non-blocking gathered write and
// no asynchronous operation. Only what the kernel refuses is queued.
void WebSocketConnection::Write(Outbound outbound) {
  if (closed_) return;
  if (queue_.empty()) {
    std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(outbound.header.data(), outbound.header_size), asio::buffer(*outbound.data)};
    boost::system::error_code error;
    size_t written = socket_.write_some(buffers, error);
    // Comparing error codes costs tens of instructions: only on the rare error.
    if (error) {
      if (!WouldBlock(error)) {
        // The pending read sees the closed socket and tells the session, from a
        // handler of its own rather than from inside this Send.
        CloseSocket();
        return;
      }
      written = 0;
    }
    if (written == outbound.header_size + outbound.data->size()) {
      if (closing_) TearDown();
      return;
    }
    outbound.written = written;
  }
  queued_bytes_ += outbound.data->size();
  queue_.push_back(std::move(outbound));
  if (queue_.size() == 1) WaitWritable();
}

void WebSocketConnection::WaitWritable() {
  socket_.async_wait(
      tcp::socket::wait_write,
      [self = shared_from_this()](boost::system::error_code error) { self->OnWritable(error); });
}

void WebSocketConnection::OnWritable(boost::system::error_code error) {
  if (closed_) return;
  if (error) return CloseSocket();
  Flush();
}

void WebSocketConnection::Flush() {
  while (!queue_.empty()) {
    boost::container::static_vector<asio::const_buffer, kGatherBuffers> buffers;
    for (const Outbound& outbound : queue_) {
      if (buffers.size() + 2 > kGatherBuffers) break;
      size_t skip = outbound.written;
      if (skip < outbound.header_size) {
        buffers.push_back(asio::buffer(outbound.header.data() + skip, outbound.header_size - skip));
        skip = 0;
      } else {
        skip -= outbound.header_size;
      }
      buffers.push_back(asio::buffer(*outbound.data) + skip);
    }
    boost::system::error_code error;
    size_t written = socket_.write_some(buffers, error);
    if (WouldBlock(error)) return WaitWritable();
    if (error) return CloseSocket();
    while (written > 0) {
      Outbound& front = queue_.front();
      size_t left = front.header_size + front.data->size() - front.written;
      if (written < left) {
        front.written += written;
        break;
      }
      written -= left;
      queued_bytes_ -= front.data->size();
      queue_.pop_front();
    }
  }
  // A backlog is rare: give its storage back rather than keep it per connection.
  queue_ = decltype(queue_)();
  if (closing_) TearDown();
}

void WebSocketConnection::WaitReadable() {
  if (reading_ || closed_) return;
  reading_ = true;
  socket_.async_wait(
      tcp::socket::wait_read,
      [self = shared_from_this()](boost::system::error_code error) { self->OnReadable(error); });
}

void WebSocketConnection::OnReadable(boost::system::error_code error) {
  reading_ = false;
  if (error || closed_) {
    CloseSocket();
    NotifyClosed();
    return;
  }
  std::span<char> scratch = Scratch();
  for (int reads = 0; reads < kReadsPerWake; ++reads) {
    size_t bytes = socket_.read_some(asio::buffer(scratch.data(), scratch.size()), error);
    if (WouldBlock(error)) break;
    if (error) {
      // The client's end (or a reset): after a close handshake, the expected one.
      CloseSocket();
      NotifyClosed();
      return;
    }
    // Once closing, what the client still sends is read only to see its end.
    if (!closing_) Deliver(std::string_view(scratch.data(), bytes));
    if (closed_) {
      NotifyClosed();
      return;
    }
    // A short read emptied the socket; the wait sees whatever arrives next.
    if (bytes < scratch.size()) break;
  }
  WaitReadable();
}

void WebSocketConnection::Deliver(std::string_view input) {
  while (!closing_ && !closed_) {
    switch (reader_.Next(input)) {
      case ReadEvent::kNeedMore:
        return;
      case ReadEvent::kMessage:
        if (auto session = session_.lock()) {
          bool binary = reader_.message_binary();
          session->OnWebSocketFrame(this, reader_.TakeMessage(), binary);
        }
        break;
      case ReadEvent::kPing:
        WriteControl(websocket::kPong, reader_.TakeControlPayload());
        break;
      case ReadEvent::kPong:
        break;
      case ReadEvent::kClose:
        // Echo the client's code; a close without one is answered as normal.
        SendClose(reader_.close_code() == 1005 ? uint16_t{websocket::kNormalClosure}
                                               : reader_.close_code());
        NotifyClosed();
        return;
      case ReadEvent::kError:
        SendClose(reader_.error_code());
        NotifyClosed();
        return;
    }
  }
}

void WebSocketConnection::Close() { SendClose(websocket::kNormalClosure); }

void WebSocketConnection::SendClose(uint16_t code) {
  if (closing_ || closed_) return;
  closing_ = true;
  close_timer_ = std::make_unique<asio::steady_timer>(socket_.get_executor(), kCloseTimeout);
  close_timer_->async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error) self->CloseSocket();
  });
  WriteControl(websocket::kClose,
               std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)});
}

void WebSocketConnection::TearDown() {
  if (shut_down_ || closed_) return;
  shut_down_ = true;
  // The server ends the TCP connection (RFC 6455 section 7.1.1), but reads until
  // the client's end: closing with unread data would reset the connection and
  // could destroy the close frame before the client reads it.
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  WaitReadable();
}

void WebSocketConnection::CloseSocket() {
  if (closed_) return;
  closed_ = true;
  closing_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  queue_ = decltype(queue_)();
  queued_bytes_ = 0;
  if (close_timer_) close_timer_->cancel();
}

void WebSocketConnection::NotifyClosed() {
  if (notified_) return;
  auto session = session_.lock();
  if (!session) return;
  notified_ = true;
  session->OnWebSocketClosed(this);
}

}  // namespace sidecar::http
