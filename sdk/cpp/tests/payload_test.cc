// Arguments to and from the wire form: JSON text plus binary attachments.
#include "socketio/payload.h"

#include <gtest/gtest.h>

namespace socketio {
namespace {

namespace pb = ::socketio::sidecar::v1;

pb::Payload Wire(std::string json, std::vector<std::string> binary = {}) {
  pb::Payload payload;
  payload.set_json(std::move(json));
  for (std::string& part : binary) payload.add_binary(std::move(part));
  return payload;
}

TEST(DecodeArgs, ReadsTheJsonArray) {
  absl::StatusOr<Args> args = DecodeArgs(Wire(R"([1,"two",{"three":3}])"));
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(*args, (Args{1, "two", Json{{"three", 3}}}));
}

TEST(DecodeArgs, ReadsEmptyTextAsNoArguments) { EXPECT_EQ(*DecodeArgs(Wire("")), Args{}); }

TEST(DecodeArgs, ReplacesPlaceholdersAtAnyDepthByTheirAttachments) {
  absl::StatusOr<Args> args = DecodeArgs(
      Wire(R"([{"_placeholder":true,"num":1},{"files":[{"_placeholder":true,"num":0}]}])",
           {"\x01\x02", "abc"}));
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ((*args)[0].get_binary(), std::vector<uint8_t>({'a', 'b', 'c'}));
  EXPECT_EQ((*args)[1]["files"][0].get_binary(), std::vector<uint8_t>({1, 2}));
}

TEST(DecodeArgs, LeavesPlaceholderLookalikesAloneWithoutAttachments) {
  EXPECT_EQ(*DecodeArgs(Wire(R"([{"_placeholder":true,"num":0}])")),
            Args{Json({{"_placeholder", true}, {"num", 0}})});
  // With a third key it is data, not a placeholder.
  Args args = *DecodeArgs(Wire(R"([{"_placeholder":true,"num":0,"x":1}])", {"b"}));
  EXPECT_TRUE(args[0].is_object());
}

TEST(DecodeArgs, RefusesAPlaceholderWithoutItsAttachment) {
  for (const char* json :
       {R"([{"_placeholder":true,"num":1}])", R"([{"_placeholder":true,"num":-1}])",
        R"([{"_placeholder":true,"num":0.5}])"}) {
    absl::StatusOr<Args> args = DecodeArgs(Wire(json, {"only one"}));
    EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

TEST(DecodeArgs, RefusesTextThatIsNotAJsonArray) {
  for (const char* json : {"{}", "42", "[1,", "nonsense"}) {
    EXPECT_EQ(DecodeArgs(Wire(json)).status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

TEST(EncodeArgs, TurnsBinaryValuesIntoNumberedPlaceholders) {
  pb::Payload payload =
      EncodeArgs({Json::binary({1}), Json{{"nested", Json::array({Json::binary({2, 3})})}}});
  EXPECT_EQ(payload.json(),
            R"([{"_placeholder":true,"num":0},{"nested":[{"_placeholder":true,"num":1}]}])");
  ASSERT_EQ(payload.binary_size(), 2);
  EXPECT_EQ(payload.binary(0), "\x01");
  EXPECT_EQ(payload.binary(1), "\x02\x03");
}

TEST(EncodeArgs, RoundTripsThroughDecodeArgs) {
  Args args = {"text", 1.5, nullptr, Json{{"blob", Json::binary({0, 255})}}, Json::array()};
  EXPECT_EQ(*DecodeArgs(EncodeArgs(args)), args);
}

TEST(EncodeArgs, ReplacesInvalidUtf8RatherThanFailing) {
  pb::Payload payload = EncodeArgs({std::string("bad \xff byte")});
  EXPECT_EQ(payload.json(), "[\"bad \xEF\xBF\xBD byte\"]");
}

}  // namespace
}  // namespace socketio
