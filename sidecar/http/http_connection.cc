#include "sidecar/http/http_connection.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sidecar/http/engineio_handler.h"
#include "sidecar/runtime/log.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::http {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;
// Bytes read but not yet parsed. Bodies move to the request as they are parsed, so this holds at
// most a header, a chunk header or a chunked body's trailer section, for which Beast 1.81 has no
// limit of its own: an endless trailer would grow the buffer without end, and a trailer field
// over 64 kB makes Beast throw.
constexpr size_t kMaxUnparsedBytes = 2 * kMaxHeaderBytes;
constexpr std::chrono::seconds kWriteTimeout{30};

std::string_view ContentType(std::string_view file) {
  absl::string_view path = runtime::ToAbsl(file);
  if (absl::EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (absl::EndsWith(path, ".js") || absl::EndsWith(path, ".mjs"))
    return "text/javascript; charset=utf-8";
  if (absl::EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (absl::EndsWith(path, ".json")) return "application/json";
  if (absl::EndsWith(path, ".png")) return "image/png";
  if (absl::EndsWith(path, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

Response ErrorResponse(const Request& request, http::status status, int code,
                       std::string_view message) {
  Response response(status, request.version());
  response.set(http::field::content_type, "application/json");
  response.body() =
      absl::StrCat(R"({"code":)", code, R"(,"message":")", runtime::ToAbsl(message), R"("})");
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  return response;
}

HttpConnection::HttpConnection(tcp::socket socket, runtime::Shard& shard,
                               const ServerContext& context)
    : stream_(std::move(socket)), shard_(shard), context_(context), buffer_(kMaxUnparsedBytes) {}

void HttpConnection::Start() {
  beast::error_code error;
  tcp::endpoint peer = stream_.socket().remote_endpoint(error);
  if (!error) remote_address_ = absl::StrCat(peer.address().to_string(), ":", peer.port());
  Read();
}

void HttpConnection::Read() {
  parser_.emplace();
  parser_->header_limit(kMaxHeaderBytes);
  parser_->body_limit(context_.options.max_http_buffer_size);
  // An idle keep-alive connection is closed after a ping cycle and a margin.
  stream_.expires_after(context_.options.ping_interval + context_.options.ping_timeout +
                        std::chrono::seconds(10));
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpConnection::OnRead, shared_from_this()));
}

void HttpConnection::OnRead(beast::error_code error, size_t) {
  if (error == http::error::body_limit) {
    Request request = parser_->release();
    request.keep_alive(false);
    Write(ErrorResponse(request, http::status::payload_too_large, 3, "Payload too large"));
    return;
  }
  if (error == http::error::header_limit) {
    Request request;
    request.version(11);
    request.keep_alive(false);
    Write(ErrorResponse(request, http::status::request_header_fields_too_large, 3,
                        "Headers too large"));
    return;
  }
  // A request Beast's parser refuses (e.g. both Content-Length and Transfer-Encoding, a
  // repeated Content-Length, a malformed chunk) is answered, not just dropped.
  if (error.category() == http::make_error_code(http::error::bad_method).category() &&
      error != http::error::end_of_stream && error != http::error::partial_message) {
    runtime::Log(runtime::LogLevel::kDebug, "http ", remote_address_, ": ", error.message());
    Request request;
    request.version(11);
    request.keep_alive(false);
    Write(ErrorResponse(request, http::status::bad_request, 3,
                        absl::StrCat("Bad request: ", error.message())));
    return;
  }
  if (error) {
    if (error != http::error::end_of_stream && error != beast::error::timeout) {
      runtime::Log(runtime::LogLevel::kDebug, "http ", remote_address_, ": ", error.message());
    }
    stream_.socket().shutdown(tcp::socket::shutdown_both, error);
    return;
  }
  stream_.expires_never();
  Route(parser_->release());
}

void HttpConnection::Route(Request request) {
  std::string_view target(request.target().data(), request.target().size());
  std::string_view path = target.substr(0, target.find('?'));
  for (const Endpoint& endpoint : context_.endpoints) {
    std::string_view bare = std::string_view(endpoint.path).substr(0, endpoint.path.size() - 1);
    if (path.starts_with(endpoint.path) || path == bare) {
      HandleEngineIoRequest(context_, endpoint, shared_from_this(), std::move(request));
      return;
    }
  }
  if (!context_.options.static_dir.empty() &&
      (request.method() == http::verb::get || request.method() == http::verb::head)) {
    ServeStatic(request);
    return;
  }
  Write(ErrorResponse(request, http::status::not_found, 3, "Not found"));
}

void HttpConnection::ServeStatic(const Request& request) {
  std::string_view target(request.target().data(), request.target().size());
  boost::system::result<boost::urls::url_view> url = boost::urls::parse_origin_form(target);
  std::string path = url ? std::string(url->path()) : std::string();
  if (path.empty() || path.find("..") != std::string::npos || path[0] != '/') {
    Write(ErrorResponse(request, http::status::bad_request, 3, "Bad path"));
    return;
  }
  if (path.back() == '/') path += "index.html";
  std::ifstream file(context_.options.static_dir + path, std::ios::binary);
  if (!file) {
    Write(ErrorResponse(request, http::status::not_found, 3, "Not found"));
    return;
  }
  std::ostringstream content;
  content << file.rdbuf();
  Response response(http::status::ok, request.version());
  response.set(http::field::content_type, ContentType(path));
  response.set(http::field::cache_control, "no-cache");
  response.body() = std::move(content).str();
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  Write(std::move(response));
}

void HttpConnection::Respond(Response response) {
  boost::asio::dispatch(shard_.io,
                        [self = shared_from_this(), response = std::move(response)]() mutable {
                          self->Write(std::move(response));
                        });
}

void HttpConnection::Write(Response response) {
  response.set(http::field::server, "socketio-sidecar");
  auto holder = std::make_shared<Response>(std::move(response));
  stream_.expires_after(kWriteTimeout);
  http::async_write(stream_, *holder,
                    [self = shared_from_this(), holder](beast::error_code error, size_t) {
                      if (error || !holder->keep_alive()) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
                        return;
                      }
                      self->Read();
                    });
}

void HttpConnection::Upgrade(
    runtime::Shard& target, Request request,
    std::function<void(runtime::Shard&, beast::tcp_stream, Request)> on_moved) {
  if (&target == &shard_) {
    on_moved(shard_, std::move(stream_), std::move(request));
    return;
  }
  // A socket belongs to one io_context: hand the descriptor to the owner's.
  tcp::socket socket = stream_.release_socket();
  beast::error_code error;
  tcp::endpoint local = socket.local_endpoint(error);
  if (error) return;
  int descriptor = socket.release(error);
  if (error) return;
  boost::asio::post(target.io,
                    [&target, protocol = local.protocol(), descriptor, request = std::move(request),
                     on_moved = std::move(on_moved)]() mutable {
                      tcp::socket moved(target.io);
                      beast::error_code error;
                      moved.assign(protocol, descriptor, error);
                      if (error) return;
                      on_moved(target, beast::tcp_stream(std::move(moved)), std::move(request));
                    });
}

}  // namespace sidecar::http
