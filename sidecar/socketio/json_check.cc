#include "sidecar/socketio/json_check.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "sidecar/runtime/utf8.h"

// Hand-written rather than nlohmann's SAX parser: that parser costs about 5k
// instructions for a 40-byte event array (virtual calls per token, a string
// built per string token, a state stack on the heap), and it runs twice per
// echo. This scanner only walks the bytes. tests/socketio/json_check_test.cc
// checks it against nlohmann on a corpus and on random and mutated input.
namespace sidecar::socketio {
namespace {

class Scanner {
 public:
  Scanner(std::string_view text, JsonShape shape)
      : p_(reinterpret_cast<const unsigned char*>(text.data())), end_(p_ + text.size()),
        shape_(shape) {}

  bool Run() {
    // nlohmann skips a UTF-8 byte order mark at the very start.
    if (p_ < end_ && *p_ == 0xEF) {
      if (end_ - p_ < 3 || p_[1] != 0xBB || p_[2] != 0xBF) return false;
      p_ += 3;
    }
    SkipWhitespace();
    for (;;) {
      // A value is expected at p_.
      if (p_ == end_) return false;
      const unsigned char c = *p_;
      if (depth_ == 0) {
        bool fits = shape_ == JsonShape::kAny ||
                    (shape_ == JsonShape::kObject && c == '{') ||
                    ((shape_ == JsonShape::kArray || shape_ == JsonShape::kEventArray) && c == '[');
        if (!fits) return false;
      } else if (depth_ == 1 && shape_ == JsonShape::kEventArray && !first_checked_) {
        first_checked_ = true;
        if (c != '"') return false;
      }
      bool want_value = false;
      switch (c) {
        case '{':
        case '[': {
          if (++depth_ > kMaxJsonDepth) return false;
          const bool object = c == '{';
          const uint64_t bit = uint64_t{1} << (depth_ - 1);
          objects_ = object ? (objects_ | bit) : (objects_ & ~bit);
          ++p_;
          SkipWhitespace();
          if (p_ < end_ && *p_ == (object ? '}' : ']')) {
            if (!CloseContainer()) return false;
            break;
          }
          if (object) {
            if (!Key()) return false;
          }
          want_value = true;
          break;
        }
        case '"':
          if (!String()) return false;
          break;
        case 't':
          if (!Literal("true", 4)) return false;
          break;
        case 'f':
          if (!Literal("false", 5)) return false;
          break;
        case 'n':
          if (!Literal("null", 4)) return false;
          break;
        default:
          if (c == '-' || (c >= '0' && c <= '9')) {
            if (!Number()) return false;
            break;
          }
          return false;
      }
      if (want_value) continue;
      // After a value: a separator, closers, or the end.
      for (;;) {
        SkipWhitespace();
        if (depth_ == 0) return p_ == end_;
        if (p_ == end_) return false;
        const bool object = (objects_ >> (depth_ - 1)) & 1;
        if (*p_ == ',') {
          ++p_;
          SkipWhitespace();
          if (object && !Key()) return false;
          break;
        }
        if (*p_ != (object ? '}' : ']')) return false;
        if (!CloseContainer()) return false;
      }
    }
  }

 private:
  void SkipWhitespace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  // p_ is at the closing bracket of the innermost container.
  bool CloseContainer() {
    if (depth_ == 1 && shape_ == JsonShape::kEventArray && !first_checked_) return false;
    ++p_;
    --depth_;
    return true;
  }

  // An object key and its colon; leaves p_ at the value.
  bool Key() {
    if (p_ == end_ || *p_ != '"' || !String()) return false;
    SkipWhitespace();
    if (p_ == end_ || *p_ != ':') return false;
    ++p_;
    SkipWhitespace();
    return true;
  }

  bool Literal(const char* word, size_t size) {
    if (static_cast<size_t>(end_ - p_) < size) return false;
    for (size_t i = 0; i < size; ++i) {
      if (p_[i] != static_cast<unsigned char>(word[i])) return false;
    }
    p_ += size;
    return true;
  }

  static int HexDigit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Four hex digits at p_ (after "\u"); -1 if they are not.
  int Hex4() {
    if (end_ - p_ < 4) return -1;
    int value = 0;
    for (int i = 0; i < 4; ++i) {
      int digit = HexDigit(p_[i]);
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    p_ += 4;
    return value;
  }

  // p_ is at the opening quote.
  bool String() {
    ++p_;
    for (;;) {
      // The common case: printable ASCII.
      while (p_ < end_ && *p_ >= 0x20 && *p_ < 0x80 && *p_ != '"' && *p_ != '\\') ++p_;
      if (p_ == end_) return false;
      const unsigned char c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (end_ - p_ < 2) return false;
        const unsigned char escaped = p_[1];
        p_ += 2;
        switch (escaped) {
          case '"':
          case '\\':
          case '/':
          case 'b':
          case 'f':
          case 'n':
          case 'r':
          case 't':
            continue;
          case 'u': {
            int unit = Hex4();
            if (unit < 0) return false;
            if (unit >= 0xDC00 && unit <= 0xDFFF) return false;
            if (unit >= 0xD800 && unit <= 0xDBFF) {
              if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
              p_ += 2;
              int low = Hex4();
              if (low < 0xDC00 || low > 0xDFFF) return false;
            }
            continue;
          }
          default:
            return false;
        }
      }
      // A multi-byte UTF-8 sequence (RFC 3629, as nlohmann checks it).
      int length = runtime::Utf8Sequence(
          std::string_view(reinterpret_cast<const char*>(p_), static_cast<size_t>(end_ - p_)));
      if (length <= 0) return false;
      p_ += length;
    }
  }

  static bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, finite as a double.
  bool Number() {
    const unsigned char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_) return false;
    size_t integer_digits = 0;
    if (*p_ == '0') {
      ++p_;
      integer_digits = 1;
    } else if (IsDigit(*p_)) {
      while (p_ < end_ && IsDigit(*p_)) {
        ++p_;
        ++integer_digits;
      }
    } else {
      return false;
    }
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    int64_t exponent = 0;
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      bool negative = false;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) negative = *p_++ == '-';
      if (p_ == end_ || !IsDigit(*p_)) return false;
      while (p_ < end_ && IsDigit(*p_)) {
        if (exponent < 1'000'000) exponent = exponent * 10 + (*p_ - '0');
        ++p_;
      }
      if (negative) exponent = -exponent;
    }
    // Below about 1e300 the value is certainly finite; above, let strtod (which
    // nlohmann uses) decide whether it overflows.
    if (static_cast<int64_t>(integer_digits) + exponent > 300) {
      std::string token(reinterpret_cast<const char*>(start), p_ - start);
      return std::isfinite(std::strtod(token.c_str(), nullptr));
    }
    return true;
  }

  const unsigned char* p_;
  const unsigned char* end_;
  JsonShape shape_;
  size_t depth_ = 0;
  // Bit d-1 set: the container at depth d is an object.
  uint64_t objects_ = 0;
  bool first_checked_ = false;
};

static_assert(kMaxJsonDepth <= 64, "the container kinds are kept in a 64-bit mask");

}  // namespace

bool CheckJson(std::string_view text, JsonShape shape) { return Scanner(text, shape).Run(); }

}  // namespace sidecar::socketio
