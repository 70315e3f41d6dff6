#pragma once

#include <string>
#include <string_view>

#include "sidecar/config/options.h"

namespace sidecar::http {

struct CorsDecision {
  bool allowed = true;
  // Value for Access-Control-Allow-Origin; empty to send no CORS headers.
  std::string allow_origin;
};

// Applies Flask-SocketIO's cors_allowed_origins rules to a request's Origin
// (empty when the request has none, as non-browser clients send) and Host.
CorsDecision CheckOrigin(const config::CorsPolicy& policy, std::string_view origin,
                         std::string_view host);

}  // namespace sidecar::http
