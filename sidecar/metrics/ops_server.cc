#include "sidecar/metrics/ops_server.h"

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace sidecar::metrics {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

constexpr std::chrono::seconds kIdleTimeout{60};

// One keep-alive connection: read a request, answer, repeat.
class OpsConnection : public std::enable_shared_from_this<OpsConnection> {
 public:
  OpsConnection(tcp::socket socket, const OpsHandlers& handlers)
      : stream_(std::move(socket)), handlers_(handlers) {}

  void Read() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       if (error) return self->Close();
                       self->Answer();
                     });
  }

 private:
  void Answer() {
    auto response =
        std::make_shared<http::response<http::string_body>>(http::status::ok, request_.version());
    response->set(http::field::content_type, "text/plain; charset=utf-8");
    std::string_view target(request_.target().data(), request_.target().size());
    target = target.substr(0, target.find('?'));
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response->result(http::status::method_not_allowed);
      response->body() = "GET only\n";
    } else if (target == "/healthz") {
      response->body() = "ok\n";
    } else if (target == "/readyz") {
      std::string reason = handlers_.not_ready_reason();
      if (reason.empty()) {
        response->body() = "ready\n";
      } else {
        response->result(http::status::service_unavailable);
        response->body() = absl::StrCat("not ready: ", reason, "\n");
      }
    } else if (target == "/metrics") {
      response->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response->body() = handlers_.render_metrics();
    } else {
      response->result(http::status::not_found);
      response->body() = "not found: try /healthz, /readyz or /metrics\n";
    }
    response->keep_alive(request_.keep_alive());
    response->prepare_payload();
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code error, size_t) {
                        if (error || !response->keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  beast::tcp_stream stream_;
  const OpsHandlers& handlers_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
};

}  // namespace

OpsServer::OpsServer(OpsHandlers handlers) : handlers_(std::move(handlers)), acceptor_(io_) {}

OpsServer::~OpsServer() { Stop(); }

absl::Status OpsServer::Listen(const tcp::endpoint& endpoint) {
  beast::error_code error;
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve /healthz, /readyz and /metrics on ", endpoint.address().to_string(), ":",
        endpoint.port(), ": ", error.message(), " (choose another --ops_port, or 0 for none)"));
  }
  return absl::OkStatus();
}

uint16_t OpsServer::port() const {
  beast::error_code error;
  return acceptor_.local_endpoint(error).port();
}

void OpsServer::Start() {
  Accept();
  thread_ = std::thread([this] { io_.run(); });
}

void OpsServer::Stop() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
}

void OpsServer::Accept() {
  acceptor_.async_accept([this](beast::error_code error, tcp::socket socket) {
    if (error == boost::asio::error::operation_aborted) return;
    if (!error) std::make_shared<OpsConnection>(std::move(socket), handlers_)->Read();
    Accept();
  });
}

}  // namespace sidecar::metrics
