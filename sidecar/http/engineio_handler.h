#pragma once

#include <memory>

#include "sidecar/http/http_connection.h"

namespace sidecar::http {

// Serves one Engine.IO request (handshake, poll, post, or WebSocket upgrade)
// arriving on `connection` for `endpoint`.
void HandleEngineIoRequest(const ServerContext& context, const Endpoint& endpoint,
                           std::shared_ptr<HttpConnection> connection, Request request);

}  // namespace sidecar::http
