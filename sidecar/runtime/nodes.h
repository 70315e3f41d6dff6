#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sidecar::runtime {

// Where the other nodes of a cluster serve HTTP, so that a request for a
// session another node owns can be forwarded there. Thread-safe.
class NodeDirectory {
 public:
  virtual ~NodeDirectory() = default;
  // "host:port" of a node seen recently, or nullopt.
  virtual std::optional<std::string> AddressOf(std::string_view node) const = 0;
};

}  // namespace sidecar::runtime
