#include "sidecar/runtime/log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sidecar::runtime {
namespace {

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

TEST(AppendJsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Quoted("plain"), R"("plain")");
  EXPECT_EQ(Quoted(R"(say "hi" \ bye)"), R"("say \"hi\" \\ bye")");
  EXPECT_EQ(Quoted("line\nbreak\x01"), R"("line\u000abreak\u0001")");
}

TEST(AppendJsonString, ProducesWhatAJsonParserReadsBack) {
  std::string text = "tab\there \"quoted\" \\ and \x1f end";
  EXPECT_EQ(nlohmann::json::parse(Quoted(text)).get<std::string>(), text);
}

}  // namespace
}  // namespace sidecar::runtime
