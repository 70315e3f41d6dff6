#include "sidecar/engineio/packet.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
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

}  // namespace
}  // namespace sidecar::engineio
