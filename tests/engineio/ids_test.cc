// sidecar/runtime/ids.h: the Engine.IO session ids (and Socket.IO socket ids) this
// layer hands out. Kept here because the unit-test build collects tests by layer
// and runtime/ has no folder of its own in it.
#include "sidecar/runtime/ids.h"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sidecar::runtime {
namespace {

using ::testing::Optional;

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

bool IsUrlSafe(char c) { return kAlphabet.find(c) != std::string_view::npos; }

TEST(NewId, IsTwentyUrlSafeCharacters) {
  for (uint32_t shard : {0u, 1u, 7u, 63u}) {
    for (int i = 0; i < 100; ++i) {
      std::string id = NewId(shard);
      ASSERT_EQ(id.size(), 20u) << id;
      for (char c : id) ASSERT_TRUE(IsUrlSafe(c)) << "'" << c << "' in " << id;
    }
  }
}

TEST(NewId, NeverRepeatsOverTenThousandIds) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewId(static_cast<uint32_t>(i % 4));
    ASSERT_TRUE(seen.insert(id).second) << "repeated id " << id << " after " << i << " ids";
  }
}

TEST(NewId, NeverRepeatsAcrossThreads) {
  // Each io thread draws from its own random pool; no two may hand out the same bytes.
  constexpr int kThreads = 4;
  constexpr int kIdsPerThread = 5000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kIdsPerThread; ++i) ids[t].push_back(NewId(0));
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::flat_hash_set<std::string> seen;
  for (const std::vector<std::string>& batch : ids) {
    for (const std::string& id : batch) ASSERT_TRUE(seen.insert(id).second) << "repeated id " << id;
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kThreads * kIdsPerThread));
}

TEST(NewId, UsesTheWholeAlphabetAfterTheShardAndNodeCharacters) {
  // 10000 ids give 150000 random characters, about 2300 of each: a missing
  // character would mean a biased or broken generator.
  std::set<char> used;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewId(0);
    used.insert(id.begin() + 1 + kNodeIdLength, id.end());
  }
  EXPECT_EQ(used.size(), kAlphabet.size());
}

TEST(NewId, StartsWithACharacterNamingTheShard) {
  EXPECT_EQ(NewId(0)[0], 'A');
  EXPECT_EQ(NewId(1)[0], 'B');
  EXPECT_EQ(NewId(26)[0], 'a');
  EXPECT_EQ(NewId(63)[0], '_');
}

TEST(ShardOfId, FindsTheShardThatMadeTheId) {
  constexpr uint32_t kShardCount = 64;
  for (uint32_t shard = 0; shard < kShardCount; ++shard) {
    for (int i = 0; i < 10; ++i) {
      std::string id = NewId(shard);
      EXPECT_THAT(ShardOfId(id, kShardCount), Optional(shard)) << id;
    }
  }
}

TEST(ShardOfId, FindsTheShardWithFewerShardsThanCharacters) {
  EXPECT_THAT(ShardOfId(NewId(0), 1), Optional(0u));
  EXPECT_THAT(ShardOfId(NewId(2), 3), Optional(2u));
}

TEST(ShardOfId, RejectsAnIdNamingAShardBeyondTheShardCount) {
  EXPECT_EQ(ShardOfId(NewId(4), 4), std::nullopt);
  EXPECT_EQ(ShardOfId(NewId(63), 8), std::nullopt);
  EXPECT_EQ(ShardOfId(NewId(0), 0), std::nullopt);
}

TEST(ShardOfId, RejectsIdsOfTheWrongLength) {
  std::string id = NewId(0);
  EXPECT_EQ(ShardOfId("", 4), std::nullopt);
  EXPECT_EQ(ShardOfId("A", 4), std::nullopt);
  EXPECT_EQ(ShardOfId(id.substr(0, 19), 4), std::nullopt);
  EXPECT_EQ(ShardOfId(id + "A", 4), std::nullopt);
}

TEST(ShardOfId, RejectsAnIdWhoseShardCharacterIsOutsideTheAlphabet) {
  for (char first : {'.', '+', '/', '=', ' ', '\0', '\xff'}) {
    std::string id = NewId(0);
    id[0] = first;
    EXPECT_EQ(ShardOfId(id, 64), std::nullopt) << "first character " << static_cast<int>(first);
  }
}

// Only ids this process could have made name a shard: every character counts.
TEST(ShardOfId, RejectsAnIdWithCharactersOutsideTheAlphabet) {
  for (std::string id :
       {std::string("A!!!!!!!!!!!!!!!!!!!"), std::string("AAAAAAAAAAAAAAAAAAA="),
        std::string("AAAAAAAAA AAAAAAAAAA"), std::string("AAAAAAAAAA/AAAAAAAAA")}) {
    ASSERT_EQ(id.size(), 20u);
    EXPECT_EQ(ShardOfId(id, 64), std::nullopt) << id;
  }
}

TEST(NodeOfId, NamesTheNodeThatMadeTheId) {
  std::string id = NewId(3);
  EXPECT_THAT(NodeOfId(id), Optional(std::string_view(LocalNodeId())));
  EXPECT_TRUE(IsLocalId(id));
}

TEST(NodeOfId, TellsIdsOfAnotherNodeApart) {
  std::string id = NewId(0);
  std::string other = LocalNodeId() == "ZZZZ" ? "YYYY" : "ZZZZ";
  id.replace(1, kNodeIdLength, other);
  EXPECT_THAT(NodeOfId(id), Optional(std::string_view(other)));
  EXPECT_FALSE(IsLocalId(id));
}

TEST(NodeOfId, RejectsStringsThatAreNotIds) {
  EXPECT_EQ(NodeOfId(""), std::nullopt);
  EXPECT_EQ(NodeOfId("AAAAAAAAAAAAAAAAAAA="), std::nullopt);
  EXPECT_FALSE(IsLocalId("short"));
}

TEST(NodeId, IsFourCharactersOfTheIdAlphabet) {
  EXPECT_TRUE(IsValidNodeId(NewNodeId()));
  EXPECT_TRUE(IsValidNodeId("a-Z_"));
  EXPECT_FALSE(IsValidNodeId("abc"));
  EXPECT_FALSE(IsValidNodeId("abcde"));
  EXPECT_FALSE(IsValidNodeId("ab.c"));
}

TEST(ShardOfId, ReadsTheSessionIdInsideASocketIoV4NamespaceSocketId) {
  std::string id = NewId(5);
  EXPECT_THAT(ShardOfId("/custom#" + id, 8), Optional(5u));
  EXPECT_THAT(NodeOfId("/custom#" + id), Optional(LocalNodeId()));
  EXPECT_TRUE(IsLocalId("/a#b#" + id));
  EXPECT_EQ(ShardOfId("/custom#", 8), std::nullopt);
  EXPECT_EQ(ShardOfId("/custom#" + id + "x", 8), std::nullopt);
}

}  // namespace
}  // namespace sidecar::runtime
