#include "sidecar/engineio/session.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "sidecar/runtime/log.h"

namespace sidecar::engineio {
namespace {

using runtime::Log;
using runtime::LogLevel;

Frame TextFrame(std::string text) {
  return Frame{std::make_shared<const std::string>(std::move(text)), false};
}

const Frame& PingFrame() {
  static const Frame frame = TextFrame("2");
  return frame;
}

const Frame& NoopFrame() {
  static const Frame frame = TextFrame("6");
  return frame;
}

const Frame& CloseFrame() {
  static const Frame frame = TextFrame("1");
  return frame;
}

void AppendFrame(std::string& payload, const Frame& frame) {
  if (!payload.empty()) payload.push_back('\x1e');
  if (frame.binary) {
    payload.push_back('b');
    payload.append(absl::Base64Escape(*frame.data));
  } else {
    payload.append(*frame.data);
  }
}

}  // namespace

Session::Session(runtime::TimerWheel& timers, std::string sid, SessionConfig config,
                 ClosedCallback on_closed)
    : sid_(std::move(sid)), config_(config), on_closed_(std::move(on_closed)), timers_(timers) {
  if (config_.metrics != nullptr) {
    config_.metrics->sessions_opened.Add();
    config_.metrics->sessions_open.Add();
  }
}

Session::~Session() = default;

std::string Session::OpenPacket(Transport transport) const {
  bool can_upgrade = transport == Transport::kPolling && config_.allow_upgrades;
  std::string open =
      absl::StrCat("0{\"sid\":\"", sid_, "\",\"upgrades\":", can_upgrade ? "[\"websocket\"]" : "[]",
                   ",\"pingInterval\":", config_.ping_interval.count(),
                   ",\"pingTimeout\":", config_.ping_timeout.count());
  // v3 has no maxPayload: its clients do not split payloads.
  if (config_.protocol != 3) absl::StrAppend(&open, ",\"maxPayload\":", config_.max_payload);
  open.push_back('}');
  return open;
}

Session::PollBody Session::HandshakeBody() const {
  return Encode({TextFrame(OpenPacket(Transport::kPolling))});
}

Session::PollBody Session::Encode(const std::vector<Frame>& frames) const {
  PollBody body;
  size_t bytes = 0;
  for (const Frame& frame : frames) bytes += frame.data->size() + 8;
  body.data.reserve(bytes);
  if (config_.protocol != 3) {
    for (const Frame& frame : frames) AppendFrame(body.data, frame);
    return body;
  }
  body.binary = config_.binary_payloads &&
                std::any_of(frames.begin(), frames.end(), [](const Frame& f) { return f.binary; });
  for (const Frame& frame : frames) {
    if (body.binary) {
      AppendToBinaryPayloadV3(body.data, *frame.data, frame.binary);
    } else {
      AppendToPayloadV3(body.data, *frame.data, frame.binary);
    }
  }
  return body;
}

void Session::StartPolling() {
  transport_ = Transport::kPolling;
  SchedulePing();
  if (handler_) handler_->OnOpen();
}

void Session::ExpectClientPing() {
  if (!config_.monitor_clients) return;
  timers_.Schedule(*this, config_.ping_interval + config_.ping_timeout);
}

void Session::StartWebSocket(std::shared_ptr<WebSocketTransport> transport) {
  transport_ = Transport::kWebSocket;
  websocket_ = std::move(transport);
  websocket_->Send(TextFrame(OpenPacket(Transport::kWebSocket)));
  SchedulePing();
  if (handler_) handler_->OnOpen();
}

// The ping timer starts when the session opens, and the pong deadline when the
// ping is queued, even if no poll is waiting to carry it.
void Session::SchedulePing() {
  if (config_.protocol == 3) return ExpectClientPing();
  awaiting_pong_ = false;
  timers_.Schedule(*this, config_.ping_interval);
}

void Session::OnTimer() {
  if (state_ != State::kOpen) return;
  // End may drop the table's reference to this session.
  auto self = shared_from_this();
  if (config_.protocol == 3 || (awaiting_pong_ && config_.monitor_clients)) {
    End("ping timeout", /*client_initiated=*/false);
    return;
  }
  // Armed first: if Send ends the session (a slow consumer), End disarms it.
  awaiting_pong_ = true;
  timers_.Schedule(*this, config_.ping_timeout);
  Send(PingFrame());
}

bool Session::Send(Frame frame, bool is_volatile) {
  if (state_ != State::kOpen) return false;
  bool websocket = transport_ == Transport::kWebSocket;
  size_t backlog = websocket ? websocket_->QueuedFrames() : queue_.size();
  size_t backlog_bytes = websocket ? websocket_->QueuedBytes() : queued_bytes_;
  if (backlog >= config_.max_outbound_queue || backlog_bytes >= config_.max_outbound_bytes) {
    if (is_volatile) {
      if (config_.metrics != nullptr) config_.metrics->frames_dropped.Add();
      return false;
    }
    if (config_.metrics != nullptr) config_.metrics->slow_consumers.Add();
    Log(LogLevel::kWarning, "session ", sid_, ": slow consumer, ", backlog, " frames (",
        backlog_bytes, " bytes) queued; closing");
    End("transport error", /*client_initiated=*/false);
    return false;
  }
  if (config_.metrics != nullptr) config_.metrics->bytes_sent.Add(frame.data->size());
  if (transport_ == Transport::kWebSocket) {
    websocket_->Send(std::move(frame));
    return true;
  }
  queued_bytes_ += frame.data->size();
  queue_.push_back(std::move(frame));
  FlushPolling();
  return true;
}

void Session::Uncork() {
  if (corked_ > 0 && --corked_ == 0) FlushPolling();
}

void Session::FlushPolling() {
  if (!pending_get_ || queue_.empty() || upgrading_ || corked_ > 0) return;
  PollBody body = Encode(queue_);
  queue_.clear();
  queued_bytes_ = 0;
  std::exchange(pending_get_, nullptr)(std::move(body));
}

void Session::Close(std::string_view reason) { End(reason, /*client_initiated=*/false); }

absl::Status Session::HandlePollGet(PollResponder responder) {
  if (state_ != State::kOpen) return absl::NotFoundError("Session ID unknown");
  if (transport_ != Transport::kPolling) {
    return absl::InvalidArgumentError("session was upgraded to WebSocket");
  }
  if (pending_get_) {
    End("transport error", /*client_initiated=*/false);
    return absl::InvalidArgumentError("overlapping GET requests for one session");
  }
  if (upgrading_) {
    responder(Encode({NoopFrame()}));
    return absl::OkStatus();
  }
  pending_get_ = std::move(responder);
  FlushPolling();
  return absl::OkStatus();
}

absl::Status Session::HandlePollPost(std::string_view body, bool binary_body) {
  if (state_ != State::kOpen) return absl::NotFoundError("Session ID unknown");
  if (transport_ != Transport::kPolling) {
    return absl::InvalidArgumentError("session was upgraded to WebSocket");
  }
  if (config_.metrics != nullptr) config_.metrics->bytes_received.Add(body.size());
  absl::StatusOr<std::vector<Packet>> packets = config_.protocol != 3 ? DecodePayload(body)
                                                : binary_body         ? DecodeBinaryPayloadV3(body)
                                                                      : DecodePayloadV3(body);
  if (!packets.ok()) {
    End("parse error", /*client_initiated=*/false);
    return packets.status();
  }
  auto self = shared_from_this();
  for (Packet& packet : *packets) {
    if (state_ != State::kOpen) break;
    HandlePacket(std::move(packet));
  }
  return absl::OkStatus();
}

void Session::HandlePacket(Packet packet) {
  switch (packet.type) {
    case PacketType::kPong:
      if (awaiting_pong_) SchedulePing();
      break;
    case PacketType::kPing:
      Send(TextFrame(absl::StrCat("3", packet.data)));
      if (config_.protocol == 3) ExpectClientPing();
      break;
    case PacketType::kMessage:
      if (handler_) handler_->OnMessage(std::move(packet));
      break;
    case PacketType::kClose:
      End("transport close", /*client_initiated=*/true);
      break;
    case PacketType::kNoop:
      break;
    case PacketType::kOpen:
    case PacketType::kUpgrade:
      Log(LogLevel::kDebug, "session ", sid_, ": unexpected packet type; closing");
      End("parse error", /*client_initiated=*/false);
      break;
  }
}

bool Session::AcceptUpgrade(std::shared_ptr<WebSocketTransport> probe) {
  if (state_ != State::kOpen || transport_ != Transport::kPolling || probe_ ||
      !config_.allow_upgrades) {
    return false;
  }
  probe_ = std::move(probe);
  return true;
}

void Session::HandleProbeFrame(std::string_view data) {
  if (data == "2probe" && !upgrading_) {
    probe_->Send(TextFrame("3probe"));
    upgrading_ = true;
    // The client pauses polling during the upgrade: release its held GET.
    if (pending_get_) std::exchange(pending_get_, nullptr)(Encode({NoopFrame()}));
    return;
  }
  if (data == "5" && upgrading_) {
    upgrading_ = false;
    transport_ = Transport::kWebSocket;
    websocket_ = std::exchange(probe_, nullptr);
    if (pending_get_) std::exchange(pending_get_, nullptr)(Encode({NoopFrame()}));
    for (Frame& frame : queue_) websocket_->Send(std::move(frame));
    queue_.clear();
    queued_bytes_ = 0;
    return;
  }
  Log(LogLevel::kDebug, "session ", sid_, ": invalid upgrade packet; dropping the probe");
  std::exchange(probe_, nullptr)->Close();
  upgrading_ = false;
  FlushPolling();
}

void Session::OnWebSocketFrame(WebSocketTransport* from, std::string data, bool binary) {
  if (state_ != State::kOpen) return;
  if (probe_ && from == probe_.get()) {
    HandleProbeFrame(binary ? std::string_view() : std::string_view(data));
    return;
  }
  if (!websocket_ || from != websocket_.get()) return;
  if (config_.metrics != nullptr) config_.metrics->bytes_received.Add(data.size());
  if (binary) {
    // v3 binary frames start with the packet type byte.
    if (config_.protocol == 3) {
      if (data.empty() || data[0] != '\x04') {
        End("parse error", /*client_initiated=*/false);
        return;
      }
      data.erase(0, 1);
    }
    HandlePacket(Packet{PacketType::kMessage, std::move(data), true});
    return;
  }
  absl::StatusOr<Packet> packet = DecodePacket(data);
  if (!packet.ok()) {
    Log(LogLevel::kDebug, "session ", sid_, ": ", packet.status().message(), "; closing");
    End("parse error", /*client_initiated=*/false);
    return;
  }
  HandlePacket(*std::move(packet));
}

void Session::OnWebSocketClosed(WebSocketTransport* from) {
  if (probe_ && from == probe_.get()) {
    probe_.reset();
    upgrading_ = false;
    FlushPolling();
    return;
  }
  if (websocket_ && from == websocket_.get()) End("transport close", /*client_initiated=*/true);
}

void Session::End(std::string_view reason, bool client_initiated) {
  if (state_ != State::kOpen) return;
  auto self = shared_from_this();
  Log(LogLevel::kDebug, "session ", sid_, " closed: ", reason);
  Cancel();
  state_ = State::kClosed;
  if (probe_) std::exchange(probe_, nullptr)->Close();
  if (transport_ == Transport::kWebSocket) {
    websocket_->Close();
  } else if (pending_get_) {
    if (!client_initiated) {
      queue_.push_back(CloseFrame());
    } else {
      queue_ = {NoopFrame()};
    }
    PollBody body = Encode(queue_);
    queue_.clear();
    std::exchange(pending_get_, nullptr)(std::move(body));
  }
  // Without a held poll the client learns of the close from its next request,
  // which gets 400 for the unknown sid, as from the reference server.
  if (handler_) handler_->OnClose(reason);
  Finish();
}

void Session::Finish() {
  auto self = shared_from_this();
  if (config_.metrics != nullptr && on_closed_) config_.metrics->sessions_open.Sub();
  state_ = State::kClosed;
  Cancel();
  queue_.clear();
  if (on_closed_) std::exchange(on_closed_, nullptr)(sid_);
}

}  // namespace sidecar::engineio
