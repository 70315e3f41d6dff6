#include "sidecar/http/forward.h"

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "sidecar/runtime/log.h"

namespace sidecar::http {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using runtime::Log;
using runtime::LogLevel;

constexpr std::chrono::seconds kConnectTimeout{5};
// Polling responses carry at most maxPayload bytes, compressed or not.
constexpr size_t kMaxForwardedBody = 64 * 1024 * 1024;

// "host:port" or "[v6]:port".
std::pair<std::string, std::string> SplitAddress(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return {address, "80"};
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return {host, address.substr(colon + 1)};
}

Response BadGateway(const Request& request) {
  return ErrorResponse(request, http::status::bad_gateway, 1,
                       "The replica that owns this session cannot be reached");
}

// One polling request relayed to the session's owner.
class PollForwarder : public std::enable_shared_from_this<PollForwarder> {
 public:
  PollForwarder(std::shared_ptr<HttpConnection> connection, Request request, std::string address,
                std::chrono::milliseconds timeout)
      : connection_(std::move(connection)),
        request_(std::move(request)),
        address_(std::move(address)),
        timeout_(timeout),
        resolver_(connection_->shard().io),
        upstream_(connection_->shard().io) {}

  void Start() {
    client_keep_alive_ = request_.keep_alive();
    request_.set(kForwardedHeader, "1");
    request_.keep_alive(false);
    request_.prepare_payload();
    auto [host, port] = SplitAddress(address_);
    resolver_.async_resolve(
        host, port,
        [self = shared_from_this()](beast::error_code error, tcp::resolver::results_type results) {
          if (error) return self->Fail(error);
          self->upstream_.expires_after(kConnectTimeout);
          self->upstream_.async_connect(results, [self](beast::error_code error, const auto&) {
            if (error) return self->Fail(error);
            self->Send();
          });
        });
  }

 private:
  void Send() {
    upstream_.expires_after(timeout_);
    http::async_write(upstream_, request_,
                      [self = shared_from_this()](beast::error_code error, size_t) {
                        if (error) return self->Fail(error);
                        self->parser_.body_limit(kMaxForwardedBody);
                        http::async_read(self->upstream_, self->buffer_, self->parser_,
                                         [self](beast::error_code error, size_t) {
                                           if (error) return self->Fail(error);
                                           Response response = self->parser_.release();
                                           response.keep_alive(self->client_keep_alive_);
                                           self->connection_->Respond(std::move(response));
                                         });
                      });
  }

  void Fail(beast::error_code error) {
    Log(LogLevel::kWarning, "forwarding a request to ", address_, " failed: ", error.message());
    request_.keep_alive(client_keep_alive_);
    connection_->Respond(BadGateway(request_));
  }

  std::shared_ptr<HttpConnection> connection_;
  Request request_;
  std::string address_;
  std::chrono::milliseconds timeout_;
  bool client_keep_alive_ = true;
  tcp::resolver resolver_;
  beast::tcp_stream upstream_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

// A WebSocket connection spliced to the session's owner: the upgrade request
// goes there, then bytes flow both ways until either side closes.
class Splice : public std::enable_shared_from_this<Splice> {
 public:
  Splice(beast::tcp_stream client, Request request, std::string address)
      : client_(std::move(client)),
        request_(std::move(request)),
        address_(std::move(address)),
        resolver_(client_.get_executor()),
        upstream_(client_.get_executor()) {}

  void Start() {
    request_.set(kForwardedHeader, "1");
    auto [host, port] = SplitAddress(address_);
    resolver_.async_resolve(
        host, port,
        [self = shared_from_this()](beast::error_code error, tcp::resolver::results_type results) {
          if (error) return self->Fail(error);
          self->upstream_.expires_after(kConnectTimeout);
          self->upstream_.async_connect(results, [self](beast::error_code error, const auto&) {
            if (error) return self->Fail(error);
            self->SendUpgrade();
          });
        });
  }

 private:
  struct Direction {
    beast::tcp_stream* from;
    beast::tcp_stream* to;
    std::array<char, 16384> buffer;
  };

  void SendUpgrade() {
    http::async_write(upstream_, request_,
                      [self = shared_from_this()](beast::error_code error, size_t) {
                        if (error) return self->Fail(error);
                        self->upstream_.expires_never();
                        self->client_.expires_never();
                        self->Pump(self->to_upstream_);
                        self->Pump(self->to_client_);
                      });
  }

  void Pump(Direction& direction) {
    direction.from->async_read_some(
        boost::asio::buffer(direction.buffer),
        [self = shared_from_this(), &direction](beast::error_code error, size_t bytes) {
          if (error) return self->Close();
          boost::asio::async_write(*direction.to, boost::asio::buffer(direction.buffer, bytes),
                                   [self, &direction](beast::error_code error, size_t) {
                                     if (error) return self->Close();
                                     self->Pump(direction);
                                   });
        });
  }

  void Close() {
    beast::error_code ignored;
    client_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    upstream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    client_.close();
    upstream_.close();
  }

  void Fail(beast::error_code error) {
    Log(LogLevel::kWarning, "forwarding a WebSocket to ", address_, " failed: ", error.message());
    auto response = std::make_shared<Response>(BadGateway(request_));
    response->keep_alive(false);
    http::async_write(
        client_, *response,
        [self = shared_from_this(), response](beast::error_code, size_t) { self->Close(); });
  }

  beast::tcp_stream client_;
  Request request_;
  std::string address_;
  tcp::resolver resolver_;
  beast::tcp_stream upstream_;
  Direction to_upstream_{&client_, &upstream_, {}};
  Direction to_client_{&upstream_, &client_, {}};
};

}  // namespace

void ForwardPoll(std::shared_ptr<HttpConnection> connection, Request request, std::string address,
                 std::chrono::milliseconds timeout) {
  std::make_shared<PollForwarder>(std::move(connection), std::move(request), std::move(address),
                                  timeout)
      ->Start();
}

void ForwardUpgrade(std::shared_ptr<HttpConnection> connection, Request request,
                    std::string address) {
  runtime::Shard& shard = connection->shard();
  connection->Upgrade(
      shard, std::move(request),
      [address = std::move(address)](runtime::Shard&, beast::tcp_stream stream, Request request) {
        std::make_shared<Splice>(std::move(stream), std::move(request), address)->Start();
      });
}

}  // namespace sidecar::http
