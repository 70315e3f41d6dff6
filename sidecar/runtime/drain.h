#pragma once

#include <chrono>

#include "sidecar/runtime/shards.h"

namespace sidecar::runtime {

// A graceful shutdown's middle part: closes every client's Engine.IO
// transport, spread evenly over `window` so that reconnecting clients do not
// all land on the other replicas at once. A session whose handler still has
// work pending (acks a backend owes its client) is closed once that is done,
// or at `deadline`. Closing the transport, not sending a Socket.IO
// DISCONNECT, lets clients reconnect on their own. Returns when every
// session is gone or at the deadline.
void DrainSessions(Shards& shards, std::chrono::milliseconds window,
                   std::chrono::steady_clock::time_point deadline);

}  // namespace sidecar::runtime
