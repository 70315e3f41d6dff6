#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The query of an Engine.IO request, as a pure function over the request target.
namespace sidecar::http {

struct EngineIoQuery {
  // The last value of each Engine.IO parameter; empty when absent.
  std::string eio;
  std::string transport;
  std::string sid;
  // Every parameter, percent-decoded, in order (the handshake hands them to backends).
  std::vector<std::pair<std::string, std::string>> params;
};

// Reads the query of an origin-form target (`/socket.io/?EIO=4&transport=polling`);
// nullopt when the target is not one (RFC 9112 section 3.2.1).
std::optional<EngineIoQuery> ParseEngineIoQuery(std::string_view target);

}  // namespace sidecar::http
