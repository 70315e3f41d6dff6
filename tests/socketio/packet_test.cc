#include "sidecar/socketio/packet.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::socketio {
namespace {

using ::testing::HasSubstr;

Packet Make(PacketType type, std::string nsp, std::optional<uint64_t> id, size_t attachments,
            std::string data) {
  Packet packet;
  packet.type = type;
  packet.nsp = std::move(nsp);
  packet.id = id;
  packet.attachments = attachments;
  packet.data = std::move(data);
  return packet;
}

// `depth` arrays nested inside one another around a number.
std::string NestedArrays(size_t depth) {
  return std::string(depth, '[') + "1" + std::string(depth, ']');
}

// An event whose JSON nests `depth` levels deep, counting the event array itself.
std::string EventNestedTo(size_t depth) { return R"(2["deep",)" + NestedArrays(depth - 1) + "]"; }

// --- DecodePacket: what clients may send ----------------------------------------

struct DecodeCase {
  std::string name;
  std::string text;
  Packet expected;
};

class SocketIoDecodePacketAccepts : public ::testing::TestWithParam<DecodeCase> {};

TEST_P(SocketIoDecodePacketAccepts, SplitsTypeNamespaceIdAndDataAsTheV5SpecDescribes) {
  absl::StatusOr<Packet> packet = DecodePacket(GetParam().text);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(packet->type, GetParam().expected.type);
  EXPECT_EQ(packet->nsp, GetParam().expected.nsp);
  EXPECT_EQ(packet->id, GetParam().expected.id);
  EXPECT_EQ(packet->attachments, GetParam().expected.attachments);
  EXPECT_EQ(packet->data, GetParam().expected.data);
}

INSTANTIATE_TEST_SUITE_P(
    SpecExamples, SocketIoDecodePacketAccepts,
    ::testing::Values(
        DecodeCase{"ConnectToMainNamespace", "0", Make(PacketType::kConnect, "/", {}, 0, "")},
        DecodeCase{"ConnectWithAuth", R"(0{"token":"123"})",
                   Make(PacketType::kConnect, "/", {}, 0, R"({"token":"123"})")},
        DecodeCase{"ConnectToNamespaceWithAuth", R"(0/admin,{"token":"x"})",
                   Make(PacketType::kConnect, "/admin", {}, 0, R"({"token":"x"})")},
        // What arrives as Engine.IO message `40/custom`: no trailing comma.
        DecodeCase{"ConnectToNamespaceWithoutComma", "0/custom",
                   Make(PacketType::kConnect, "/custom", {}, 0, "")},
        DecodeCase{"ConnectToNamespaceWithComma", "0/custom,",
                   Make(PacketType::kConnect, "/custom", {}, 0, "")},
        DecodeCase{"ConnectWithEmptyAuth", "0{}", Make(PacketType::kConnect, "/", {}, 0, "{}")},
        DecodeCase{"DisconnectFromMainNamespace", "1",
                   Make(PacketType::kDisconnect, "/", {}, 0, "")},
        DecodeCase{"DisconnectFromNamespace", "1/admin,",
                   Make(PacketType::kDisconnect, "/admin", {}, 0, "")},
        DecodeCase{"Event", R"(2["hello",1])",
                   Make(PacketType::kEvent, "/", {}, 0, R"(["hello",1])")},
        DecodeCase{"EventWithoutArguments", R"(2["hello"])",
                   Make(PacketType::kEvent, "/", {}, 0, R"(["hello"])")},
        DecodeCase{"EventWithAckId", R"(212["hello"])",
                   Make(PacketType::kEvent, "/", 12, 0, R"(["hello"])")},
        DecodeCase{"EventWithAckIdZero", R"(20["hello"])",
                   Make(PacketType::kEvent, "/", 0, 0, R"(["hello"])")},
        DecodeCase{"EventInNamespaceWithAckId", R"(2/admin,456["project:delete",123])",
                   Make(PacketType::kEvent, "/admin", 456, 0, R"(["project:delete",123])")},
        DecodeCase{"EventInNamespaceWithoutAckId", R"(2/admin,["hello"])",
                   Make(PacketType::kEvent, "/admin", {}, 0, R"(["hello"])")},
        DecodeCase{
            "EventWithNestedArguments", R"(2["hello",{"a":[1,{"b":null}]},true,"x"])",
            Make(PacketType::kEvent, "/", {}, 0, R"(["hello",{"a":[1,{"b":null}]},true,"x"])")},
        DecodeCase{"EventWithUtf8Name", "2[\"h\xC3\xA9llo \xF0\x9F\x98\x80\"]",
                   Make(PacketType::kEvent, "/", {}, 0, "[\"h\xC3\xA9llo \xF0\x9F\x98\x80\"]")},
        DecodeCase{"EventWithEscapedName", R"(2["\u00e9\n\"",1])",
                   Make(PacketType::kEvent, "/", {}, 0, R"(["\u00e9\n\"",1])")},
        DecodeCase{"EventWithSurrogatePairEscape", R"(2["\ud83d\ude00"])",
                   Make(PacketType::kEvent, "/", {}, 0, R"(["\ud83d\ude00"])")},
        // Whitespace around JSON is tolerated, as JSON.parse does; data is kept verbatim.
        DecodeCase{"EventWithWhitespaceAroundJson", "2 [ \"hello\" , 1 ] \n",
                   Make(PacketType::kEvent, "/", {}, 0, " [ \"hello\" , 1 ] \n")},
        DecodeCase{"AckWithEmptyArray", "3/admin,456[]",
                   Make(PacketType::kAck, "/admin", 456, 0, "[]")},
        DecodeCase{"AckWithValues", R"(323["ok",{"a":1}])",
                   Make(PacketType::kAck, "/", 23, 0, R"(["ok",{"a":1}])")},
        DecodeCase{"AckStartingWithNonString", "323[1,null]",
                   Make(PacketType::kAck, "/", 23, 0, "[1,null]")},
        DecodeCase{"BinaryEvent", R"(51-["hello",{"_placeholder":true,"num":0}])",
                   Make(PacketType::kBinaryEvent, "/", {}, 1,
                        R"(["hello",{"_placeholder":true,"num":0}])")},
        DecodeCase{
            "BinaryEventInNamespaceWithAckId",
            R"(52-/admin,7["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])",
            Make(PacketType::kBinaryEvent, "/admin", 7, 2,
                 R"(["upload",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])")},
        DecodeCase{
            "BinaryAckInNamespace", R"(61-/admin,456[{"_placeholder":true,"num":0}])",
            Make(PacketType::kBinaryAck, "/admin", 456, 1, R"([{"_placeholder":true,"num":0}])")},
        DecodeCase{
            "BinaryEventWithPlaceholderKeysReversed", R"(51-["up",{"num":0,"_placeholder":true}])",
            Make(PacketType::kBinaryEvent, "/", {}, 1, R"(["up",{"num":0,"_placeholder":true}])")},
        // Only "_placeholder": true marks a placeholder; anything else is the client's data.
        DecodeCase{"EventWithPlaceholderFlagFalse", R"(2["x",{"_placeholder":false,"num":0}])",
                   Make(PacketType::kEvent, "/", {}, 0, R"(["x",{"_placeholder":false,"num":0}])")},
        DecodeCase{
            "EventWithPlaceholderFlagAsString", R"(2["x",{"_placeholder":"true","num":0}])",
            Make(PacketType::kEvent, "/", {}, 0, R"(["x",{"_placeholder":"true","num":0}])")},
        DecodeCase{
            "EventWithPlaceholderAsValueNotKey", R"(2["_placeholder",{"k":"_placeholder"}])",
            Make(PacketType::kEvent, "/", {}, 0, R"(["_placeholder",{"k":"_placeholder"}])")},
        DecodeCase{"EventWithUnicodeEscapesButNoPlaceholder", R"(2["A",{"B":1}])",
                   Make(PacketType::kEvent, "/", {}, 0, R"(["A",{"B":1}])")},
        DecodeCase{"BinaryEventWithZeroAttachments", R"(50-["hello"])",
                   Make(PacketType::kBinaryEvent, "/", {}, 0, R"(["hello"])")},
        DecodeCase{"BinaryEventWithMostAttachmentsAllowed", R"(51000-["hello"])",
                   Make(PacketType::kBinaryEvent, "/", {}, kMaxAttachments, R"(["hello"])")},
        DecodeCase{"LargestAckIdAClientCanSend", R"(29007199254740991["hello"])",
                   Make(PacketType::kEvent, "/", 9007199254740991ULL, 0, R"(["hello"])")},
        DecodeCase{"EventNestedExactlyToTheDepthLimit", EventNestedTo(kMaxJsonDepth),
                   Make(PacketType::kEvent, "/", {}, 0, EventNestedTo(kMaxJsonDepth).substr(1))},
        DecodeCase{"ConnectNestedExactlyToTheDepthLimit",
                   "0{\"a\":" + NestedArrays(kMaxJsonDepth - 1) + "}",
                   Make(PacketType::kConnect, "/", {}, 0,
                        "{\"a\":" + NestedArrays(kMaxJsonDepth - 1) + "}")}),
    [](const auto& info) { return info.param.name; });

struct RejectCase {
  std::string name;
  std::string text;
  std::string reason;
};

class SocketIoDecodePacketRejects : public ::testing::TestWithParam<RejectCase> {};

TEST_P(SocketIoDecodePacketRejects, WithAnInvalidArgumentErrorSayingWhy) {
  absl::StatusOr<Packet> packet = DecodePacket(GetParam().text);
  ASSERT_FALSE(packet.ok()) << "decoded as data " << packet->data;
  EXPECT_EQ(packet.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(packet.status().message(), HasSubstr(GetParam().reason));
}

constexpr char kNotAnEvent[] = "EVENT payload must be an array starting with a name";
constexpr char kNotAnAck[] = "ACK payload must be an array";
constexpr char kNotAnObject[] = "CONNECT payload must be an object";
constexpr char kBadPlaceholder[] = "invalid attachment placeholder";

INSTANTIATE_TEST_SUITE_P(
    MalformedPackets, SocketIoDecodePacketRejects,
    ::testing::Values(
        RejectCase{"Empty", "", "empty packet"},
        RejectCase{"NotAPacket", "abc", "unknown packet type"},
        RejectCase{"TypeSeven", R"(7["hello"])", "unknown packet type"},
        RejectCase{"EventWithObject", "2{}", kNotAnEvent},
        RejectCase{"EventWithLettersWhereAckIdGoes", R"(2abc["x"])", kNotAnEvent},
        RejectCase{"EventWithEmptyArray", "2[]", kNotAnEvent},
        RejectCase{"EventWithWhitespaceOnlyArray", "2[ ]", kNotAnEvent},
        RejectCase{"EventNamedByNumber", "2[1]", kNotAnEvent},
        RejectCase{"EventNamedByNull", "2[null]", kNotAnEvent},
        RejectCase{"EventNamedByArray", R"(2[["x"]])", kNotAnEvent},
        RejectCase{"EventNamedByObject", R"(2[{"x":1}])", kNotAnEvent},
        RejectCase{"EventWithoutPayload", "2", kNotAnEvent},
        RejectCase{"EventWithAckIdButNoPayload", "212", kNotAnEvent},
        RejectCase{"EventWithString", R"(2"hello")", kNotAnEvent},
        RejectCase{"EventWithUnclosedArray", R"(2["hello")", kNotAnEvent},
        RejectCase{"EventWithTrailingComma", R"(2["hello",])", kNotAnEvent},
        RejectCase{"EventWithTrailingGarbage", R"(2["hello"]x)", kNotAnEvent},
        RejectCase{"EventWithTwoArrays", R"(2["hello"]["again"])", kNotAnEvent},
        RejectCase{"EventWithSingleQuotes", "2['hello']", kNotAnEvent},
        RejectCase{"EventWithNaN", R"(2["hello",NaN])", kNotAnEvent},
        RejectCase{"EventWithNumberTooLargeForADouble", R"(2["hello",1e999])", kNotAnEvent},
        // A namespace runs up to the first comma, so without one it swallows the data.
        RejectCase{"EventWithNamespaceButNoComma", R"(2/admin["hello"])", kNotAnEvent},
        RejectCase{"EventNestedBeyondTheDepthLimit", EventNestedTo(kMaxJsonDepth + 1), kNotAnEvent},
        RejectCase{"EventNestedFarBeyondTheDepthLimit", EventNestedTo(100000), kNotAnEvent},
        // Invalid UTF-8 is rejected by the JSON parser wherever it appears.
        RejectCase{"EventNameWithInvalidUtf8Byte", "2[\"\xff\"]", kNotAnEvent},
        RejectCase{"EventArgumentWithTruncatedUtf8", "2[\"x\",\"\xc3\x28\"]", kNotAnEvent},
        RejectCase{"EventArgumentWithOverlongUtf8", "2[\"x\",\"\xc0\xaf\"]", kNotAnEvent},
        RejectCase{"EventArgumentWithUtf8Surrogate", "2[\"x\",\"\xed\xa0\x80\"]", kNotAnEvent},
        RejectCase{"EventObjectKeyWithInvalidUtf8", "2[\"x\",{\"\xfe\":1}]", kNotAnEvent},
        // Unlike JSON.parse, lone UTF-16 surrogate escapes are rejected too, although
        // JSON.stringify in a browser writes them for strings holding lone surrogates.
        RejectCase{"EventArgumentWithLoneHighSurrogateEscape", R"(2["x","\ud800"])", kNotAnEvent},
        RejectCase{"EventArgumentWithLoneLowSurrogateEscape", R"(2["x","\udc00"])", kNotAnEvent},
        RejectCase{"EventArgumentWithRawControlCharacter", "2[\"x\",\"a\nb\"]", kNotAnEvent},
        RejectCase{"AckWithoutId", "3[]", "ACK without an id"},
        RejectCase{"AckInNamespaceWithoutId", "3/admin,[]", "ACK without an id"},
        RejectCase{"AckWithoutPayload", "312", kNotAnAck},
        RejectCase{"AckWithObject", "312{}", kNotAnAck},
        RejectCase{"AckWithTrailingGarbage", "312[]]", kNotAnAck},
        RejectCase{"AckNestedBeyondTheDepthLimit", "31" + NestedArrays(kMaxJsonDepth + 1),
                   kNotAnAck},
        RejectCase{"DisconnectWithObject", "1{}", "DISCONNECT takes no payload"},
        RejectCase{"DisconnectWithText", "1/admin,x", "DISCONNECT takes no payload"},
        RejectCase{"ConnectWithArray", "0[]", kNotAnObject},
        RejectCase{"ConnectWithString", R"(0"token")", kNotAnObject},
        RejectCase{"ConnectWithNull", "0null", kNotAnObject},
        RejectCase{"ConnectWithUnclosedObject", "0{", kNotAnObject},
        RejectCase{"ConnectWithTrailingGarbage", "0{}}", kNotAnObject},
        RejectCase{"ConnectNestedBeyondTheDepthLimit",
                   "0{\"a\":" + NestedArrays(kMaxJsonDepth) + "}", kNotAnObject},
        RejectCase{"ConnectErrorFromClient", R"(4{"message":"x"})",
                   "CONNECT_ERROR is sent by servers only"},
        RejectCase{"BareConnectErrorFromClient", "4", "CONNECT_ERROR is sent by servers only"},
        RejectCase{"BinaryEventWithoutCount", R"(5-["hello"])", "invalid attachment count"},
        RejectCase{"BinaryEventWithoutDash", R"(51["hello"])", "invalid attachment count"},
        RejectCase{"BinaryEventWithCountOnly", "51", "invalid attachment count"},
        RejectCase{"BinaryEventWithNothingAfterType", "5", "invalid attachment count"},
        RejectCase{"BinaryEventWithNamespaceFirst", R"(5/admin,1-["hello"])",
                   "invalid attachment count"},
        RejectCase{"BinaryEventWithOneAttachmentTooMany", R"(51001-["hello"])",
                   "too many attachments"},
        RejectCase{"BinaryEventWithSevenDigitCount", R"(59999999-["hello"])",
                   "too many attachments"},
        RejectCase{"BinaryEventWithOverflowingCount", R"(5184467440737095516161-["hello"])",
                   "invalid attachment count"},
        RejectCase{"BinaryEventWithBadJson", "51-{}", kNotAnEvent},
        // Placeholders must name an attachment that the packet announced (socket.io-parser's
        // "illegal attachments"), or a backend would be handed a dangling reference.
        RejectCase{"PlaceholderInAnEventWithoutAttachments",
                   R"(2["x",{"_placeholder":true,"num":0}])", kBadPlaceholder},
        RejectCase{"PlaceholderInAnAckWithoutAttachments", R"(31[{"_placeholder":true,"num":0}])",
                   kBadPlaceholder},
        RejectCase{"PlaceholderNumberEqualToTheCount", R"(51-["x",{"_placeholder":true,"num":1}])",
                   kBadPlaceholder},
        RejectCase{"PlaceholderNumberFarBeyondTheCount",
                   R"(51-["x",{"_placeholder":true,"num":18446744073709551615}])", kBadPlaceholder},
        RejectCase{"PlaceholderNumberNegative", R"(51-["x",{"_placeholder":true,"num":-1}])",
                   kBadPlaceholder},
        RejectCase{"PlaceholderNumberFractional", R"(52-["x",{"_placeholder":true,"num":0.5}])",
                   kBadPlaceholder},
        RejectCase{"PlaceholderNumberAsString", R"(51-["x",{"_placeholder":true,"num":"0"}])",
                   kBadPlaceholder},
        RejectCase{"PlaceholderNumberAsArray", R"(51-["x",{"_placeholder":true,"num":[0]}])",
                   kBadPlaceholder},
        RejectCase{"PlaceholderWithoutNumber", R"(51-["x",{"_placeholder":true}])",
                   kBadPlaceholder},
        RejectCase{"PlaceholderWithAnExtraKey",
                   R"(51-["x",{"_placeholder":true,"num":0,"toString":1}])", kBadPlaceholder},
        RejectCase{"PlaceholderWithTheFlagTwice",
                   R"(51-["x",{"_placeholder":true,"_placeholder":true}])", kBadPlaceholder},
        RejectCase{"PlaceholderNestedDeepInAnArgument",
                   R"(51-["x",[{"a":{"_placeholder":true,"num":3}}]])", kBadPlaceholder},
        RejectCase{"PlaceholderSpelledWithUnicodeEscapes",
                   R"(2["x",{"_placeholder":true,"num":0}])", kBadPlaceholder},
        RejectCase{"PlaceholderAsTheEventName", R"(51-[{"_placeholder":true,"num":0}])",
                   kNotAnEvent},
        RejectCase{"BinaryAckWithoutCount", "6-456[]", "invalid attachment count"},
        RejectCase{"BinaryAckWithoutId", "61-[]", "ACK without an id"},
        RejectCase{"AckIdOneAbove2To53", R"(29007199254740992["hello"])", "ack id too large"},
        RejectCase{"AckIdWithSeventeenDigits", R"(212345678901234567["hello"])",
                   "ack id too large"},
        RejectCase{"AckIdOverflowingUint64", R"(2123456789012345678901234567890["hello"])",
                   "ack id too large"},
        RejectCase{"AckAckIdOneAbove2To53", "39007199254740992[]", "ack id too large"}),
    [](const auto& info) { return info.param.name; });

// --- EncodePacket --------------------------------------------------------------

struct EncodeCase {
  std::string name;
  Packet packet;
  std::string text;
};

class SocketIoEncodePacketWrites : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(SocketIoEncodePacketWrites, TheV5WireForm) {
  EXPECT_EQ(EncodePacket(GetParam().packet), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(
    SpecExamples, SocketIoEncodePacketWrites,
    ::testing::Values(
        EncodeCase{"ConnectReply", Make(PacketType::kConnect, "/", {}, 0, R"({"sid":"abc"})"),
                   R"(0{"sid":"abc"})"},
        EncodeCase{"ConnectReplyInNamespace",
                   Make(PacketType::kConnect, "/admin", {}, 0, R"({"sid":"abc"})"),
                   R"(0/admin,{"sid":"abc"})"},
        EncodeCase{"ConnectWithoutData", Make(PacketType::kConnect, "/", {}, 0, ""), "0"},
        EncodeCase{"ConnectError",
                   Make(PacketType::kConnectError, "/", {}, 0, R"({"message":"Not authorized"})"),
                   R"(4{"message":"Not authorized"})"},
        EncodeCase{"ConnectErrorInNamespace",
                   Make(PacketType::kConnectError, "/admin", {}, 0, R"({"message":"x"})"),
                   R"(4/admin,{"message":"x"})"},
        EncodeCase{"Disconnect", Make(PacketType::kDisconnect, "/", {}, 0, ""), "1"},
        EncodeCase{"DisconnectInNamespace", Make(PacketType::kDisconnect, "/admin", {}, 0, ""),
                   "1/admin,"},
        EncodeCase{"Event", Make(PacketType::kEvent, "/", {}, 0, R"(["hello",1])"),
                   R"(2["hello",1])"},
        EncodeCase{"EventWithAckId", Make(PacketType::kEvent, "/", 12, 0, R"(["hello"])"),
                   R"(212["hello"])"},
        EncodeCase{"EventWithAckIdZero", Make(PacketType::kEvent, "/", 0, 0, R"(["hello"])"),
                   R"(20["hello"])"},
        EncodeCase{"EventInNamespaceWithAckId",
                   Make(PacketType::kEvent, "/admin", 456, 0, R"(["project:delete",123])"),
                   R"(2/admin,456["project:delete",123])"},
        EncodeCase{"Ack", Make(PacketType::kAck, "/admin", 456, 0, "[]"), "3/admin,456[]"},
        EncodeCase{"BinaryEvent",
                   Make(PacketType::kBinaryEvent, "/", {}, 1,
                        R"(["hello",{"_placeholder":true,"num":0}])"),
                   R"(51-["hello",{"_placeholder":true,"num":0}])"},
        EncodeCase{
            "BinaryAckInNamespace",
            Make(PacketType::kBinaryAck, "/admin", 456, 1, R"([{"_placeholder":true,"num":0}])"),
            R"(61-/admin,456[{"_placeholder":true,"num":0}])"},
        EncodeCase{"LargestAckId", Make(PacketType::kAck, "/", 9007199254740991ULL, 0, "[]"),
                   "39007199254740991[]"}),
    [](const auto& info) { return info.param.name; });

class SocketIoEncodeThenDecode : public ::testing::TestWithParam<EncodeCase> {};

TEST_P(SocketIoEncodeThenDecode, GivesBackTheSamePacket) {
  absl::StatusOr<Packet> decoded = DecodePacket(EncodePacket(GetParam().packet));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, GetParam().packet);
}

// Every packet a client may send; CONNECT_ERROR only travels the other way.
INSTANTIATE_TEST_SUITE_P(
    ClientPackets, SocketIoEncodeThenDecode,
    ::testing::Values(
        EncodeCase{"Connect", Make(PacketType::kConnect, "/", {}, 0, ""), ""},
        EncodeCase{"ConnectWithAuth", Make(PacketType::kConnect, "/admin", {}, 0, R"({"t":1})"),
                   ""},
        EncodeCase{"Disconnect", Make(PacketType::kDisconnect, "/admin", {}, 0, ""), ""},
        EncodeCase{"Event", Make(PacketType::kEvent, "/", {}, 0, R"(["a",1])"), ""},
        EncodeCase{"EventWithAckIdZero", Make(PacketType::kEvent, "/", 0, 0, R"(["a"])"), ""},
        EncodeCase{"EventInNamespaceWithAckId",
                   Make(PacketType::kEvent, "/chat", 9007199254740991ULL, 0, R"(["a",{}])"), ""},
        EncodeCase{"Ack", Make(PacketType::kAck, "/", 3, 0, "[]"), ""},
        EncodeCase{"BinaryEvent",
                   Make(PacketType::kBinaryEvent, "/x", 5, 2,
                        R"(["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}])"),
                   ""},
        EncodeCase{"BinaryAck",
                   Make(PacketType::kBinaryAck, "/", 8, 1, R"([{"_placeholder":true,"num":0}])"),
                   ""}),
    [](const auto& info) { return info.param.name; });

// --- SplitEvent ------------------------------------------------------------------

struct SplitCase {
  std::string name;
  std::string data;
  std::string event_name;
  std::string args;
};

class SplitEventFinds : public ::testing::TestWithParam<SplitCase> {};

TEST_P(SplitEventFinds, TheDecodedNameAndTheArgumentsAsAnArray) {
  absl::StatusOr<EventParts> parts = SplitEvent(GetParam().data);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->name, GetParam().event_name);
  EXPECT_EQ(parts->args, GetParam().args);
  EXPECT_TRUE(ValidateArgs(parts->args).ok()) << "arguments are not a JSON array: " << parts->args;
}

INSTANTIATE_TEST_SUITE_P(
    Events, SplitEventFinds,
    ::testing::Values(
        SplitCase{"NoArguments", R"(["hello"])", "hello", "[]"},
        SplitCase{"OneArgument", R"(["hello",1])", "hello", "[1]"},
        SplitCase{"SeveralArguments", R"(["hello",1,"two",{"three":[3]},null])", "hello",
                  R"([1,"two",{"three":[3]},null])"},
        SplitCase{"ArgumentThatLooksLikeAName", R"(["hello","world"])", "hello", R"(["world"])"},
        SplitCase{"WhitespaceEverywhere", "[ \"hello\" , 1 ,\t2\n]", "hello", "[ 1 ,\t2\n]"},
        SplitCase{"WhitespaceAfterNameOnly", "[\"hello\" \n]", "hello", "[]"},
        SplitCase{"EmptyName", R"(["",1])", "", "[1]"},
        SplitCase{"NameWithCommaAndBracket", R"(["a,b]",1])", "a,b]", "[1]"},
        SplitCase{"NameWithEscapedQuote", R"(["say \"hi\"",1])", "say \"hi\"", "[1]"},
        SplitCase{"NameWithEscapedBackslash", R"(["back\\slash"])", "back\\slash", "[]"},
        SplitCase{"NameEndingInEscapedBackslash", R"(["trailing\\",1])", "trailing\\", "[1]"},
        SplitCase{"NameWithControlEscapes", R"(["a\nb\tc\u0001"])", "a\nb\tc\x01", "[]"},
        SplitCase{"NameWithUnicodeEscape", R"(["\u00e9t\u00e9"])", "\xC3\xA9t\xC3\xA9", "[]"},
        SplitCase{"NameWithSurrogatePairEscape", R"(["\ud83d\ude00"])", "\xF0\x9F\x98\x80", "[]"},
        SplitCase{"NameInRawUtf8", "[\"\xC3\xA9t\xC3\xA9\",\"\xE2\x82\xAC\"]", "\xC3\xA9t\xC3\xA9",
                  "[\"\xE2\x82\xAC\"]"},
        SplitCase{"NameWithEscapedSlash", R"(["a\/b"])", "a/b", "[]"}),
    [](const auto& info) { return info.param.name; });

TEST(SplitEvent, RejectsAnArrayWithoutAName) {
  absl::StatusOr<EventParts> parts = SplitEvent("[]");
  ASSERT_FALSE(parts.ok());
  EXPECT_THAT(parts.status().message(), HasSubstr("event without a name"));
}

TEST(SplitEvent, RejectsANameThatNeverEnds) {
  absl::StatusOr<EventParts> parts = SplitEvent(R"(["hello)");
  ASSERT_FALSE(parts.ok());
  EXPECT_THAT(parts.status().message(), HasSubstr("unterminated event name"));
}

TEST(SplitEvent, RejectsANameEndingInALoneBackslash) {
  absl::StatusOr<EventParts> parts = SplitEvent(R"(["hello\)");
  ASSERT_FALSE(parts.ok());
  EXPECT_THAT(parts.status().message(), HasSubstr("unterminated event name"));
}

TEST(SplitEvent, RejectsANameWithAnInvalidEscape) {
  absl::StatusOr<EventParts> parts = SplitEvent(R"(["bad\q"])");
  ASSERT_FALSE(parts.ok());
  EXPECT_THAT(parts.status().message(), HasSubstr("invalid event name"));
}

TEST(SplitEvent, SplitsWhatDecodePacketAccepted) {
  absl::StatusOr<Packet> packet = DecodePacket(R"(2/admin,456["project:delete",123,{"a":"b"}])");
  ASSERT_TRUE(packet.ok()) << packet.status();
  absl::StatusOr<EventParts> parts = SplitEvent(packet->data);
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ(parts->name, "project:delete");
  EXPECT_EQ(parts->args, R"([123,{"a":"b"}])");
}

// --- JoinEvent ---------------------------------------------------------------------

struct JoinCase {
  std::string name;
  std::string event_name;
  std::string args;
  std::string data;
};

class JoinEventBuilds : public ::testing::TestWithParam<JoinCase> {};

TEST_P(JoinEventBuilds, AnEventArrayWithTheQuotedNameFirst) {
  absl::StatusOr<std::string> data = JoinEvent(GetParam().event_name, GetParam().args);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(*data, GetParam().data);
  EXPECT_TRUE(DecodePacket("2" + *data).ok()) << "not a valid EVENT payload: " << *data;
}

INSTANTIATE_TEST_SUITE_P(
    NamesAndArguments, JoinEventBuilds,
    ::testing::Values(
        JoinCase{"SeveralArguments", "hello", R"([1,"two",{"three":3}])",
                 R"(["hello",1,"two",{"three":3}])"},
        JoinCase{"EmptyArray", "hello", "[]", R"(["hello"])"},
        JoinCase{"EmptyText", "hello", "", R"(["hello"])"},
        JoinCase{"WhitespaceText", "hello", " \n", R"(["hello"])"},
        JoinCase{"ArrayWithOnlyWhitespace", "hello", "[ ]", R"(["hello"])"},
        JoinCase{"ArrayWithNewlines", "hello", "[\n]", R"(["hello"])"},
        JoinCase{"WhitespaceAroundArray", "hello", "  [1]\n", R"(["hello",1])"},
        JoinCase{"WhitespaceInsideArray", "hello", "[ 1 ]", R"(["hello",1 ])"},
        JoinCase{"NestedArrayArgument", "hello", "[[1],[]]", R"(["hello",[1],[]])"},
        JoinCase{"EmptyName", "", "[1]", R"(["",1])"},
        JoinCase{"NameWithQuoteAndBackslash", "say \"hi\" \\o/", "[]", R"(["say \"hi\" \\o/"])"},
        JoinCase{"NameWithControlCharacters", "a\nb\t\x01", "[]", R"(["a\nb\t\u0001"])"},
        JoinCase{"NameInUtf8IsWrittenRaw", "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80", "[]",
                 "[\"\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80\"]"},
        JoinCase{"NameWithInvalidUtf8GetsReplacementCharacters",
                 "a\xff"
                 "b",
                 "[]",
                 "[\"a\xEF\xBF\xBD"
                 "b\"]"}),
    [](const auto& info) { return info.param.name; });

TEST(JoinEvent, GivesBackWhatSplitEventTookApart) {
  for (const std::string& data :
       std::vector<std::string>{R"(["hello"])", R"(["hello",1,{"a":[2]}])", R"(["a\"b\\c",null])",
                                "[\"\xC3\xA9\",\"\xE2\x82\xAC\"]"}) {
    absl::StatusOr<EventParts> parts = SplitEvent(data);
    ASSERT_TRUE(parts.ok()) << parts.status();
    absl::StatusOr<std::string> joined = JoinEvent(parts->name, parts->args);
    ASSERT_TRUE(joined.ok()) << joined.status();
    EXPECT_EQ(*joined, data);
  }
}

struct InvalidArgsCase {
  std::string name;
  std::string args;
};

class ArgumentsThatAreNotAJsonArray : public ::testing::TestWithParam<InvalidArgsCase> {};

TEST_P(ArgumentsThatAreNotAJsonArray, AreRejectedByJoinEvent) {
  absl::StatusOr<std::string> data = JoinEvent("hello", GetParam().args);
  ASSERT_FALSE(data.ok()) << "joined as " << *data;
  EXPECT_EQ(data.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(data.status().message(), HasSubstr("arguments must be a JSON array"));
}

TEST_P(ArgumentsThatAreNotAJsonArray, AreRejectedByValidateArgs) {
  absl::StatusOr<std::string> args = ValidateArgs(GetParam().args);
  ASSERT_FALSE(args.ok()) << "accepted as " << *args;
  EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(args.status().message(), HasSubstr("arguments must be a JSON array"));
}

INSTANTIATE_TEST_SUITE_P(
    BackendMistakes, ArgumentsThatAreNotAJsonArray,
    ::testing::Values(
        InvalidArgsCase{"Object", "{}"}, InvalidArgsCase{"Number", "1"},
        InvalidArgsCase{"String", R"("hello")"}, InvalidArgsCase{"Null", "null"},
        InvalidArgsCase{"UnclosedArray", "[1"}, InvalidArgsCase{"ExtraClosingBracket", "[1]]"},
        InvalidArgsCase{"TwoArrays", "[1][2]"}, InvalidArgsCase{"TrailingGarbage", "[1] x"},
        InvalidArgsCase{"TrailingComma", "[1,]"}, InvalidArgsCase{"BareWords", "[hello]"},
        InvalidArgsCase{"InvalidUtf8", "[\"\xff\"]"},
        InvalidArgsCase{"NestedBeyondTheDepthLimit", NestedArrays(kMaxJsonDepth + 1)}),
    [](const auto& info) { return info.param.name; });

// --- ValidateArgs and IsValidJson ----------------------------------------------------

struct ValidArgsCase {
  std::string name;
  std::string args;
  std::string normalised;
};

class ValidateArgsAccepts : public ::testing::TestWithParam<ValidArgsCase> {};

TEST_P(ValidateArgsAccepts, AnArrayAndReturnsItTrimmed) {
  absl::StatusOr<std::string> args = ValidateArgs(GetParam().args);
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(*args, GetParam().normalised);
}

INSTANTIATE_TEST_SUITE_P(
    Arrays, ValidateArgsAccepts,
    ::testing::Values(ValidArgsCase{"EmptyTextAsEmptyArray", "", "[]"},
                      ValidArgsCase{"WhitespaceAsEmptyArray", " \t\r\n", "[]"},
                      ValidArgsCase{"EmptyArray", "[]", "[]"},
                      ValidArgsCase{"ArrayWithInnerWhitespaceKept", "[ ]", "[ ]"},
                      ValidArgsCase{"SurroundingWhitespaceTrimmed", " \n[1, 2]\t ", "[1, 2]"},
                      ValidArgsCase{"ArrayStartingWithNonString", R"([1,"a",{"b":[]}])",
                                    R"([1,"a",{"b":[]}])"},
                      ValidArgsCase{"NestedExactlyToTheDepthLimit", NestedArrays(kMaxJsonDepth),
                                    NestedArrays(kMaxJsonDepth)}),
    [](const auto& info) { return info.param.name; });

TEST(IsValidJson, AcceptsAnyJsonValueWithinTheDepthLimit) {
  for (const std::string& text :
       std::vector<std::string>{"1", "-1.5e3", R"("x")", "null", "true", "false", "{}", "[]",
                                R"({"a":[1,{"b":null}]})", " [1] ", NestedArrays(kMaxJsonDepth)}) {
    EXPECT_TRUE(IsValidJson(text)) << text;
  }
}

TEST(IsValidJson, RejectsTextThatIsNotOneJsonValue) {
  for (const std::string& text :
       std::vector<std::string>{"", " ", "x", "{", "[1,]", "{'a':1}", "1 2", "[]]", "\"\xff\"",
                                "NaN", NestedArrays(kMaxJsonDepth + 1)}) {
    EXPECT_FALSE(IsValidJson(text)) << text;
  }
}

// --- Socket.IO protocol v4 ----------------------------------------------------

TEST(SplitNamespaceQuery, GivesTheNamespaceAndItsQueryAsAJsonObject) {
  NamespaceQuery query = SplitNamespaceQuery("/custom?token=abc");
  EXPECT_EQ(query.nsp, "/custom");
  EXPECT_EQ(query.auth_json, R"({"token":"abc"})");
}

TEST(SplitNamespaceQuery, GivesAnEmptyObjectWithoutAQuery) {
  for (std::string_view nsp : {"/", "/custom", "/custom?"}) {
    NamespaceQuery query = SplitNamespaceQuery(nsp);
    EXPECT_EQ(query.nsp, nsp.substr(0, nsp.find('?')));
    EXPECT_EQ(query.auth_json, "{}") << nsp;
  }
}

TEST(SplitNamespaceQuery, DecodesValuesAndGathersRepeatedKeysInAnArray) {
  NamespaceQuery query =
      SplitNamespaceQuery("/admin?a=1&b=x%20y+z&a=2&flag&q=%22%5C%E2%82%AC&=ignored");
  EXPECT_EQ(query.nsp, "/admin");
  EXPECT_EQ(query.auth_json,
            "{\"a\":[\"1\",\"2\"],\"b\":\"x y z\",\"flag\":\"\","
            "\"q\":\"\\\"\\\\\xE2\x82\xAC\"}");
}

}  // namespace
}  // namespace sidecar::socketio
