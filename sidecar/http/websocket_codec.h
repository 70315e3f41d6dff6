#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

// The server side of RFC 6455 framing as pure functions over bytes: the
// handshake's accept key, frame headers for sending, and an incremental reader
// of client frames. No sockets and no clocks, so it is unit-tested and fuzzed
// alone (tests/http/websocket_codec_test.cc, tests/fuzz/websocket_frame_fuzzer.cc).
namespace sidecar::http::websocket {

enum Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes the server sends (RFC 6455 section 7.4.1).
enum CloseCode : uint16_t {
  kNormalClosure = 1000,
  kProtocolError = 1002,
  kInvalidPayload = 1007,
  kMessageTooBig = 1009,
};

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
std::string AcceptKey(std::string_view client_key);

// Whether a peer may send `code` in a close frame: the codes RFC 6455 defines for
// use, the registered and private ranges (3000-4999), and undefined codes above
// 4999 as Beast and Autobahn's informational cases accept them.
bool IsValidCloseCode(uint16_t code);

// The largest unmasked server frame header.
inline constexpr size_t kMaxHeaderBytes = 10;

// Writes the header of one unfragmented, unmasked frame carrying `payload_size`
// bytes into `out`; returns its length (2, 4 or 10).
size_t EncodeFrameHeader(Opcode opcode, uint64_t payload_size, char* out);

// What FrameReader::Next found.
enum class ReadEvent {
  // The input is used up without completing anything; keep the state and call
  // again with the next bytes.
  kNeedMore,
  // A whole data message: TakeMessage(), message_binary().
  kMessage,
  // A ping: answer with a pong carrying TakeControlPayload().
  kPing,
  // A pong: nothing to do.
  kPong,
  // A valid close frame: echo close_code(). Nothing is read after it.
  kClose,
  // The client broke the protocol: close with error_code(). Nothing is read after it.
  kError,
};

// Reads client frames incrementally from whatever bytes arrived, keeping only a
// partial header, the current partial message and the current control frame
// between calls, each sized to what arrived: an idle connection's reader holds
// no buffer. Checks what RFC 6455 requires of a server: masked frames, no
// reserved bits (no extension is negotiated) or opcodes, control frames final
// and at most 125 bytes, minimal length encodings, continuation only of an open
// message, valid UTF-8 in text messages (checked as fragments arrive, so a
// message fails as soon as it goes wrong) and in close reasons, and messages of
// at most `max_message_bytes`.
class FrameReader {
 public:
  explicit FrameReader(size_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

  // Consumes bytes from the front of `input` up to and including the next
  // completed message, control frame or error, and says which it was.
  ReadEvent Next(std::string_view& input);

  // The message of the last kMessage; take it before calling Next again.
  std::string TakeMessage();
  bool message_binary() const { return binary_; }
  std::string TakeControlPayload();
  // The code of a kClose frame, 1005 (no status) when it carried none.
  uint16_t close_code() const { return close_code_; }
  // After kError: the close code to send (1002, 1007 or 1009).
  uint16_t error_code() const { return error_code_; }

 private:
  ReadEvent Fail(uint16_t code);
  // Validates the header in header_ and prepares for its payload.
  bool StartFrame();
  // The frame's payload is complete.
  ReadEvent FinishFrame();

  size_t max_message_bytes_;
  // The current message (unmasked), and how much of it is known valid UTF-8.
  std::string message_;
  size_t utf8_checked_ = 0;
  // The current control frame's payload (unmasked).
  std::string control_;
  uint64_t frame_left_ = 0;
  uint16_t close_code_ = 0;
  uint16_t error_code_ = 0;
  unsigned char header_[14] = {};
  uint8_t header_size_ = 0;
  unsigned char mask_[4] = {};
  uint8_t mask_phase_ = 0;
  uint8_t frame_opcode_ = 0;
  // kText or kBinary while a message is open, else 0.
  uint8_t message_opcode_ = 0;
  bool frame_fin_ = false;
  bool binary_ = false;
  bool in_payload_ = false;
  bool done_ = false;
};

}  // namespace sidecar::http::websocket
