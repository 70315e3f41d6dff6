#include "sidecar/engineio/raw_echo.h"

namespace sidecar::engineio {
namespace {

class RawEcho : public SessionHandler {
 public:
  explicit RawEcho(Session& session) : session_(session) {}

  void OnMessage(Packet packet) override {
    std::string data = packet.binary ? std::move(packet.data) : "4" + packet.data;
    session_.Send(Frame{std::make_shared<const std::string>(std::move(data)), packet.binary});
  }
  void OnClose(std::string_view) override {}

 private:
  Session& session_;  // owns this handler
};

}  // namespace

std::unique_ptr<SessionHandler> NewRawEcho(std::shared_ptr<Session> session) {
  return std::make_unique<RawEcho>(*session);
}

}  // namespace sidecar::engineio
