#include "sidecar/http/engineio_handler.h"

#include <zlib.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sidecar/engineio/packet.h"
#include "sidecar/http/cors.h"
#include "sidecar/http/forward.h"
#include "sidecar/http/query.h"
#include "sidecar/http/websocket_connection.h"
#include "sidecar/runtime/ids.h"
#include "sidecar/runtime/log.h"
#include "sidecar/runtime/strings.h"

namespace sidecar::http {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Engine.IO error codes, as the Node server sends them.
enum ErrorCode {
  kUnknownTransport = 0,
  kUnknownSid = 1,
  kBadHandshakeMethod = 2,
  kBadRequest = 3,
  kForbidden = 4,
  kUnsupportedProtocolVersion = 5,
};

// What a response needs to know about its request, captured so the response
// can be built on another shard or later.
struct ReplyInfo {
  unsigned version = 11;
  bool keep_alive = true;
  std::string allow_origin;
  bool credentials = false;
  std::string accept_encoding;
};

void Decorate(Response& response, const ReplyInfo& info) {
  if (!info.allow_origin.empty()) {
    response.set(http::field::access_control_allow_origin, info.allow_origin);
    if (info.credentials) response.set(http::field::access_control_allow_credentials, "true");
    response.set(http::field::vary, "Origin");
  }
  response.keep_alive(info.keep_alive);
}

Response Error(const ReplyInfo& info, http::status status, int code, std::string_view message) {
  Request request;
  request.version(info.version);
  request.keep_alive(info.keep_alive);
  Response response = ErrorResponse(request, status, code, message);
  Decorate(response, info);
  return response;
}

Response Error(const ReplyInfo& info, int code, std::string_view message) {
  return Error(info, http::status::bad_request, code, message);
}

// gzip or zlib-wrapped deflate through zlib; nullopt if compression failed.
std::optional<std::string> Compress(std::string_view body, bool gzip) {
  z_stream stream{};
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 31 : 15, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&stream, body.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  stream.avail_in = static_cast<uInt>(body.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  int result = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (result != Z_STREAM_END) return std::nullopt;
  return out;
}

Response TextResponse(const config::Options& options, const ReplyInfo& info, std::string body,
                      std::string_view content_type = "text/plain; charset=UTF-8") {
  Response response(http::status::ok, info.version);
  response.set(http::field::content_type, content_type);
  if (options.http_compression && body.size() >= options.compression_threshold) {
    bool gzip = absl::StrContains(info.accept_encoding, "gzip");
    if (gzip || absl::StrContains(info.accept_encoding, "deflate")) {
      if (std::optional<std::string> compressed = Compress(body, gzip)) {
        body = *std::move(compressed);
        response.set(http::field::content_encoding, gzip ? "gzip" : "deflate");
      }
    }
  }
  response.body() = std::move(body);
  Decorate(response, info);
  response.prepare_payload();
  return response;
}

// The polling request's Engine.IO parameters.
struct PollParams {
  int protocol = 4;
  // v3 JSONP polling: the `j` index, empty for XHR polling.
  std::optional<std::string> jsonp;
  bool b64 = false;
};

// A GET's answer: a v3 binary payload, a JSONP script, or text.
Response PollResponse(const config::Options& options, const ReplyInfo& info,
                      const PollParams& params, engineio::Session::PollBody body) {
  if (params.jsonp) {
    return TextResponse(options, info, engineio::JsonpScript(*params.jsonp, body.data),
                        "text/javascript; charset=UTF-8");
  }
  if (body.binary) {
    return TextResponse(options, info, std::move(body.data), "application/octet-stream");
  }
  return TextResponse(options, info, std::move(body.data));
}

std::string Lower(std::string_view text) { return absl::AsciiStrToLower(runtime::ToAbsl(text)); }

std::shared_ptr<const pb::Handshake> MakeHandshake(const Request& request,
                                                   const EngineIoQuery& query,
                                                   const std::string& remote_address,
                                                   std::string_view transport, int protocol) {
  auto handshake = std::make_shared<pb::Handshake>();
  for (const auto& field : request) {
    auto* header = handshake->add_headers();
    header->set_key(
        Lower(std::string_view(field.name_string().data(), field.name_string().size())));
    header->set_value(std::string(field.value()));
  }
  for (const auto& [key, value] : query.params) {
    auto* param = handshake->add_query();
    param->set_key(key);
    param->set_value(value);
  }
  handshake->set_remote_address(remote_address);
  handshake->set_url(std::string(request.target()));
  handshake->set_issued_unix_ms(absl::ToUnixMillis(absl::Now()));
  handshake->set_transport(std::string(transport));
  handshake->set_eio(protocol);
  return handshake;
}

std::shared_ptr<engineio::Session> CreateSession(const ServerContext& context,
                                                 const Endpoint& endpoint, runtime::Shard& shard,
                                                 std::shared_ptr<const pb::Handshake> handshake,
                                                 const PollParams& params) {
  const config::Options& options = context.options;
  engineio::SessionConfig config;
  config.protocol = params.protocol;
  config.binary_payloads = !params.b64 && !params.jsonp;
  config.ping_interval = options.ping_interval;
  config.ping_timeout = options.ping_timeout;
  config.max_payload = options.max_http_buffer_size;
  config.allow_upgrades = options.allow_upgrades && options.allow_websocket;
  config.monitor_clients = options.monitor_clients;
  config.max_outbound_queue = options.max_outbound_queue;
  config.max_outbound_bytes = options.max_outbound_bytes;
  config.metrics = &shard.metrics;
  std::string sid = runtime::NewId(shard.index);
  auto session = std::make_shared<engineio::Session>(
      shard.timers, sid, config, [&shard](const std::string& sid) { shard.sessions.erase(sid); });
  shard.sessions.emplace(session->sid(), session);
  session->set_handler(endpoint.new_handler(shard, session, std::move(handshake)));
  return session;
}

std::string SetCookie(const config::Options& options, std::string_view sid) {
  if (options.cookie.empty()) return "";
  return absl::StrCat(options.cookie, "=", runtime::ToAbsl(sid),
                      "; Path=/; HttpOnly; SameSite=Lax");
}

void ServePoll(const ServerContext& context, std::shared_ptr<HttpConnection> connection,
               Request request, const ReplyInfo& info, const PollParams& params, std::string sid,
               runtime::Shard& owner) {
  boost::asio::post(owner.io, [&context, &owner, connection = std::move(connection),
                               request = std::move(request), info, params, sid = std::move(sid)] {
    auto found = owner.sessions.find(sid);
    if (found == owner.sessions.end()) {
      connection->Respond(Error(info, kUnknownSid, "Session ID unknown"));
      return;
    }
    std::shared_ptr<engineio::Session> session = found->second;
    absl::Status status;
    if (session->protocol() != params.protocol) {
      status = absl::InvalidArgumentError("EIO differs from the session's");
    } else if (request.method() == http::verb::get) {
      status = session->HandlePollGet(
          [&context, connection, info, params](engineio::Session::PollBody body) {
            connection->Respond(PollResponse(context.options, info, params, std::move(body)));
          });
    } else if (request.method() == http::verb::post) {
      if (params.jsonp) {
        absl::StatusOr<std::string> payload = engineio::DecodeJsonpBody(request.body());
        status = payload.ok() ? session->HandlePollPost(*payload) : payload.status();
      } else {
        bool binary =
            absl::StartsWith(runtime::ToAbsl(std::string_view(request[http::field::content_type])),
                             "application/octet-stream");
        status = session->HandlePollPost(request.body(), binary);
      }
      if (status.ok()) {
        Response response(http::status::ok, info.version);
        response.set(http::field::content_type, "text/html");
        response.body() = "ok";
        Decorate(response, info);
        response.prepare_payload();
        connection->Respond(std::move(response));
        return;
      }
    } else {
      connection->Respond(Error(info, kBadRequest, "Bad request"));
      return;
    }
    if (!status.ok()) {
      int code = absl::IsNotFound(status) ? kUnknownSid : kBadRequest;
      connection->Respond(
          Error(info, code, code == kUnknownSid ? "Session ID unknown" : "Bad request"));
    }
  });
}

}  // namespace

void HandleEngineIoRequest(const ServerContext& context, const Endpoint& endpoint,
                           std::shared_ptr<HttpConnection> connection, Request request) {
  const config::Options& options = context.options;
  ReplyInfo info;
  info.version = request.version();
  info.keep_alive = request.keep_alive();
  info.accept_encoding = std::string(request[http::field::accept_encoding]);

  CorsDecision cors =
      CheckOrigin(options.cors, request[http::field::origin], request[http::field::host]);
  if (!cors.allowed) {
    connection->Respond(Error(info, http::status::forbidden, kForbidden, "Forbidden"));
    return;
  }
  info.allow_origin = cors.allow_origin;
  info.credentials = options.cors_credentials;

  if (request.method() == http::verb::options) {
    Response response(http::status::no_content, info.version);
    Decorate(response, info);
    if (!info.allow_origin.empty()) {
      response.set(http::field::access_control_allow_methods, "OPTIONS, GET, POST");
      std::string_view requested = request[http::field::access_control_request_headers];
      if (!requested.empty()) response.set(http::field::access_control_allow_headers, requested);
    }
    response.prepare_payload();
    connection->Respond(std::move(response));
    return;
  }

  std::string_view target(request.target().data(), request.target().size());
  std::optional<EngineIoQuery> query = ParseEngineIoQuery(target);
  if (!query) {
    connection->Respond(Error(info, kBadRequest, "Bad request"));
    return;
  }
  const std::string& eio = query->eio;
  const std::string& transport = query->transport;
  std::string sid = query->sid;
  PollParams params;
  for (const auto& [key, value] : query->params) {
    if (key == "j") params.jsonp = value;
    if (key == "b64") params.b64 = true;
  }
  if (eio == "3" && options.allow_eio3) {
    params.protocol = 3;
  } else if (eio != "4") {
    connection->Respond(Error(info, kUnsupportedProtocolVersion,
                              eio == "3" ? "Unsupported protocol version: EIO=3 needs --allow_eio3"
                                         : "Unsupported protocol version"));
    return;
  }
  // JSONP polling left Engine.IO with v4.
  if (params.protocol != 3) params.jsonp.reset();
  bool websocket = transport == "websocket";
  if (!(transport == "polling" && options.allow_polling) &&
      !(websocket && options.allow_websocket)) {
    connection->Respond(Error(info, kUnknownTransport, "Transport unknown"));
    return;
  }
  if (websocket != beast::websocket::is_upgrade(request)) {
    connection->Respond(Error(info, kBadRequest, "Bad request"));
    return;
  }

  if (sid.empty()) {
    if (request.method() != http::verb::get) {
      connection->Respond(Error(info, kBadHandshakeMethod, "Bad handshake method"));
      return;
    }
    runtime::Shard& shard = connection->shard();
    // A polling session holds no descriptor between its requests, so the descriptor check at
    // accept does not bound how many a client can open: cap the sessions at the same number.
    size_t shards = context.shards.size();
    if (shard.sessions.size() >= (options.max_fds + shards - 1) / shards) {
      Response response =
          Error(info, http::status::service_unavailable, kBadRequest, "Server at capacity");
      response.set(http::field::retry_after, "1");
      connection->Respond(std::move(response));
      return;
    }
    auto handshake =
        MakeHandshake(request, *query, connection->remote_address(), transport, params.protocol);
    std::shared_ptr<engineio::Session> session =
        CreateSession(context, endpoint, shard, handshake, params);
    if (!websocket) {
      session->StartPolling();
      Response response = PollResponse(options, info, params, session->HandshakeBody());
      if (std::string cookie = SetCookie(options, session->sid()); !cookie.empty()) {
        response.set(http::field::set_cookie, cookie);
      }
      connection->Respond(std::move(response));
      return;
    }
    std::string cookie = SetCookie(options, session->sid());
    connection->Upgrade(
        shard, std::move(request),
        [&options, session, cookie, delay = endpoint.websocket_open_delay](
            runtime::Shard& shard, beast::tcp_stream stream, Request request) {
          auto ws = std::make_shared<WebSocketConnection>(
              std::move(stream), options.max_http_buffer_size, session->protocol());
          ws->Accept(std::move(request), cookie,
                     [&shard, session, delay](std::shared_ptr<WebSocketConnection> ws) {
                       auto start = [session, ws] {
                         if (session->closed()) return ws->Close();
                         session->StartWebSocket(ws);
                         ws->Bind(session);
                       };
                       if (delay.count() == 0) return start();
                       auto timer = std::make_shared<boost::asio::steady_timer>(shard.io, delay);
                       timer->async_wait([timer, start](boost::system::error_code) { start(); });
                     });
        });
    return;
  }

  if (context.nodes != nullptr && !runtime::IsLocalId(sid)) {
    std::optional<std::string_view> node = runtime::NodeOfId(sid);
    std::optional<std::string> address = node ? context.nodes->AddressOf(*node) : std::nullopt;
    // A forwarded request reached a replica that does not own it: the owner is gone.
    if (!address || request.count(kForwardedHeader) > 0) {
      connection->Respond(Error(info, kUnknownSid, "Session ID unknown"));
      return;
    }
    if (websocket) {
      ForwardUpgrade(std::move(connection), std::move(request), *std::move(address));
    } else {
      ForwardPoll(std::move(connection), std::move(request), *std::move(address),
                  options.ping_interval + options.ping_timeout + std::chrono::seconds(5));
    }
    return;
  }
  std::optional<uint32_t> owner = runtime::ShardOfId(sid, context.shards.size());
  if (!owner || !runtime::IsLocalId(sid)) {
    connection->Respond(Error(info, kUnknownSid, "Session ID unknown"));
    return;
  }
  runtime::Shard& shard = context.shards.at(*owner);
  if (!websocket) {
    ServePoll(context, std::move(connection), std::move(request), info, params, std::move(sid),
              shard);
    return;
  }
  connection->Upgrade(
      shard, std::move(request),
      [&options, sid, protocol = params.protocol](runtime::Shard& shard, beast::tcp_stream stream,
                                                  Request request) {
        auto ws = std::make_shared<WebSocketConnection>(std::move(stream),
                                                        options.max_http_buffer_size, protocol);
        ws->Accept(std::move(request), "",
                   [&shard, sid, protocol](std::shared_ptr<WebSocketConnection> ws) {
                     auto found = shard.sessions.find(sid);
                     if (found == shard.sessions.end() || found->second->protocol() != protocol ||
                         !found->second->AcceptUpgrade(ws)) {
                       ws->Close();
                       return;
                     }
                     ws->Bind(found->second);
                   });
      });
}

}  // namespace sidecar::http
