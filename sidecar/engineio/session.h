#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "sidecar/engineio/packet.h"
#include "sidecar/runtime/metrics.h"
#include "sidecar/runtime/timer_wheel.h"

namespace sidecar::engineio {

// One outbound unit: a whole Engine.IO text packet ("42[...]"), or the raw bytes
// of a binary message. Shared and immutable, so a broadcast is encoded once and
// queued on every member.
struct Frame {
  std::shared_ptr<const std::string> data;
  bool binary = false;
};

// A WebSocket connection carrying a session (implemented by the http layer).
class WebSocketTransport {
 public:
  virtual ~WebSocketTransport() = default;
  virtual void Send(Frame frame) = 0;
  virtual size_t QueuedFrames() const = 0;
  virtual size_t QueuedBytes() const = 0;
  // Sends a close frame, then drops the connection.
  virtual void Close() = 0;
};

// What the layer above (Socket.IO, or the raw echo mode) sees of a session.
class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  // The session is open on its first transport and may send.
  virtual void OnOpen() {}
  // A message packet (text or binary) from the client.
  virtual void OnMessage(Packet packet) = 0;
  // The session ended; called once. Reasons follow Socket.IO's vocabulary.
  virtual void OnClose(std::string_view reason) = 0;
  // Work the client still waits for (e.g. acks a backend owes it): a graceful
  // drain closes the session only once there is none, or at its deadline.
  virtual bool HasPendingWork() const { return false; }
};

struct SessionConfig {
  // Engine.IO protocol revision: 4, or 3 (socket.io-client 1.x/2.x): client-sent
  // pings, `<length>:<packet>` polling payloads, type-prefixed binary frames.
  int protocol = 4;
  // v3 only: polling responses may be binary payloads (false when the client
  // asked for b64=1 or polls with JSONP).
  bool binary_payloads = true;
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  size_t max_payload = 1'000'000;
  bool allow_upgrades = true;
  bool monitor_clients = true;
  size_t max_outbound_queue = 1000;
  // Bytes queued for the client before it is a slow consumer; a frame is always queued when
  // nothing else is, whatever its size.
  size_t max_outbound_bytes = 16'000'000;
  // The owning shard's counters; null in tests.
  runtime::ShardMetrics* metrics = nullptr;
};

// An Engine.IO v4 session. Lives on one shard's io_context and is only touched
// from that thread. Long-polling is handled here (it has no connection of its
// own); a WebSocket is a WebSocketTransport. Its heartbeat is a timer of the
// shard's wheel, so pings leave and timeouts strike up to one wheel granularity
// (10 ms) late, never early.
class Session : public std::enable_shared_from_this<Session>, private runtime::TimerWheel::Timer {
 public:
  enum class Transport { kPolling, kWebSocket };
  // A polling response body: text, or a v3 binary payload.
  struct PollBody {
    std::string data;
    bool binary = false;
  };
  // Responds to a held long-polling GET with a 200 body.
  using PollResponder = std::function<void(PollBody body)>;
  // Called once when the session is gone, to remove it from its table.
  using ClosedCallback = std::function<void(const std::string& sid)>;

  Session(runtime::TimerWheel& timers, std::string sid, SessionConfig config,
          ClosedCallback on_closed);
  ~Session();

  const std::string& sid() const { return sid_; }
  Transport transport() const { return transport_; }
  int protocol() const { return config_.protocol; }
  bool closed() const { return state_ != State::kOpen; }
  void set_handler(std::unique_ptr<SessionHandler> handler) { handler_ = std::move(handler); }
  SessionHandler* handler() const { return handler_.get(); }

  // The open packet's text for this session over the given transport.
  std::string OpenPacket(Transport transport) const;
  // The body answering a polling handshake.
  PollBody HandshakeBody() const;
  // Starts a session opened over long-polling (the caller answered the handshake).
  void StartPolling();
  // Starts a session opened over WebSocket: sends the open packet on it.
  void StartWebSocket(std::shared_ptr<WebSocketTransport> transport);

  // Queues a frame for the client. Returns false (and drops the frame) when the
  // session is closed or, with `is_volatile`, when the client is behind.
  bool Send(Frame frame, bool is_volatile = false);
  // Frames sent between Cork() and Uncork() leave in one polling response, as a
  // Socket.IO packet with its binary attachments should.
  void Cork() { ++corked_; }
  void Uncork();
  // Server-side close: tells the client and ends the session.
  void Close(std::string_view reason);

  // Long-polling. Errors are the client's fault and end the session.
  absl::Status HandlePollGet(PollResponder responder);
  // `binary_body`: a v3 binary payload (Content-Type application/octet-stream).
  absl::Status HandlePollPost(std::string_view body, bool binary_body = false);

  // A WebSocket arrived for this session. Returns false when it may not upgrade
  // the session; the caller then closes it.
  bool AcceptUpgrade(std::shared_ptr<WebSocketTransport> probe);
  void OnWebSocketFrame(WebSocketTransport* from, std::string data, bool binary);
  void OnWebSocketClosed(WebSocketTransport* from);

 private:
  enum class State { kOpen, kClosed };

  void HandlePacket(Packet packet);
  void HandleProbeFrame(std::string_view data);
  void SchedulePing();
  // The heartbeat timer: v4 sends a ping or ends an unanswered one; v3 ends a
  // session whose client stopped pinging.
  void OnTimer() override;
  // v3: the client pings; the session ends when none came in time.
  void ExpectClientPing();
  PollBody Encode(const std::vector<Frame>& frames) const;
  void FlushPolling();
  void End(std::string_view reason, bool client_initiated);
  void Finish();

  std::string sid_;
  SessionConfig config_;
  ClosedCallback on_closed_;
  std::unique_ptr<SessionHandler> handler_;
  State state_ = State::kOpen;
  Transport transport_ = Transport::kPolling;

  runtime::TimerWheel& timers_;
  bool awaiting_pong_ = false;

  // Long-polling state.
  std::vector<Frame> queue_;
  size_t queued_bytes_ = 0;
  PollResponder pending_get_;
  int corked_ = 0;
  bool upgrading_ = false;

  std::shared_ptr<WebSocketTransport> websocket_;
  std::shared_ptr<WebSocketTransport> probe_;
};

}  // namespace sidecar::engineio
