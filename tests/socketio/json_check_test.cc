// CheckJson against nlohmann::json's strict SAX parser (the validator it replaced) on a corpus
// of valid and invalid JSON, on every prefix and single-byte mutation of the corpus, and on
// random token soup: both must agree on every input and every shape (but for NUL bytes, below).
#include "sidecar/socketio/json_check.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace sidecar::socketio {
namespace {

using Json = nlohmann::json;

// The reference: what packet.cc did before CheckJson, verbatim in behaviour.
class Reference : public nlohmann::json_sax<Json> {
 public:
  explicit Reference(JsonShape shape) : shape_(shape) {}

  bool null() override { return Value(false); }
  bool boolean(bool) override { return Value(false); }
  bool number_integer(number_integer_t) override { return Value(false); }
  bool number_unsigned(number_unsigned_t) override { return Value(false); }
  bool number_float(number_float_t, const string_t&) override { return Value(false); }
  bool string(string_t&) override { return Value(true); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return Open(JsonShape::kObject); }
  bool key(string_t&) override { return true; }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open(JsonShape::kArray); }
  bool end_array() override { return Close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  bool Complete() const {
    return seen_root_ && depth_ == 0 && (shape_ != JsonShape::kEventArray || first_checked_);
  }

 private:
  bool Value(bool is_string) {
    if (depth_ == 0) {
      seen_root_ = true;
      return shape_ == JsonShape::kAny;
    }
    return CheckFirstElement(is_string);
  }
  bool CheckFirstElement(bool is_string) {
    if (shape_ == JsonShape::kEventArray && depth_ == 1 && !first_checked_) {
      first_checked_ = true;
      return is_string;
    }
    return true;
  }
  bool Open(JsonShape kind) {
    if (depth_ == 0) {
      seen_root_ = true;
      bool fits = shape_ == JsonShape::kAny || shape_ == kind ||
                  (shape_ == JsonShape::kEventArray && kind == JsonShape::kArray);
      if (!fits) return false;
    } else if (!CheckFirstElement(false)) {
      return false;
    }
    return ++depth_ <= kMaxJsonDepth;
  }
  bool Close() {
    if (depth_ == 1 && shape_ == JsonShape::kEventArray && !first_checked_) return false;
    --depth_;
    return true;
  }

  JsonShape shape_;
  size_t depth_ = 0;
  bool seen_root_ = false;
  bool first_checked_ = false;
};

bool ReferenceCheck(const std::string& text, JsonShape shape) {
  Reference reference(shape);
  bool ok = Json::sax_parse(text.begin(), text.end(), &reference,
                            nlohmann::detail::input_format_t::json, /*strict=*/true);
  return ok && reference.Complete();
}

constexpr JsonShape kShapes[] = {JsonShape::kAny, JsonShape::kObject, JsonShape::kArray,
                                 JsonShape::kEventArray};

std::string Printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out.size() > 200 ? out.substr(0, 200) + "..." : out;
}

// Counts disagreements (reporting the first few) over every shape.
size_t Disagreements(const std::string& text) {
  size_t count = 0;
  for (JsonShape shape : kShapes) {
    bool expected = ReferenceCheck(text, shape);
    // The one deliberate difference: nlohmann takes a NUL byte outside a string for the end of
    // the input and ignores what follows it; CheckJson rejects it, as no JSON contains one.
    if (text.find('\0') != std::string::npos) expected = false;
    if (CheckJson(text, shape) != expected) {
      ++count;
      ADD_FAILURE() << "shape " << static_cast<int>(shape) << ": nlohmann says " << expected
                    << " for \"" << Printable(text) << "\"";
    }
  }
  return count;
}

std::string Nested(size_t depth, const std::string& open, const std::string& inner,
                   const std::string& close) {
  std::string text;
  for (size_t i = 0; i < depth; ++i) text += open;
  text += inner;
  for (size_t i = 0; i < depth; ++i) text += close;
  return text;
}

std::vector<std::string> Corpus() {
  std::vector<std::string> corpus = {
      // Valid, of every kind.
      R"(["echo",1,"two",{"three":[3,null,true,false]}])", R"(["a"])", R"([])", R"({})",
      R"({"a":1,"b":[{},[]],"c":{"d":"e"}})", R"("text")", "0", "-0", "1", "-1", "12345678901234567890",
      "123456789012345678901234567890", "1.5", "-0.25e-3", "1E+10", "1e308", "1.7976931348623157e308",
      "1.8e308", "1e309", "1e999", "-1e999", "1e-999", "0.00001e310", "1e400e1", "true", "false",
      "null", " \t\r\n[ 1 , 2 ] \n", "\xEF\xBB\xBF[1]", "\xEF\xBB[1]", "\xEF[1]", "[\xEF\xBB\xBF" "1]",
      R"(["\"\\\/\b\f\n\r\t"])", R"(["\u0000\u001f\u00e9\uFFFF"])", R"(["\ud83d\ude00"])",
      R"(["\uD83D\uDE00"])", "[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]", "[\"\x7f\"]",
      R"({"__proto__":{"toString":1}})", R"([1,[2,[3,[4]]]])",
      Nested(kMaxJsonDepth, "[", "1", "]"), Nested(kMaxJsonDepth + 1, "[", "1", "]"),
      Nested(kMaxJsonDepth - 1, "{\"k\":", "1", "}"), Nested(kMaxJsonDepth, "{\"k\":", "1", "}"),
      Nested(kMaxJsonDepth + 1, "{\"k\":", "1", "}"), "[" + Nested(kMaxJsonDepth - 1, "{\"a\":[", "0", "]}") + "]",
      Nested(5000, "[", "", "]"),
      // Invalid.
      "", " ", "[", "]", "[1,]", "[,1]", "[1 2]", R"({"a"})", R"({"a":})", R"({a:1})", R"({"a":1,})",
      R"({"a" 1})", "[01]", "[1.]", "[.5]", "[-]", "[1e]", "[1e+]", "[+1]", "[0x10]", "[NaN]",
      "[Infinity]", "[tru]", "[nul]", "[falsey]", "[True]", "['a']", R"(["a)", R"(["\x"])",
      R"(["\u12"])", R"(["\u12G4"])", R"(["\ud800"])", R"(["\udc00"])", R"(["\ud800\u0041"])",
      R"(["\ud800\"])", R"(["\ud800\udbff"])", "[\"a\nb\"]", "[\"\t\"]", "[\"\xff\"]", "[\"\xc0\xaf\"]",
      "[\"\xc3\x28\"]", "[\"\xed\xa0\x80\"]", "[\"\xe0\x80\xaf\"]", "[\"\xf0\x80\x80\xaf\"]",
      "[\"\xf4\x90\x80\x80\"]", "[\"\xf5\x80\x80\x80\"]", "[\"\xc3\"]", "[\"\xe2\x82\"]", "{\"\xfe\":1}",
      "[1]]", "[1][2]", "1 2", "[1]x", "/*c*/[1]", "[1]//c", std::string("[\0]", 3),
      std::string("[1]\0", 4), "[\"\xa9\"]", "\"unterminated", "[\"a\",", "{\"a\":1", "-", "--1",
  };
  return corpus;
}

TEST(CheckJson, AgreesWithNlohmannOnTheCorpus) {
  size_t failures = 0;
  for (const std::string& text : Corpus()) failures += Disagreements(text);
  EXPECT_EQ(failures, 0u);
}

TEST(CheckJson, AgreesWithNlohmannOnPrefixesAndMutationsOfTheCorpus) {
  static const char kByteList[] =
      "[]{}\",:\\/-+.0123456789eEtfnu aZ\x00\x1f\x7f\x80\xbf\xc2\xe0\xed\xef\xf0\xf4\xff";
  const std::string kBytes(kByteList, sizeof(kByteList) - 1);
  size_t failures = 0;
  for (const std::string& text : Corpus()) {
    if (text.size() > 300) continue;
    for (size_t i = 0; i <= text.size() && failures < 20; ++i) {
      failures += Disagreements(text.substr(0, i));
      if (i == text.size()) break;
      for (char c : kBytes) {
        std::string mutated = text;
        mutated[i] = c;
        failures += Disagreements(mutated);
        mutated.insert(mutated.begin() + static_cast<ptrdiff_t>(i), c);
        failures += Disagreements(mutated);
      }
      std::string removed = text;
      removed.erase(i, 1);
      failures += Disagreements(removed);
    }
  }
  EXPECT_EQ(failures, 0u);
}

TEST(CheckJson, AgreesWithNlohmannOnRandomTokenSoup) {
  const std::vector<std::string> tokens = {
      "[", "]", "{", "}", ",", ":", " ", "\n", "\"", "\"a\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"",
      "\"\\ud800\"", "\"\xc3\xa9\"", "\"\xff\"", "\\", "1", "-0.5e3", "1e999", "01", "true", "null",
      "fals", "\"k\":", "\x80", "\xEF\xBB\xBF", "\t", "\"\\\"\"", "9999999999999999999999"};
  std::mt19937 random(20261125);
  size_t failures = 0;
  for (int round = 0; round < 40000 && failures < 20; ++round) {
    std::string text;
    size_t count = random() % 12;
    for (size_t i = 0; i < count; ++i) text += tokens[random() % tokens.size()];
    failures += Disagreements(text);
  }
  EXPECT_EQ(failures, 0u);
}

TEST(CheckJson, CountsDepthTheWayTheLimitIsDocumented) {
  EXPECT_TRUE(CheckJson(Nested(kMaxJsonDepth, "[", "", "]"), JsonShape::kArray));
  EXPECT_FALSE(CheckJson(Nested(kMaxJsonDepth + 1, "[", "", "]"), JsonShape::kArray));
  EXPECT_FALSE(CheckJson(Nested(1'000'000, "[", "", "]"), JsonShape::kAny));
}

TEST(CheckJson, ChecksTheShapeOfTheTopLevelValue) {
  EXPECT_TRUE(CheckJson(R"(["ev",1])", JsonShape::kEventArray));
  EXPECT_FALSE(CheckJson(R"([1,"ev"])", JsonShape::kEventArray));
  EXPECT_FALSE(CheckJson(R"([])", JsonShape::kEventArray));
  EXPECT_FALSE(CheckJson(R"([["ev"]])", JsonShape::kEventArray));
  EXPECT_TRUE(CheckJson(R"([])", JsonShape::kArray));
  EXPECT_FALSE(CheckJson(R"({})", JsonShape::kArray));
  EXPECT_TRUE(CheckJson(R"({})", JsonShape::kObject));
  EXPECT_FALSE(CheckJson(R"("s")", JsonShape::kObject));
  EXPECT_TRUE(CheckJson(R"("s")", JsonShape::kAny));
}

}  // namespace
}  // namespace sidecar::socketio
