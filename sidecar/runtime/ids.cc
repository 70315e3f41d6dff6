#include "sidecar/runtime/ids.h"

#include <sys/random.h>

#include <array>
#include <cstring>

namespace sidecar::runtime {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kIdLength = 20;

// Refilling a thread-local pool keeps id generation to one syscall per ~200 ids.
void RandomBytes(uint8_t* out, size_t n) {
  thread_local std::array<uint8_t, 4096> pool;
  thread_local size_t used = pool.size();
  if (used + n > pool.size()) {
    size_t filled = 0;
    while (filled < pool.size()) {
      ssize_t got = getrandom(pool.data() + filled, pool.size() - filled, 0);
      if (got > 0) filled += static_cast<size_t>(got);
    }
    used = 0;
  }
  std::memcpy(out, pool.data() + used, n);
  used += n;
}

void FillRandom(char* out, size_t n) {
  std::array<uint8_t, kIdLength> random;
  RandomBytes(random.data(), n);
  for (size_t i = 0; i < n; ++i) out[i] = kAlphabet[random[i] & 63];
}

bool InAlphabet(std::string_view text) {
  return text.find_first_not_of(kAlphabet) == std::string_view::npos;
}

// The session id inside a `/nsp#<session id>` socket id; other ids as they are.
std::string_view BaseId(std::string_view id) {
  size_t hash = id.rfind('#');
  return hash == std::string_view::npos ? id : id.substr(hash + 1);
}

std::string& LocalNode() {
  static std::string node = NewNodeId();
  return node;
}

}  // namespace

std::string NewNodeId() {
  std::string node(kNodeIdLength, '\0');
  FillRandom(node.data(), node.size());
  return node;
}

bool IsValidNodeId(std::string_view node) {
  return node.size() == kNodeIdLength && InAlphabet(node);
}

void SetLocalNodeId(std::string_view node) { LocalNode() = std::string(node); }

const std::string& LocalNodeId() { return LocalNode(); }

std::string NewId(uint32_t shard) {
  std::string id(kIdLength, '\0');
  id[0] = kAlphabet[shard % kAlphabet.size()];
  LocalNode().copy(id.data() + 1, kNodeIdLength);
  FillRandom(id.data() + 1 + kNodeIdLength, kIdLength - 1 - kNodeIdLength);
  return id;
}

std::optional<std::string_view> NodeOfId(std::string_view id) {
  id = BaseId(id);
  if (id.size() != kIdLength || !InAlphabet(id)) return std::nullopt;
  return id.substr(1, kNodeIdLength);
}

bool IsLocalId(std::string_view id) { return NodeOfId(id) == LocalNode(); }

std::optional<uint32_t> ShardOfId(std::string_view id, uint32_t shard_count) {
  id = BaseId(id);
  if (id.size() != kIdLength || !InAlphabet(id)) return std::nullopt;
  size_t index = kAlphabet.find(id[0]);
  if (index >= shard_count) return std::nullopt;
  return static_cast<uint32_t>(index);
}

}  // namespace sidecar::runtime
