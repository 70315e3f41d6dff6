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

}  // namespace

std::string NewId(uint32_t shard) {
  std::array<uint8_t, kIdLength - 1> random;
  RandomBytes(random.data(), random.size());
  std::string id(kIdLength, '\0');
  id[0] = kAlphabet[shard % kAlphabet.size()];
  for (size_t i = 1; i < kIdLength; ++i) id[i] = kAlphabet[random[i - 1] & 63];
  return id;
}

std::optional<uint32_t> ShardOfId(std::string_view id, uint32_t shard_count) {
  if (id.size() != kIdLength) return std::nullopt;
  for (char c : id) {
    if (kAlphabet.find(c) == std::string_view::npos) return std::nullopt;
  }
  size_t index = kAlphabet.find(id[0]);
  if (index >= shard_count) return std::nullopt;
  return static_cast<uint32_t>(index);
}

}  // namespace sidecar::runtime
