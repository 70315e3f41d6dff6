#pragma once

#include <memory>

#include "sidecar/engineio/session.h"

namespace sidecar::engineio {

// Test only: echoes every message back, as the Engine.IO protocol test suite
// expects of a bare Engine.IO server.
std::unique_ptr<SessionHandler> NewRawEcho(std::shared_ptr<Session> session);

}  // namespace sidecar::engineio
