#include "sidecar/http/websocket_codec.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "sidecar/runtime/utf8.h"

namespace sidecar::http::websocket {
namespace {

// RFC 6455 section 1.3.
constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool IsControl(uint8_t opcode) { return (opcode & 0x8) != 0; }

// Header length from its second byte: the extended length and the mask key.
size_t HeaderSize(unsigned char second) {
  size_t size = 2;
  if ((second & 0x7F) == 126) size += 2;
  if ((second & 0x7F) == 127) size += 8;
  if ((second & 0x80) != 0) size += 4;
  return size;
}

// XORs `size` bytes with the mask key, starting `phase` bytes into it; eight
// bytes at a time, as this runs over every byte a client sends.
void Unmask(char* data, size_t size, const unsigned char mask[4], uint8_t phase) {
  unsigned char key[8];
  for (size_t i = 0; i < 8; ++i) key[i] = mask[(phase + i) % 4];
  uint64_t key_word;
  std::memcpy(&key_word, key, 8);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= key_word;
    std::memcpy(data + i, &word, 8);
  }
  for (; i < size; ++i) data[i] = static_cast<char>(data[i] ^ key[i % 4]);
}

}  // namespace

std::string AcceptKey(std::string_view client_key) {
  std::string input = std::string(client_key) + std::string(kAcceptGuid);
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return absl::Base64Escape(std::string(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

bool IsValidCloseCode(uint16_t code) {
  if (code < 1000) return false;
  // 1004 is reserved; 1005, 1006 and 1015 must never be sent; 1014 and 1016-2999
  // are reserved for future use.
  if (code == 1004 || code == 1005 || code == 1006) return false;
  if (code >= 1014 && code <= 2999) return false;
  return true;
}

size_t EncodeFrameHeader(Opcode opcode, uint64_t payload_size, char* out) {
  out[0] = static_cast<char>(0x80 | opcode);
  if (payload_size < 126) {
    out[1] = static_cast<char>(payload_size);
    return 2;
  }
  if (payload_size < 65536) {
    out[1] = 126;
    out[2] = static_cast<char>(payload_size >> 8);
    out[3] = static_cast<char>(payload_size);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<char>(payload_size >> (56 - 8 * i));
  return 10;
}

ReadEvent FrameReader::Fail(uint16_t code) {
  error_code_ = code;
  done_ = true;
  message_ = std::string();
  control_ = std::string();
  return ReadEvent::kError;
}

ReadEvent FrameReader::Next(std::string_view& input) {
  if (done_) {
    input.remove_prefix(input.size());
    return error_code_ != 0 ? ReadEvent::kError : ReadEvent::kClose;
  }
  for (;;) {
    if (!in_payload_) {
      for (;;) {
        size_t needed = header_size_ < 2 ? 2 : HeaderSize(header_[1]);
        if (header_size_ == needed) break;
        size_t take = std::min(needed - header_size_, input.size());
        if (take == 0) return ReadEvent::kNeedMore;
        std::memcpy(header_ + header_size_, input.data(), take);
        header_size_ = static_cast<uint8_t>(header_size_ + take);
        input.remove_prefix(take);
        // Refuse a bad frame from its first two bytes, without waiting for more.
        if (header_size_ == 2 && !StartFrame()) return ReadEvent::kError;
      }
      if (!StartFrame()) return ReadEvent::kError;
    }
    size_t take = static_cast<size_t>(std::min<uint64_t>(frame_left_, input.size()));
    if (take > 0) {
      std::string& target = IsControl(frame_opcode_) ? control_ : message_;
      size_t old_size = target.size();
      target.append(input.data(), take);
      Unmask(target.data() + old_size, take, mask_, mask_phase_);
      mask_phase_ = static_cast<uint8_t>((mask_phase_ + take) % 4);
      input.remove_prefix(take);
      frame_left_ -= take;
      if (!IsControl(frame_opcode_) && message_opcode_ == kText) {
        std::optional<size_t> valid =
            runtime::Utf8ValidPrefix(std::string_view(message_).substr(utf8_checked_));
        if (!valid) return Fail(kInvalidPayload);
        utf8_checked_ += *valid;
      }
    }
    if (frame_left_ > 0) return ReadEvent::kNeedMore;
    ReadEvent event = FinishFrame();
    if (event != ReadEvent::kNeedMore) return event;
  }
}

// Called with the first two header bytes (checks what they alone decide), and
// again with the whole header.
bool FrameReader::StartFrame() {
  const unsigned char first = header_[0];
  const unsigned char second = header_[1];
  const bool fin = (first & 0x80) != 0;
  const uint8_t opcode = first & 0x0F;
  const uint8_t length7 = second & 0x7F;
  if (header_size_ == 2) {
    bool known = opcode == kContinuation || opcode == kText || opcode == kBinary ||
                 opcode == kClose || opcode == kPing || opcode == kPong;
    // RSV bits: no extension is negotiated. Clients must mask.
    if ((first & 0x70) != 0 || !known || (second & 0x80) == 0) {
      Fail(kProtocolError);
      return false;
    }
    if (IsControl(opcode) ? (!fin || length7 > 125)
                          : (opcode == kContinuation) != (message_opcode_ != 0)) {
      Fail(kProtocolError);
      return false;
    }
    if (HeaderSize(second) > 2) return true;
  }
  uint64_t length = length7;
  if (length7 == 126) {
    length = (uint64_t{header_[2]} << 8) | header_[3];
    if (length < 126) {
      Fail(kProtocolError);
      return false;
    }
  } else if (length7 == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
    // A length with its high bit set (RFC 6455 forbids it) is over any message
    // limit, so it is refused below with 1009, as Beast refuses it.
    if (length < 65536) {
      Fail(kProtocolError);
      return false;
    }
  }
  std::memcpy(mask_, header_ + header_size_ - 4, 4);
  if (IsControl(opcode)) {
    control_.clear();
  } else {
    if (opcode != kContinuation) {
      message_.clear();
      utf8_checked_ = 0;
      message_opcode_ = opcode;
    }
    if (length > max_message_bytes_ - std::min(max_message_bytes_, message_.size())) {
      Fail(kMessageTooBig);
      return false;
    }
  }
  frame_opcode_ = opcode;
  frame_fin_ = fin;
  frame_left_ = length;
  mask_phase_ = 0;
  header_size_ = 0;
  in_payload_ = true;
  return true;
}

ReadEvent FrameReader::FinishFrame() {
  in_payload_ = false;
  switch (frame_opcode_) {
    case kPing:
      return ReadEvent::kPing;
    case kPong:
      control_ = std::string();
      return ReadEvent::kPong;
    case kClose: {
      if (control_.size() == 1) return Fail(kProtocolError);
      close_code_ = 1005;
      if (control_.size() >= 2) {
        close_code_ = static_cast<uint16_t>((static_cast<unsigned char>(control_[0]) << 8) |
                                            static_cast<unsigned char>(control_[1]));
        if (!IsValidCloseCode(close_code_) ||
            !runtime::IsValidUtf8(std::string_view(control_).substr(2))) {
          return Fail(kProtocolError);
        }
      }
      control_ = std::string();
      done_ = true;
      return ReadEvent::kClose;
    }
    default:
      if (!frame_fin_) return ReadEvent::kNeedMore;
      if (message_opcode_ == kText && utf8_checked_ != message_.size()) {
        return Fail(kInvalidPayload);
      }
      binary_ = message_opcode_ == kBinary;
      message_opcode_ = 0;
      utf8_checked_ = 0;
      return ReadEvent::kMessage;
  }
}

std::string FrameReader::TakeMessage() { return std::exchange(message_, std::string()); }

std::string FrameReader::TakeControlPayload() { return std::exchange(control_, std::string()); }

}  // namespace sidecar::http::websocket
