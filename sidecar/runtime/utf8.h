#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

// UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF), shared by the JSON scanner and the WebSocket reader.
namespace sidecar::runtime {

// What Utf8Sequence found at the start of its input.
inline constexpr int kUtf8Invalid = 0;
// The input ends inside a sequence that is valid so far.
inline constexpr int kUtf8Incomplete = -1;

// The length (1-4) of the UTF-8 sequence at the start of `text` (not empty) if it
// is valid, kUtf8Invalid if it is not, or kUtf8Incomplete if `text` ends in the
// middle of a sequence whose bytes so far are valid.
inline int Utf8Sequence(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char lead = p[0];
  if (lead < 0x80) return 1;
  int length;
  // The second byte's range depends on the lead byte: it excludes overlong
  // forms (E0, F0), surrogates (ED) and code points above U+10FFFF (F4).
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return kUtf8Invalid;
  }
  const size_t available = text.size() < static_cast<size_t>(length) ? text.size() : length;
  for (size_t i = 1; i < available; ++i) {
    if (p[i] < low || p[i] > high) return kUtf8Invalid;
    low = 0x80;
    high = 0xBF;
  }
  return available == static_cast<size_t>(length) ? length : kUtf8Incomplete;
}

// The length of the longest prefix of `text` made of whole valid sequences,
// provided the rest is the valid start of one sequence; nullopt if `text` holds
// invalid UTF-8. Whole input: valid iff the result equals text.size().
inline std::optional<size_t> Utf8ValidPrefix(std::string_view text) {
  size_t at = 0;
  while (at < text.size()) {
    // Eight ASCII bytes at a time: most text is ASCII.
    if (text.size() - at >= 8) {
      uint64_t word;
      std::memcpy(&word, text.data() + at, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        at += 8;
        continue;
      }
    }
    int length = Utf8Sequence(text.substr(at));
    if (length == kUtf8Invalid) return std::nullopt;
    if (length == kUtf8Incomplete) return at;
    at += static_cast<size_t>(length);
  }
  return at;
}

inline bool IsValidUtf8(std::string_view text) {
  std::optional<size_t> prefix = Utf8ValidPrefix(text);
  return prefix && *prefix == text.size();
}

}  // namespace sidecar::runtime
