#include <gtest/gtest.h>

#include "sidecar/cluster/redis.h"

namespace sidecar::cluster {
namespace {

TEST(ParseRedisUrl, ReadsHostAndPort) {
  absl::StatusOr<RedisEndpoint> endpoint = ParseRedisUrl("redis://10.0.0.7:6380");
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->host, "10.0.0.7");
  EXPECT_EQ(endpoint->port, 6380);
  EXPECT_EQ(endpoint->password, "");
}

TEST(ParseRedisUrl, DefaultsToPort6379) {
  absl::StatusOr<RedisEndpoint> endpoint = ParseRedisUrl("redis://redis.default.svc");
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->host, "redis.default.svc");
  EXPECT_EQ(endpoint->port, 6379);
}

TEST(ParseRedisUrl, ReadsAPassword) {
  absl::StatusOr<RedisEndpoint> endpoint = ParseRedisUrl("redis://:s3cret@localhost:6379/0");
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_EQ(endpoint->password, "s3cret");
  EXPECT_EQ(endpoint->host, "localhost");
}

TEST(ParseRedisUrl, RefusesOtherSchemesAndMissingHosts) {
  EXPECT_FALSE(ParseRedisUrl("http://localhost:6379").ok());
  EXPECT_FALSE(ParseRedisUrl("localhost:6379").ok());
  EXPECT_FALSE(ParseRedisUrl("redis://").ok());
  EXPECT_FALSE(ParseRedisUrl("redis://host:0").ok());
  EXPECT_FALSE(ParseRedisUrl("").ok());
}

}  // namespace
}  // namespace sidecar::cluster
