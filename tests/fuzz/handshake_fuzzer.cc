// What a client's first bytes go through before a session exists: Beast's request parser with
// the sidecar's header and body limits, then the Engine.IO query and the Origin check. Nothing
// may crash; a query that parses keeps the Engine.IO parameters among its parameters.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "sidecar/config/options.h"
#include "sidecar/http/cors.h"
#include "sidecar/http/query.h"

namespace {

namespace http = boost::beast::http;

std::string_view View(boost::beast::string_view text) { return {text.data(), text.size()}; }

void CheckQuery(std::string_view target) {
  std::optional<sidecar::http::EngineIoQuery> query = sidecar::http::ParseEngineIoQuery(target);
  if (!query) return;
  for (const std::string* value : {&query->eio, &query->transport, &query->sid}) {
    if (value->empty()) continue;
    bool listed = false;
    for (const auto& [key, param] : query->params) listed = listed || param == *value;
    if (!listed) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Any bytes as a request target, and the same bytes as a whole request.
  CheckQuery(bytes);
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1'000'000);
  parser.eager(true);
  boost::beast::error_code error;
  size_t used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), error);
  if (used > bytes.size()) std::abort();
  if (!parser.is_header_done()) return 0;
  const auto& request = parser.get();
  CheckQuery(View(request.target()));
  sidecar::config::CorsPolicy policies[3];
  policies[1].mode = sidecar::config::CorsPolicy::Mode::kAny;
  policies[2].mode = sidecar::config::CorsPolicy::Mode::kList;
  policies[2].origins = {"http://app.example"};
  for (const sidecar::config::CorsPolicy& policy : policies) {
    sidecar::http::CorsDecision decision = sidecar::http::CheckOrigin(
        policy, View(request[http::field::origin]), View(request[http::field::host]));
    if (!decision.allowed && !decision.allow_origin.empty()) std::abort();
  }
  return 0;
}
