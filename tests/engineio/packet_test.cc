#include "sidecar/engineio/packet.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::engineio {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using namespace std::string_view_literals;

Packet Text(PacketType type, std::string data = "") { return Packet{type, std::move(data), false}; }
Packet Binary(std::string bytes) { return Packet{PacketType::kMessage, std::move(bytes), true}; }

// --- DecodePacket ------------------------------------------------------------

struct DecodeCase {
  std::string name;
  std::string_view text;
  Packet expected;
};

class EngineIoDecodePacketAccepts : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(EngineIoDecodePacketAccepts, ReadsTheTypeDigitAndKeepsTheRestVerbatimAsData) {
  absl::StatusOr<Packet> packet = DecodePacket(GetParam().text);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(*packet, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    EveryPacketType, EngineIoDecodePacketAccepts,
    ::testing::Values(DecodeCase{"Open", R"(0{"sid":"abc","upgrades":[]})",
                                 Text(PacketType::kOpen, R"({"sid":"abc","upgrades":[]})")},
                      DecodeCase{"Close", "1", Text(PacketType::kClose)},
                      DecodeCase{"Ping", "2", Text(PacketType::kPing)},
                      DecodeCase{"PingProbe", "2probe", Text(PacketType::kPing, "probe")},
                      DecodeCase{"Pong", "3", Text(PacketType::kPong)},
                      DecodeCase{"PongProbe", "3probe", Text(PacketType::kPong, "probe")},
                      DecodeCase{"Message", "4hello", Text(PacketType::kMessage, "hello")},
                      DecodeCase{"EmptyMessage", "4", Text(PacketType::kMessage)},
                      DecodeCase{"SocketIoEventMessage", R"(42["chat","hi"])",
                                 Text(PacketType::kMessage, R"(2["chat","hi"])")},
                      DecodeCase{"MessageWithUtf8", "4h\xC3\xA9llo \xF0\x9F\x98\x80",
                                 Text(PacketType::kMessage, "h\xC3\xA9llo \xF0\x9F\x98\x80")},
                      DecodeCase{"MessageWithNulByte", "4a\0b"sv,
                                 Text(PacketType::kMessage, std::string("a\0b"sv))},
                      DecodeCase{"Upgrade", "5", Text(PacketType::kUpgrade)},
                      DecodeCase{"Noop", "6", Text(PacketType::kNoop)}),
    [](const auto& info) { return info.param.name; });

struct RejectCase {
  std::string name;
  std::string_view text;
  std::string reason;
};

class EngineIoDecodePacketRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(EngineIoDecodePacketRejects, WithAnInvalidArgumentErrorSayingWhy) {
  absl::StatusOr<Packet> packet = DecodePacket(GetParam().text);
  ASSERT_FALSE(packet.ok());
  EXPECT_EQ(packet.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(packet.status().message(), HasSubstr(GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(
    MalformedText, EngineIoDecodePacketRejects,
    ::testing::Values(RejectCase{"Empty", "", "empty packet"},
                      RejectCase{"TypeSeven", "7", "unknown packet type '7'"},
                      RejectCase{"TypeNine", "9hello", "unknown packet type '9'"},
                      RejectCase{"CharBeforeZero", "/", "unknown packet type '/'"},
                      RejectCase{"CharAfterNine", ":", "unknown packet type ':'"},
                      RejectCase{"Letter", "x", "unknown packet type 'x'"},
                      // A binary part is only meaningful inside a polling payload.
                      RejectCase{"Base64MarkerOutsidePayload", "bAQID", "unknown packet type 'b'"},
                      RejectCase{"LeadingSpace", " 4hello", "unknown packet type ' '"},
                      RejectCase{"NulByte", "\0"sv, "unknown packet type"}),
    [](const auto& info) { return info.param.name; });

// --- DecodePayload -----------------------------------------------------------

struct PayloadCase {
  std::string name;
  std::string_view body;
  std::vector<Packet> expected;
};

class EngineIoDecodePayloadAccepts : public ::testing::TestWithParam<PayloadCase> {};

TEST_P(EngineIoDecodePayloadAccepts, SplitsOnRecordSeparatorsAndDecodesEachPart) {
  absl::StatusOr<std::vector<Packet>> packets = DecodePayload(GetParam().body);
  ASSERT_TRUE(packets.ok()) << packets.status();
  EXPECT_THAT(*packets, ElementsAreArray(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    WellFormedBodies, EngineIoDecodePayloadAccepts,
    ::testing::Values(
        PayloadCase{"SingleTextPacket", "4hello", {Text(PacketType::kMessage, "hello")}},
        PayloadCase{"SinglePing", "2", {Text(PacketType::kPing)}},
        PayloadCase{"SeveralTextPackets",
                    "4hello\x1e"
                    "2\x1e"
                    "6",
                    {Text(PacketType::kMessage, "hello"), Text(PacketType::kPing),
                     Text(PacketType::kNoop)}},
        PayloadCase{"EmptyMessagesBetweenSeparators",
                    "4\x1e"
                    "4",
                    {Text(PacketType::kMessage), Text(PacketType::kMessage)}},
        PayloadCase{"BinaryPaddedBase64", "bAQID", {Binary("\x01\x02\x03")}},
        PayloadCase{"BinaryWithOnePaddingChar", "bAQI=", {Binary("\x01\x02")}},
        PayloadCase{"BinaryWithTwoPaddingChars", "bAQ==", {Binary("\x01")}},
        PayloadCase{"BinaryWithNulAndHighBytes", "bAP8A", {Binary(std::string("\x00\xff\x00"sv))}},
        PayloadCase{"EmptyBinaryMessage", "b", {Binary("")}},
        // Whitespace inside base64 is skipped, as Node's Buffer.from(data, "base64") does.
        PayloadCase{"BinaryWithWhitespaceInBase64", "bAQ ID\n", {Binary("\x01\x02\x03")}},
        PayloadCase{"TextAndBinaryMixed",
                    "4hello\x1e"
                    "bAQID\x1e"
                    "4world",
                    {Text(PacketType::kMessage, "hello"), Binary("\x01\x02\x03"),
                     Text(PacketType::kMessage, "world")}},
        // The reference payload example from the Engine.IO v4 protocol document.
        PayloadCase{"ProtocolDocumentExample",
                    "4hello\x1e"
                    "2\x1e"
                    "4\xe2\x82\xac\x1e"
                    "bAQIDBA==",
                    {Text(PacketType::kMessage, "hello"), Text(PacketType::kPing),
                     Text(PacketType::kMessage, "\xe2\x82\xac"), Binary("\x01\x02\x03\x04")}}),
    [](const auto& info) { return info.param.name; });

class EngineIoDecodePayloadRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(EngineIoDecodePayloadRejects, TheWholeBodyWithAnInvalidArgumentErrorSayingWhy) {
  absl::StatusOr<std::vector<Packet>> packets = DecodePayload(GetParam().text);
  ASSERT_FALSE(packets.ok());
  EXPECT_EQ(packets.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(packets.status().message(), HasSubstr(GetParam().reason));
}

INSTANTIATE_TEST_SUITE_P(
    MalformedBodies, EngineIoDecodePayloadRejects,
    ::testing::Values(RejectCase{"EmptyBody", "", "empty payload"},
                      RejectCase{"OnlySeparator", "\x1e", "empty packet"},
                      RejectCase{"LeadingSeparator",
                                 "\x1e"
                                 "4hello",
                                 "empty packet"},
                      RejectCase{"TrailingSeparator", "4hello\x1e", "empty packet"},
                      RejectCase{"EmptyPartInTheMiddle",
                                 "4a\x1e\x1e"
                                 "4b",
                                 "empty packet"},
                      RejectCase{"UnknownTypeInLaterPart",
                                 "4hello\x1e"
                                 "9",
                                 "unknown packet type '9'"},
                      RejectCase{"Base64WithForeignCharacters", "bAQ!D", "invalid base64"},
                      RejectCase{"Base64WithOneDanglingCharacter", "bAQIDB", "invalid base64"},
                      RejectCase{"Base64WithTooMuchPadding", "bAQID====", "invalid base64"},
                      RejectCase{"Base64WithInnerPadding", "bAQ=ID", "invalid base64"},
                      RejectCase{"Base64WithPartialPadding", "bAQ=", "invalid base64"},
                      RejectCase{"UrlSafeBase64", "b-_8", "invalid base64"},
                      RejectCase{"InvalidBase64AfterValidParts",
                                 "4ok\x1e"
                                 "b***",
                                 "invalid base64"}),
    [](const auto& info) { return info.param.name; });

// --- EncodePacket and AppendToPayload -----------------------------------------

struct EncodeCase {
  std::string name;
  Packet packet;
  std::string text;
};

class EngineIoEncodePacketWrites : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(EngineIoEncodePacketWrites, TheTypeDigitFollowedByTheData) {
  EXPECT_EQ(EncodePacket(GetParam().packet), GetParam().text);
}

TEST_P(EngineIoEncodePacketWrites, TextThatDecodesBackToTheSamePacket) {
  absl::StatusOr<Packet> decoded = DecodePacket(EncodePacket(GetParam().packet));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, GetParam().packet);
}

INSTANTIATE_TEST_SUITE_P(
    EveryPacketType, EngineIoEncodePacketWrites,
    ::testing::Values(
        EncodeCase{"Open", Text(PacketType::kOpen, R"({"sid":"abc"})"), R"(0{"sid":"abc"})"},
        EncodeCase{"Close", Text(PacketType::kClose), "1"},
        EncodeCase{"Ping", Text(PacketType::kPing), "2"},
        EncodeCase{"PingProbe", Text(PacketType::kPing, "probe"), "2probe"},
        EncodeCase{"PongProbe", Text(PacketType::kPong, "probe"), "3probe"},
        EncodeCase{"Message", Text(PacketType::kMessage, "hello"), "4hello"},
        EncodeCase{"EmptyMessage", Text(PacketType::kMessage), "4"},
        EncodeCase{"MessageWithNulByte", Text(PacketType::kMessage, std::string("a\0b"sv)),
                   std::string("4a\0b"sv)},
        EncodeCase{"Upgrade", Text(PacketType::kUpgrade), "5"},
        EncodeCase{"Noop", Text(PacketType::kNoop), "6"}),
    [](const auto& info) { return info.param.name; });

TEST(EngineIoAppendToPayload, WritesTheFirstPacketWithoutASeparator) {
  std::string payload;
  AppendToPayload(payload, Text(PacketType::kMessage, "hello"));
  EXPECT_EQ(payload, "4hello");
}

TEST(EngineIoAppendToPayload, SeparatesLaterPacketsWithTheRecordSeparator) {
  std::string payload;
  AppendToPayload(payload, Text(PacketType::kMessage, "hello"));
  AppendToPayload(payload, Text(PacketType::kPing));
  AppendToPayload(payload, Text(PacketType::kNoop));
  EXPECT_EQ(payload,
            "4hello\x1e"
            "2\x1e"
            "6");
}

TEST(EngineIoAppendToPayload, WritesBinaryMessagesAsBPlusPaddedBase64) {
  std::string payload;
  AppendToPayload(payload, Binary("\x01\x02\x03\x04"));
  AppendToPayload(payload, Binary("\x01\x02"));
  EXPECT_EQ(payload,
            "bAQIDBA==\x1e"
            "bAQI=");
}

TEST(EngineIoAppendToPayload, WritesAnEmptyBinaryMessageAsALoneB) {
  std::string payload;
  AppendToPayload(payload, Binary(""));
  EXPECT_EQ(payload, "b");
}

TEST(EngineIoAppendToPayload, BuildsPayloadsThatDecodeBackToTheSamePackets) {
  std::string every_byte;
  for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
  std::vector<Packet> packets = {
      Text(PacketType::kOpen, R"({"sid":"abc","pingInterval":25000})"),
      Text(PacketType::kMessage, "hello"),
      Binary(every_byte),
      Text(PacketType::kMessage),
      Binary(""),
      Binary("\x01"),
      Text(PacketType::kMessage, "\xe2\x82\xac and b at the start of data"),
      Text(PacketType::kPing),
      Text(PacketType::kPong, "probe"),
      Text(PacketType::kClose),
      Text(PacketType::kUpgrade),
      Text(PacketType::kNoop),
  };
  std::string payload;
  for (const Packet& packet : packets) AppendToPayload(payload, packet);

  absl::StatusOr<std::vector<Packet>> decoded = DecodePayload(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded, ElementsAreArray(packets));
}

TEST(EngineIoAppendToPayload, AddsToAPayloadBuiltEarlier) {
  std::string payload = "4first";
  AppendToPayload(payload, Text(PacketType::kMessage, "second"));
  absl::StatusOr<std::vector<Packet>> decoded = DecodePayload(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded, ElementsAre(Text(PacketType::kMessage, "first"),
                                    Text(PacketType::kMessage, "second")));
}

// --- Engine.IO v3 ------------------------------------------------------------

// "4" followed by U+1F600 (a 4-byte UTF-8 sequence, two UTF-16 code units).
constexpr char kEmojiMessage[] = "4\xF0\x9F\x98\x80";

TEST(EngineIoUtf16Length, CountsCodeUnitsAsJavaScriptsStringLength) {
  EXPECT_EQ(Utf16Length(""), 0u);
  EXPECT_EQ(Utf16Length("4hello"), 6u);
  EXPECT_EQ(Utf16Length("h\xC3\xA9"), 2u);     // é: two bytes, one unit
  EXPECT_EQ(Utf16Length("\xE2\x82\xAC"), 1u);  // €: three bytes, one unit
  EXPECT_EQ(Utf16Length(kEmojiMessage), 3u);   // a surrogate pair counts twice
  EXPECT_EQ(Utf16Length("a\xF0\x9F\x98\x80\xC3\xA9"), 4u);
  // Bytes of an incomplete or broken sequence count one each.
  EXPECT_EQ(Utf16Length("4\xF0\x9F"), 3u);
  EXPECT_EQ(Utf16Length("\xE2\x41\x42"), 3u);
}

TEST(EngineIoDecodePayloadV3, SplitsLengthPrefixedPackets) {
  absl::StatusOr<std::vector<Packet>> packets = DecodePayloadV3("6:4test16:4test21:2");
  ASSERT_TRUE(packets.ok()) << packets.status();
  EXPECT_THAT(*packets, ElementsAre(Text(PacketType::kMessage, "test1"),
                                    Text(PacketType::kMessage, "test2"), Text(PacketType::kPing)));
}

TEST(EngineIoDecodePayloadV3, MeasuresLengthsInUtf16CodeUnits) {
  std::string body = absl::StrCat("3:", kEmojiMessage, "3:4\xC3\xA9\xE2\x82\xAC");
  absl::StatusOr<std::vector<Packet>> packets = DecodePayloadV3(body);
  ASSERT_TRUE(packets.ok()) << packets.status();
  EXPECT_THAT(*packets, ElementsAre(Text(PacketType::kMessage, "\xF0\x9F\x98\x80"),
                                    Text(PacketType::kMessage, "\xC3\xA9\xE2\x82\xAC")));
}

TEST(EngineIoDecodePayloadV3, ReadsB4AsABase64BinaryMessage) {
  absl::StatusOr<std::vector<Packet>> packets = DecodePayloadV3("6:4hello10:b4AQIDBA==");
  ASSERT_TRUE(packets.ok()) << packets.status();
  EXPECT_THAT(*packets, ElementsAre(Text(PacketType::kMessage, "hello"),
                                    Binary(std::string("\x01\x02\x03\x04"))));
}

struct V3RejectCase {
  std::string name;
  std::string body;
};

class EngineIoDecodePayloadV3Rejects : public ::testing::TestWithParam<V3RejectCase> {};

TEST_P(EngineIoDecodePayloadV3Rejects, TheWholeBody) {
  EXPECT_EQ(DecodePayloadV3(GetParam().body).status().code(), absl::StatusCode::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(
    MalformedPayloads, EngineIoDecodePayloadV3Rejects,
    ::testing::Values(V3RejectCase{"Empty", ""}, V3RejectCase{"NoLength", "abc"},
                      V3RejectCase{"EmptyLength", ":4hi"}, V3RejectCase{"LetterLength", "x:4"},
                      V3RejectCase{"ZeroLength", "0:"},
                      V3RejectCase{"LongerThanTheBody", "9:4hello"},
                      V3RejectCase{"TrailingGarbage", "3:4hi7"},
                      // "2:4" + U+1F600: the length ends inside the surrogate pair.
                      V3RejectCase{"LengthInsideASurrogatePair", absl::StrCat("2:", kEmojiMessage)},
                      V3RejectCase{"UnknownPacketType", "2:9x"},
                      V3RejectCase{"Base64ThatIsNotAMessage", "4:b2AA"},
                      V3RejectCase{"InvalidBase64", "5:b4@@@"}),
    [](const auto& info) { return info.param.name; });

// The binary payload the engine.io-protocol v3 suite expects for "4hello" and
// the binary message [1, 2, 3, 4].
const std::string kSuiteBinaryPayload(
    "\x00\x06\xFF"
    "4hello"
    "\x01\x05\xFF\x04\x01\x02\x03\x04",
    17);

TEST(EngineIoAppendToBinaryPayloadV3, WritesKindLengthDigitsAndTheTypeByteOfBinaryPackets) {
  std::string payload;
  AppendToBinaryPayloadV3(payload, "4hello", /*binary=*/false);
  AppendToBinaryPayloadV3(payload, "\x01\x02\x03\x04", /*binary=*/true);
  EXPECT_EQ(payload, kSuiteBinaryPayload);
}

TEST(EngineIoAppendToBinaryPayloadV3, WritesEachDecimalDigitOfTheLengthAsAByte) {
  std::string payload;
  AppendToBinaryPayloadV3(payload, std::string(123, 'x'), /*binary=*/true);
  EXPECT_EQ(payload.substr(0, 6), std::string("\x01\x01\x02\x04\xFF\x04", 6));
  EXPECT_EQ(payload.size(), 6u + 123u);
}

TEST(EngineIoDecodeBinaryPayloadV3, ReadsTextAndBinaryPackets) {
  absl::StatusOr<std::vector<Packet>> packets = DecodeBinaryPayloadV3(kSuiteBinaryPayload);
  ASSERT_TRUE(packets.ok()) << packets.status();
  EXPECT_THAT(*packets, ElementsAre(Text(PacketType::kMessage, "hello"),
                                    Binary(std::string("\x01\x02\x03\x04"))));
}

TEST(EngineIoDecodeBinaryPayloadV3, RejectsMalformedBodies) {
  for (std::string_view body : {""sv,
                                "\x02\x01\xFF"
                                "4"sv,
                                "\x00\x09\xFF"
                                "4hi"sv,
                                "\x00\x02"
                                "4h"sv,
                                "\x01\x02\xFF\x02\x00"sv,
                                "\x00\x0A\xFF"
                                "4hello1234"sv}) {
    EXPECT_EQ(DecodeBinaryPayloadV3(body).status().code(), absl::StatusCode::kInvalidArgument)
        << absl::CEscape(std::string(body));
  }
}

TEST(EngineIoAppendToPayloadV3, PrefixesTheUtf16LengthAndWritesBinaryAsB4Base64) {
  std::string payload;
  AppendToPayloadV3(payload, "4hello", /*binary=*/false);
  AppendToPayloadV3(payload, kEmojiMessage, /*binary=*/false);
  AppendToPayloadV3(payload, "\x01\x02\x03\x04", /*binary=*/true);
  EXPECT_EQ(payload, absl::StrCat("6:4hello3:", kEmojiMessage, "10:b4AQIDBA=="));

  absl::StatusOr<std::vector<Packet>> decoded = DecodePayloadV3(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_THAT(*decoded, ElementsAre(Text(PacketType::kMessage, "hello"),
                                    Text(PacketType::kMessage, "\xF0\x9F\x98\x80"),
                                    Binary(std::string("\x01\x02\x03\x04"))));
}

TEST(EngineIoJsonpScript, CallsTheIndexedCallbackWithAJavaScriptStringLiteral) {
  EXPECT_EQ(JsonpScript("0", "6:4hello"), R"(___eio[0]("6:4hello");)");
  EXPECT_EQ(JsonpScript("12", "7:4a\"b\\c\n"), R"(___eio[12]("7:4a\"b\\c\n");)");
}

TEST(EngineIoJsonpScript, EscapesLineSeparatorsThatEndAJavaScriptLine) {
  EXPECT_EQ(JsonpScript("1", "3:4\xE2\x80\xA8\xE2\x80\xA9"), R"(___eio[1]("3:4\u2028\u2029");)");
  EXPECT_EQ(JsonpScript("1", "2:4\xC3\xA9"), "___eio[1](\"2:4\xC3\xA9\");");
}

TEST(EngineIoJsonpScript, KeepsOnlyTheDigitsOfTheIndex) {
  EXPECT_EQ(JsonpScript("1]);alert(2", "1:6"), R"(___eio[12]("1:6");)");
}

TEST(EngineIoDecodeJsonpBody, ReadsTheDFieldAndUnescapesNewlines) {
  EXPECT_THAT(DecodeJsonpBody("d=6%3A4hello"), absl::StatusOr<std::string>("6:4hello"));
  EXPECT_THAT(DecodeJsonpBody("d=8%3A4a+b%2Bc"), absl::StatusOr<std::string>("8:4a b+c"));
  // \n (backslash, n) was a newline; \\n was an escaped newline, i.e. a backslash and n.
  EXPECT_THAT(DecodeJsonpBody("d=4%3A4a%5Cnb"), absl::StatusOr<std::string>("4:4a\nb"));
  EXPECT_THAT(DecodeJsonpBody("d=5%3A4a%5C%5Cnb"), absl::StatusOr<std::string>("5:4a\\nb"));
}

TEST(EngineIoDecodeJsonpBody, RejectsAFormWithoutD) {
  EXPECT_EQ(DecodeJsonpBody("x=1").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeJsonpBody("").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sidecar::engineio
