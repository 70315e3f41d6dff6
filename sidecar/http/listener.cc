#include "sidecar/http/listener.h"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "sidecar/runtime/log.h"

namespace sidecar::http {

using tcp = boost::asio::ip::tcp;

Listener::Listener(const ServerContext& context, boost::asio::io_context& io)
    : context_(context), acceptor_(io) {}

absl::Status Listener::Listen(const tcp::endpoint& endpoint) {
  boost::system::error_code error;
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(boost::asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(boost::asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", endpoint.address().to_string(),
                                               ":", endpoint.port(), ": ", error.message()));
  }
  return absl::OkStatus();
}

uint16_t Listener::port() const {
  boost::system::error_code error;
  return acceptor_.local_endpoint(error).port();
}

void Listener::Start() { Accept(); }

void Listener::Stop() {
  boost::asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
}

namespace {

// Sent, best effort and without blocking, to a client refused for lack of descriptors.
const std::string& AtCapacityResponse() {
  static const std::string response = [] {
    constexpr std::string_view kBody = "{\"code\":3,\"message\":\"Server at capacity\"}\n";
    return absl::StrCat(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Content-Length: ",
        kBody.size(), "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
        absl::string_view(kBody.data(), kBody.size()));
  }();
  return response;
}

}  // namespace

void Listener::Accept() {
  runtime::Shard& shard = context_.shards.at(next_shard_);
  next_shard_ = (next_shard_ + 1) % context_.shards.size();
  acceptor_.async_accept(shard.io, [self = shared_from_this(), &shard](
                                       boost::system::error_code error, tcp::socket socket) {
    if (error == boost::asio::error::operation_aborted) return;
    if (error) {
      // Typically out of descriptors: refuse for now and keep serving.
      runtime::Log(runtime::LogLevel::kWarning, "accept failed: ", error.message());
    } else if (static_cast<size_t>(socket.native_handle()) >= self->context_.options.max_fds) {
      // The kernel hands out the lowest free descriptor, so a high one means the process is
      // near its limit: refuse clearly before accept() starts failing with EMFILE.
      const std::string& refusal = AtCapacityResponse();
      ::send(socket.native_handle(), refusal.data(), refusal.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      socket.close(error);
      if (!self->warned_at_capacity_) {
        runtime::Log(runtime::LogLevel::kWarning, "at capacity (", self->context_.options.max_fds,
                     " descriptors): refusing new connections with 503");
        self->warned_at_capacity_ = true;
      }
    } else {
      self->warned_at_capacity_ = false;
      socket.set_option(tcp::no_delay(true), error);
      boost::asio::post(
          shard.io, [&shard, &context = self->context_, socket = std::move(socket)]() mutable {
            std::make_shared<HttpConnection>(std::move(socket), shard, context)->Start();
          });
    }
    self->Accept();
  });
}

}  // namespace sidecar::http
