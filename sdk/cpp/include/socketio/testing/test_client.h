#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "socketio/server.h"

namespace socketio::testing {

class FakeSidecar;
struct ClientState;

// Something the server sent this client.
struct Received {
  std::string name;
  Args args;
  std::string nsp;
};

struct ConnectOptions {
  // socket.io-client's `auth`.
  Json auth = Json::object();
  std::vector<std::pair<std::string, std::string>> query{};
  std::vector<std::pair<std::string, std::string>> headers{};
  // A connection state recovery, as socket.io-client 4.6+ reconnecting after
  // its transport dropped (see DropTransport): the socket dropped in that
  // namespace comes back with the same sid, rooms and session, connected at
  // once, and the connect handler sees socket.recovered(). Without one it is a
  // normal connect, as the sidecar gives a fresh socket when there is nothing
  // to recover. Events emitted meanwhile are not replayed by the test client.
  bool recover = false;
};

struct TestClientOptions {
  // Simulates a sidecar run with --always_connect: clients are connected
  // before the connect handler decides, and a refusal disconnects them. The
  // first client of a server sets up its in-memory sidecar; later ones share
  // it, and this setting, whatever theirs.
  bool always_connect = false;
};

// Flask-SocketIO's SocketIOTestClient for the C++ SDK: drives a Server's
// handlers in-process through an in-memory sidecar (rooms, broadcasts,
// sessions, acks both ways, connect decisions), without a network. The
// Server's own dispatch code runs, over the same messages as with the real
// sidecar. Calls are synchronous: when one returns, the handlers it triggered
// have finished and what they emitted can be read with GetReceived. Clients
// of one Server share its in-memory sidecar, so they see each other's
// broadcasts. A Server served by test clients cannot also Run.
class TestClient {
 public:
  explicit TestClient(Server& server, TestClientOptions options = {});
  ~TestClient();  // disconnects from every namespace
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // PERMISSION_DENIED with the handler's message when the connection is
  // refused ("Invalid namespace" for one the server has no handlers for).
  absl::Status Connect(const std::string& nsp = "/", ConnectOptions options = {});
  bool IsConnected(const std::string& nsp = "/") const;
  // The socket id in a namespace ("" when not connected).
  std::string sid(const std::string& nsp = "/") const;
  // The CONNECT_ERROR payload of the last refused Connect: {"message", "data"?}.
  Json connect_error(const std::string& nsp = "/") const;

  // Events the server declared no handler for are dropped, as by the sidecar.
  absl::Status Emit(std::string_view event, Args args = {}, const std::string& nsp = "/");
  absl::Status Send(Json data, const std::string& nsp = "/");
  // Emits with an ack request and returns the handler's ack; NOT_FOUND when
  // none was sent (no handler, or an error no error handler took).
  absl::StatusOr<Args> Call(std::string_view event, Args args = {}, const std::string& nsp = "/");
  // What the server sent to this client in `nsp` since the last call; clears it.
  std::vector<Received> GetReceived(const std::string& nsp = "/");
  absl::Status Disconnect(const std::string& nsp = "/");
  // Simulates the loss of the client's transport with connection state
  // recovery on: the disconnect handler runs ("transport close"), and the
  // socket's sid, rooms and session are kept for a Connect with `recover`.
  absl::Status DropTransport(const std::string& nsp = "/");

  // How this client answers server emits that ask for an ack (Call, emit
  // callbacks). Without one the client never answers, and such emits report
  // it as timed out at once rather than after the ack timeout. Runs while the
  // in-memory sidecar is locked: it must not call this client.
  void OnCall(std::function<Args(const std::string& event, const Args& args)> answer);

 private:
  // The server's ack (when `want_ack` and one was sent).
  absl::StatusOr<std::optional<Args>> SendEvent(std::string_view event, Args args,
                                                const std::string& nsp, bool want_ack);

  std::shared_ptr<FakeSidecar> sidecar_;
  // Guarded by the sidecar's mutex.
  std::unique_ptr<ClientState> state_;
};

}  // namespace socketio::testing
