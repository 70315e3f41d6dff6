// Client WebSocket frames through the sidecar's frame reader. Nothing may crash, and the reader
// must make the same events of the bytes whatever pieces they arrive in; every text message is
// valid UTF-8, every message within the limit, every control payload at most 125 bytes, and
// nothing is read after a close frame or an error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sidecar/http/websocket_codec.h"
#include "sidecar/runtime/utf8.h"

namespace {

using sidecar::http::websocket::FrameReader;
using sidecar::http::websocket::ReadEvent;

constexpr size_t kMaxMessage = 4096;

struct Event {
  ReadEvent kind;
  std::string payload;
  bool binary = false;
  uint16_t code = 0;

  bool operator==(const Event&) const = default;
};

// Feeds `input` in pieces of `piece` bytes (all at once for 0).
std::vector<Event> ReadInPieces(std::string_view input, size_t piece) {
  FrameReader reader(kMaxMessage);
  std::vector<Event> events;
  if (piece == 0) piece = input.size() + 1;
  for (size_t at = 0; at < input.size(); at += piece) {
    std::string_view rest = input.substr(at, piece);
    for (;;) {
      ReadEvent kind = reader.Next(rest);
      if (kind == ReadEvent::kNeedMore) {
        // kNeedMore means every byte was used.
        if (!rest.empty()) std::abort();
        break;
      }
      Event event{.kind = kind, .payload = {}};
      switch (kind) {
        case ReadEvent::kMessage:
          event.binary = reader.message_binary();
          event.payload = reader.TakeMessage();
          if (event.payload.size() > kMaxMessage) std::abort();
          if (!event.binary && !sidecar::runtime::IsValidUtf8(event.payload)) std::abort();
          break;
        case ReadEvent::kPing:
          event.payload = reader.TakeControlPayload();
          if (event.payload.size() > 125) std::abort();
          break;
        case ReadEvent::kClose:
          event.code = reader.close_code();
          break;
        case ReadEvent::kError:
          event.code = reader.error_code();
          if (event.code != 1002 && event.code != 1007 && event.code != 1009) std::abort();
          break;
        default:
          break;
      }
      events.push_back(std::move(event));
      if (kind == ReadEvent::kClose || kind == ReadEvent::kError) {
        // Finished: whatever follows is consumed and answered the same way.
        std::string_view more = input.substr(at);
        if (reader.Next(more) != kind || !more.empty()) std::abort();
        return events;
      }
    }
  }
  return events;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks how the rest is cut up.
  size_t piece = data[0] % 17 + 1;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<Event> whole = ReadInPieces(input, 0);
  if (ReadInPieces(input, piece) != whole) std::abort();
  return 0;
}
