#include "sidecar/http/websocket_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sidecar::http::websocket {
namespace {

struct FrameOptions {
  bool fin = true;
  uint8_t rsv = 0;
  bool masked = true;
  // Encode the length in 16 or 64 bits even when a shorter form fits.
  int length_bits = 0;
};

// A client frame as a browser sends it: masked with a fixed key.
std::string ClientFrame(uint8_t opcode, std::string_view payload, FrameOptions options = {}) {
  std::string frame;
  frame.push_back(static_cast<char>((options.fin ? 0x80 : 0) | options.rsv | opcode));
  const char mask_bit = options.masked ? static_cast<char>(0x80) : 0;
  const uint64_t size = payload.size();
  int bits = options.length_bits;
  if (bits == 0) bits = size < 126 ? 7 : size < 65536 ? 16 : 64;
  if (bits == 7) {
    frame.push_back(static_cast<char>(mask_bit | size));
  } else if (bits == 16) {
    frame.push_back(static_cast<char>(mask_bit | 126));
    frame.push_back(static_cast<char>(size >> 8));
    frame.push_back(static_cast<char>(size));
  } else {
    frame.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) frame.push_back(static_cast<char>(size >> (8 * i)));
  }
  const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (options.masked) frame.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    frame.push_back(options.masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i]);
  }
  return frame;
}

std::string CloseFrame(uint16_t code, std::string_view reason = "") {
  std::string payload = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  payload += reason;
  return ClientFrame(kClose, payload);
}

// What a reader made of some input: each event, with the message or control
// payload it carried, until the input ran out or the reader finished.
struct Outcome {
  std::vector<ReadEvent> events;
  std::vector<std::string> payloads;
  std::vector<bool> binary;
  uint16_t close_code = 0;
  uint16_t error_code = 0;
};

Outcome ReadAll(FrameReader& reader, std::string_view input, Outcome outcome = {}) {
  for (;;) {
    ReadEvent event = reader.Next(input);
    if (event == ReadEvent::kNeedMore) return outcome;
    outcome.events.push_back(event);
    switch (event) {
      case ReadEvent::kMessage:
        outcome.binary.push_back(reader.message_binary());
        outcome.payloads.push_back(reader.TakeMessage());
        break;
      case ReadEvent::kPing:
        outcome.payloads.push_back(reader.TakeControlPayload());
        break;
      case ReadEvent::kClose:
        outcome.close_code = reader.close_code();
        return outcome;
      case ReadEvent::kError:
        outcome.error_code = reader.error_code();
        return outcome;
      default:
        break;
    }
  }
}

Outcome Read(std::string_view input, size_t max_message_bytes = 1000) {
  FrameReader reader(max_message_bytes);
  return ReadAll(reader, input);
}

uint16_t ErrorOf(std::string_view input, size_t max_message_bytes = 1000) {
  Outcome outcome = Read(input, max_message_bytes);
  EXPECT_EQ(outcome.events.back(), ReadEvent::kError);
  return outcome.error_code;
}

TEST(WebSocketAcceptKey, MatchesTheExampleOfRfc6455) {
  EXPECT_EQ(AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketFrameHeader, UsesTheShortestLengthEncoding) {
  char header[kMaxHeaderBytes];
  EXPECT_EQ(EncodeFrameHeader(kText, 0, header), 2u);
  EXPECT_EQ(std::string(header, 2), std::string("\x81\x00", 2));
  EXPECT_EQ(EncodeFrameHeader(kBinary, 125, header), 2u);
  EXPECT_EQ(std::string(header, 2), "\x82\x7d");
  EXPECT_EQ(EncodeFrameHeader(kText, 126, header), 4u);
  EXPECT_EQ(std::string(header, 4), std::string("\x81\x7e\x00\x7e", 4));
  EXPECT_EQ(EncodeFrameHeader(kText, 65535, header), 4u);
  EXPECT_EQ(std::string(header, 4), "\x81\x7e\xff\xff");
  EXPECT_EQ(EncodeFrameHeader(kClose, 65536, header), 10u);
  EXPECT_EQ(std::string(header, 10), std::string("\x88\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
}

TEST(WebSocketCloseCode, AcceptsDefinedAndPrivateCodesAndRefusesReservedOnes) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000,
                        3999, 4000, 4999, 5000, 65535}) {
    EXPECT_TRUE(IsValidCloseCode(code)) << code;
  }
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999}) {
    EXPECT_FALSE(IsValidCloseCode(code)) << code;
  }
}

TEST(WebSocketFrameReader, ReadsATextAndABinaryMessageFromOneInput) {
  Outcome outcome = Read(ClientFrame(kText, "42[\"chat\",\"hi\"]") +
                         ClientFrame(kBinary, std::string("\xff\x00", 2)));
  ASSERT_EQ(outcome.events, (std::vector{ReadEvent::kMessage, ReadEvent::kMessage}));
  EXPECT_EQ(outcome.payloads[0], "42[\"chat\",\"hi\"]");
  EXPECT_EQ(outcome.payloads[1], std::string("\xff\x00", 2));
  EXPECT_EQ(outcome.binary, (std::vector{false, true}));
}

TEST(WebSocketFrameReader, ReadsTheSameMessagesWhateverTheInputIsCutInto) {
  const std::string big(70000, 'b');
  const std::string input = ClientFrame(kText, "4one", {.fin = false}) + ClientFrame(kPing, "p") +
                            ClientFrame(kContinuation, " two") + ClientFrame(kBinary, big) +
                            ClientFrame(kText, std::string(300, 't'));
  for (size_t piece : {1, 2, 3, 5, 7, 13, 64, 1000, 65536}) {
    FrameReader reader(100000);
    Outcome outcome;
    for (size_t at = 0; at < input.size(); at += piece) {
      outcome = ReadAll(reader, std::string_view(input).substr(at, piece), std::move(outcome));
    }
    ASSERT_EQ(outcome.events, (std::vector{ReadEvent::kPing, ReadEvent::kMessage,
                                           ReadEvent::kMessage, ReadEvent::kMessage}))
        << "pieces of " << piece;
    EXPECT_EQ(outcome.payloads,
              (std::vector<std::string>{"p", "4one two", big, std::string(300, 't')}));
  }
}

TEST(WebSocketFrameReader, JoinsFragmentsIncludingEmptyOnes) {
  Outcome outcome = Read(
      ClientFrame(kText, "", {.fin = false}) + ClientFrame(kContinuation, "4a", {.fin = false}) +
      ClientFrame(kContinuation, "", {.fin = false}) + ClientFrame(kContinuation, ""));
  ASSERT_EQ(outcome.events, std::vector{ReadEvent::kMessage});
  EXPECT_EQ(outcome.payloads[0], "4a");
}

TEST(WebSocketFrameReader, ReportsPingsAndPongsBetweenFragments) {
  Outcome outcome = Read(ClientFrame(kBinary, "a", {.fin = false}) + ClientFrame(kPong, "x") +
                         ClientFrame(kPing, "") + ClientFrame(kContinuation, "b"));
  ASSERT_EQ(outcome.events, (std::vector{ReadEvent::kPong, ReadEvent::kPing, ReadEvent::kMessage}));
  EXPECT_EQ(outcome.payloads, (std::vector<std::string>{"", "ab"}));
  EXPECT_EQ(outcome.binary, std::vector{true});
}

TEST(WebSocketFrameReader, RefusesWhatRfc6455ForbidsWith1002) {
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "40", {.masked = false})), kProtocolError);
  for (uint8_t rsv : {0x40, 0x20, 0x10}) {
    EXPECT_EQ(ErrorOf(ClientFrame(kText, "40", {.rsv = rsv})), kProtocolError);
  }
  for (uint8_t opcode : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    EXPECT_EQ(ErrorOf(ClientFrame(opcode, "x")), kProtocolError) << int{opcode};
  }
  EXPECT_EQ(ErrorOf(ClientFrame(kPing, std::string(126, 'p'))), kProtocolError);
  EXPECT_EQ(ErrorOf(ClientFrame(kPing, "part", {.fin = false})), kProtocolError);
  EXPECT_EQ(ErrorOf(ClientFrame(kContinuation, "4orphan")), kProtocolError);
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4", {.fin = false}) + ClientFrame(kText, "4")),
            kProtocolError);
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4", {.fin = false}) + ClientFrame(kBinary, "4")),
            kProtocolError);
  // Lengths must use the shortest encoding.
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4x", {.length_bits = 16})), kProtocolError);
  EXPECT_EQ(ErrorOf(ClientFrame(kText, std::string(200, 'x'), {.length_bits = 64})),
            kProtocolError);
}

TEST(WebSocketFrameReader, RefusesABadFrameFromItsFirstTwoBytes) {
  FrameReader reader(1000);
  std::string_view input("\x83\x85", 2);
  EXPECT_EQ(reader.Next(input), ReadEvent::kError);
  EXPECT_EQ(reader.error_code(), kProtocolError);
}

TEST(WebSocketFrameReader, RefusesAnOversizeMessageWith1009BeforeItsPayloadArrives) {
  std::string frame = ClientFrame(kText, std::string(1001, 'm'));
  EXPECT_EQ(ErrorOf(frame.substr(0, 8)), kMessageTooBig);
  EXPECT_EQ(Read(ClientFrame(kText, std::string(1000, 'm'))).events,
            std::vector{ReadEvent::kMessage});
  // Fragments count together.
  EXPECT_EQ(ErrorOf(ClientFrame(kBinary, std::string(600, 'a'), {.fin = false}) +
                    ClientFrame(kContinuation, std::string(401, 'b'))),
            kMessageTooBig);
  // A 64-bit length with its high bit set.
  std::string huge = ClientFrame(kText, "", {.length_bits = 64});
  huge[2] = static_cast<char>(0x80);
  EXPECT_EQ(ErrorOf(huge), kMessageTooBig);
}

TEST(WebSocketFrameReader, RefusesInvalidUtf8InTextWith1007AsSoonAsItArrives) {
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4ok\xff")), kInvalidPayload);
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4\xc0\xaf")), kInvalidPayload);
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4\xed\xa0\x80")), kInvalidPayload);
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4\xf4\x90\x80\x80")), kInvalidPayload);
  // Cut short at the end of the message.
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4\xe2\x82")), kInvalidPayload);
  // In a fragment before the last: no need to wait for the end of the message.
  EXPECT_EQ(ErrorOf(ClientFrame(kText, "4valid", {.fin = false}) +
                    ClientFrame(kContinuation, "\xce\xba\xff", {.fin = false})),
            kInvalidPayload);
  // Fragments that join into an invalid sequence.
  EXPECT_EQ(
      ErrorOf(ClientFrame(kText, "4\xe2", {.fin = false}) + ClientFrame(kContinuation, "\x28\xa1")),
      kInvalidPayload);
}

TEST(WebSocketFrameReader, AcceptsUtf8SplitAcrossFragmentsAndAnyBytesInBinary) {
  Outcome text = Read(ClientFrame(kText, "4\xf0\x9f", {.fin = false}) +
                      ClientFrame(kContinuation, "\x98\x80"));
  ASSERT_EQ(text.events, std::vector{ReadEvent::kMessage});
  EXPECT_EQ(text.payloads[0], "4\xf0\x9f\x98\x80");
  Outcome binary = Read(ClientFrame(kBinary, "\xff\xc0\xaf\xed\xa0\x80"));
  ASSERT_EQ(binary.events, std::vector{ReadEvent::kMessage});
  EXPECT_EQ(binary.payloads[0], "\xff\xc0\xaf\xed\xa0\x80");
}

TEST(WebSocketFrameReader, ReadsACloseFrameAndNothingAfterIt) {
  Outcome outcome = Read(CloseFrame(4000, "bye") + ClientFrame(kText, "4after"));
  EXPECT_EQ(outcome.events, std::vector{ReadEvent::kClose});
  EXPECT_EQ(outcome.close_code, 4000);
  EXPECT_EQ(Read(ClientFrame(kClose, "")).close_code, 1005);

  FrameReader reader(1000);
  std::string input = CloseFrame(1000) + ClientFrame(kText, "4after");
  std::string_view rest = input;
  EXPECT_EQ(reader.Next(rest), ReadEvent::kClose);
  EXPECT_EQ(reader.Next(rest), ReadEvent::kClose);
  EXPECT_TRUE(rest.empty());
}

TEST(WebSocketFrameReader, RefusesABadCloseFrameWith1002) {
  EXPECT_EQ(ErrorOf(ClientFrame(kClose, "\x03")), kProtocolError);
  EXPECT_EQ(ErrorOf(CloseFrame(1005)), kProtocolError);
  EXPECT_EQ(ErrorOf(CloseFrame(2000)), kProtocolError);
  EXPECT_EQ(ErrorOf(CloseFrame(1000, "\xce\xba\xff")), kProtocolError);
}

}  // namespace
}  // namespace sidecar::http::websocket
