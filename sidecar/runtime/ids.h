#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidecar::runtime {

// Engine.IO session ids and Socket.IO socket ids: 20 URL-safe characters from
// the kernel's CSPRNG. The first character names the shard that owns the id, so
// a command or request for an id finds its owner without a lookup table or lock.
std::string NewId(uint32_t shard);

// The shard an id names, or nullopt for an id this process could not have made.
std::optional<uint32_t> ShardOfId(std::string_view id, uint32_t shard_count);

}  // namespace sidecar::runtime
