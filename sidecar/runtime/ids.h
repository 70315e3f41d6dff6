#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sidecar::runtime {

// Engine.IO session ids and Socket.IO socket ids: 20 URL-safe characters. The
// first names the shard that owns the id and the next four the node (sidecar
// process) that made it, so a command or request for an id finds its owner
// without a lookup table or lock, across a cluster too; the remaining 15 come
// from the kernel's CSPRNG.
std::string NewId(uint32_t shard);
// Socket.IO v4 clients (socket.io-client 2.x) expect the socket id of namespace
// `/nsp` to be `/nsp#<session id>`: such an id names the owner of its session id.

// The shard an id names, or nullopt for an id this process could not have made.
std::optional<uint32_t> ShardOfId(std::string_view id, uint32_t shard_count);

// Node ids are four characters of the id alphabet. The local one is random
// unless set (once, at startup, before any id is made).
constexpr size_t kNodeIdLength = 4;
std::string NewNodeId();
bool IsValidNodeId(std::string_view node);
void SetLocalNodeId(std::string_view node);
const std::string& LocalNodeId();

// The node an id names, or nullopt for a string that is not an id.
std::optional<std::string_view> NodeOfId(std::string_view id);
bool IsLocalId(std::string_view id);

}  // namespace sidecar::runtime
