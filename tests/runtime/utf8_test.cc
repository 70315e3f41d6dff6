#include "sidecar/runtime/utf8.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace sidecar::runtime {
namespace {

TEST(Utf8, AcceptsEveryValidSequenceLength) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ASCII, longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"));  // κόσμε
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));                                  // €
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));                              // 😀
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));                              // U+10FFFF
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));                                  // U+D7FF
  EXPECT_TRUE(IsValidUtf8(std::string("nul \0 inside", 12)));
}

TEST(Utf8, RefusesOverlongFormsSurrogatesAndCodePointsAboveTheLast) {
  for (std::string bad :
       {"\xff", "\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf0\x80\x80\xaf",
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "ascii first, then \xe2\x28\xa1"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
    EXPECT_EQ(Utf8ValidPrefix(bad), std::nullopt) << bad;
  }
}

TEST(Utf8, ValidPrefixStopsBeforeASequenceThatIsOnlyCutShort) {
  EXPECT_EQ(Utf8ValidPrefix("4\xe2\x82"), 1u);
  EXPECT_EQ(Utf8ValidPrefix("abcdefghij\xf0\x9f\x98"), 10u);
  EXPECT_FALSE(IsValidUtf8("4\xe2\x82"));
  // Cut short, but already wrong: a surrogate's second byte.
  EXPECT_EQ(Utf8ValidPrefix("4\xed\xa0"), std::nullopt);
}

TEST(Utf8, SequenceReportsItsLengthOrWhyNot) {
  EXPECT_EQ(Utf8Sequence("a"), 1);
  EXPECT_EQ(Utf8Sequence("\xc3\xa9!"), 2);
  EXPECT_EQ(Utf8Sequence("\xf0\x9f\x98\x80"), 4);
  EXPECT_EQ(Utf8Sequence("\xf0\x9f"), kUtf8Incomplete);
  EXPECT_EQ(Utf8Sequence("\xf0\x8f"), kUtf8Invalid);
}

}  // namespace
}  // namespace sidecar::runtime
