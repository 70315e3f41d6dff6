#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "sidecar/http/http_connection.h"

namespace sidecar::http {

// Marks a request one replica forwarded to another, so it is never forwarded twice.
inline constexpr char kForwardedHeader[] = "X-Sidecar-Forwarded";

// Cluster mode without sticky sessions: a request for a session another
// replica owns is relayed to that replica at `address` ("host:port"). A
// polling request is sent there and its response relayed back (within
// `timeout`); a WebSocket upgrade turns the connection into a byte pipe to
// the owner. An unreachable owner gets the client a 502.
void ForwardPoll(std::shared_ptr<HttpConnection> connection, Request request, std::string address,
                 std::chrono::milliseconds timeout);
void ForwardUpgrade(std::shared_ptr<HttpConnection> connection, Request request,
                    std::string address);

}  // namespace sidecar::http
