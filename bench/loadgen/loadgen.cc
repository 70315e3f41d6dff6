// A native Socket.IO v5 / Engine.IO v4 load generator, for bench/run.py. Open loop: messages
// are sent on a schedule whatever the server's answers, so a slow server shows as latency and
// loss, not as a lower rate.
//
//   loadgen --url=ws://127.0.0.1:5000/socket.io/ --clients=1000 --mode=echo --rate=5000
//           --duration=10 [--transport=websocket] [--threads=1] [--room=bench] [--payload=16]
//
// Modes: idle (connect and hold), echo (emit "echo" with an ack; latency is the ack's round
// trip), fanout (every client joins --room; client 0 emits "fanout" --rate times a second and
// the server sends "tick" to the room; latency is send to each receipt), listen (every client
// joins --room and counts the "tick"s someone else, e.g. bench/go/emitjob, sends).
// Transports: websocket; polling (long-polling only); upgrade (a polling handshake, then the
// upgrade to WebSocket, as socket.io-client does by default).
// --protocol=raw talks to bench/floor/ws_floor instead: plain WebSocket messages, no Engine.IO
// or Socket.IO ("e..." is echoed, "f..." is sent to every client).
//
// Timestamps are wall-clock microseconds, so that another process on this machine (the S4 job)
// can stamp what the clients receive. Prints {"phase":"connected"} once every client is ready,
// then one JSON object with the results.

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/common.h"
#include "nlohmann/json.hpp"

namespace {

using bench::Flag;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

enum class Transport { kWebSocket, kPolling, kUpgrade };

struct Config {
  std::string host = "127.0.0.1";
  std::string port = "5000";
  std::string path = "/socket.io/";
  int clients = 100;
  std::string mode = "echo";
  Transport transport = Transport::kWebSocket;
  bool raw = false;
  double rate = 1000;
  double duration = 10;
  int threads = 1;
  std::string room = "bench";
  int payload = 16;
  int max_connecting = 256;
};

// Receipts of one broadcast (fanout and listen modes), keyed by its stamp.
struct Broadcast {
  int64_t receipts = 0;
  uint32_t first_us = UINT32_MAX;
  uint32_t last_us = 0;
};

// What one thread measured.
struct Stats {
  int64_t connected = 0;
  int64_t failed = 0;
  int64_t sent = 0;
  int64_t received = 0;
  int64_t errors = 0;
  int64_t upgraded = 0;
  std::vector<uint32_t> latencies_us;
  std::unordered_map<int64_t, Broadcast> broadcasts;
};

class Worker;

// One Socket.IO client. Over WebSocket every frame is one Engine.IO packet; over polling a GET
// returns packets joined with \x1e and a POST sends them so. The upgrade transport polls until
// its WebSocket has passed the probe, then switches, as socket.io-client does.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(Worker& worker, int index);
  void Start();
  // Sends one Engine.IO packet (e.g. "421[...]") on whichever transport is current.
  void Emit(std::string packet);
  bool ready() const { return ready_; }
  bool joined() const { return joined_; }

 private:
  void OpenWebSocket(const std::string& target);
  void Read();
  void Write();
  void OnPacket(std::string_view packet);
  void FinishUpgrade();
  void OnRawMessage(std::string_view message);
  void OnReady();
  void Receipt(std::string_view text, bool tick);

  // Long-polling.
  void Handshake();
  void Poll();
  void OnPollBody(std::string_view body);
  void Post();
  std::string PollingTarget() const;
  void StartUpgrade();
  void ClosePolling();

  void Fail();

  Worker& worker_;
  int index_;
  std::string sid_;
  // WebSocket transport (and the upgrade's target).
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool websocket_open_ = false;
  // Polling transport: one connection held by the GET, one for POSTs.
  beast::tcp_stream poll_stream_;
  beast::tcp_stream post_stream_;
  beast::flat_buffer poll_buffer_;
  beast::flat_buffer post_buffer_;
  http::request<http::empty_body> poll_request_;
  http::response<http::string_body> poll_response_;
  http::request<http::string_body> post_request_;
  http::response<http::string_body> post_response_;
  std::vector<std::string> post_queue_;
  bool posting_ = false;
  bool post_connected_ = false;
  bool upgraded_ = false;
  // The probe was answered while a POST was in flight: the upgrade completes
  // once it is answered, since the server refuses POSTs after the upgrade.
  bool probe_answered_ = false;

  bool ready_ = false;
  bool joined_ = false;
  bool dead_ = false;
};

class Worker {
 public:
  Worker(const Config& config, int first, int count, bool sender)
      : config(config), first_(first), count_(count), sender_(sender), timer_(io) {}

  void Run(std::atomic<int>& ready_threads, std::atomic<bool>& go, std::atomic<bool>& stop);
  void OnReady() {
    ++stats.connected;
    --connecting_;
    ConnectMore();
  }
  void OnFailed() {
    ++stats.failed;
    --connecting_;
    ConnectMore();
  }

  const Config& config;
  asio::io_context io;
  Stats stats;
  tcp::resolver::results_type endpoints;
  std::string padding;

 private:
  void ConnectMore();
  void Tick();

  int first_;
  int count_;
  bool sender_;
  int next_ = 0;
  int connecting_ = 0;
  std::vector<std::shared_ptr<Client>> clients_;
  asio::steady_timer timer_;
  double owed_ = 0;
  size_t cursor_ = 0;
  int64_t last_stamp_ = 0;
  Clock::time_point last_tick_;
  std::atomic<bool>* stop_ = nullptr;
  std::atomic<bool>* go_ = nullptr;
};

Client::Client(Worker& worker, int index)
    : worker_(worker),
      index_(index),
      ws_(worker.io),
      poll_stream_(worker.io),
      post_stream_(worker.io) {}

void Client::Start() {
  const Config& config = worker_.config;
  if (config.raw) return OpenWebSocket(config.path);
  if (config.transport == Transport::kWebSocket)
    return OpenWebSocket(config.path + "?EIO=4&transport=websocket");
  Handshake();
}

void Client::OpenWebSocket(const std::string& target) {
  beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(ws_).async_connect(worker_.endpoints, [self = shared_from_this(), target](
                                                                    beast::error_code error,
                                                                    const tcp::endpoint&) {
    if (error) return self->Fail();
    beast::get_lowest_layer(self->ws_).expires_never();
    self->ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    self->ws_.async_handshake(self->worker_.config.host, target, [self](beast::error_code error) {
      if (error) return self->Fail();
      self->websocket_open_ = true;
      self->ws_.text(true);
      const Config& config = self->worker_.config;
      if (config.raw) {
        self->OnReady();
        self->joined_ = true;
      } else if (config.transport == Transport::kUpgrade) {
        self->Emit("2probe");
      } else {
        self->Emit("40");
      }
      self->Read();
    });
  });
}

void Client::Fail() {
  if (dead_) return;
  dead_ = true;
  if (!ready_) {
    worker_.OnFailed();
  } else {
    ++worker_.stats.errors;
  }
}

void Client::Read() {
  ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code error, size_t) {
    if (error) return self->Fail();
    std::string text = beast::buffers_to_string(self->buffer_.data());
    self->buffer_.consume(self->buffer_.size());
    if (self->worker_.config.raw) {
      self->OnRawMessage(text);
    } else {
      self->OnPacket(text);
    }
    self->Read();
  });
}

// Timestamps travel as the first number after the first '['; the answer carries them back.
int64_t FirstNumber(std::string_view text) {
  size_t start = text.find_first_of("0123456789", text.find('['));
  if (start == std::string_view::npos) return -1;
  return std::strtoll(text.data() + start, nullptr, 10);
}

void Client::Receipt(std::string_view text, bool tick) {
  int64_t sent = FirstNumber(text);
  if (sent < 0) return;
  auto latency = static_cast<uint32_t>(std::max<int64_t>(0, NowMicros() - sent));
  ++worker_.stats.received;
  worker_.stats.latencies_us.push_back(latency);
  if (!tick) return;
  Broadcast& broadcast = worker_.stats.broadcasts[sent];
  ++broadcast.receipts;
  broadcast.first_us = std::min(broadcast.first_us, latency);
  broadcast.last_us = std::max(broadcast.last_us, latency);
}

void Client::OnReady() {
  ready_ = true;
  worker_.OnReady();
}

void Client::OnPacket(std::string_view packet) {
  if (packet == "2") return Emit("3");
  if (packet == "3probe") {  // the upgrade's probe answered: switch to the WebSocket
    probe_answered_ = true;
    if (!posting_) FinishUpgrade();
    return;
  }
  if (packet.starts_with("40")) {
    OnReady();
    const std::string& mode = worker_.config.mode;
    if (mode == "fanout" || mode == "listen") Emit("420[\"join\",\"" + worker_.config.room + "\"]");
    return;
  }
  if (packet.starts_with("430")) {  // the join's ack
    joined_ = true;
    return;
  }
  if (packet.starts_with("43")) return Receipt(packet.substr(2), false);
  if (packet.starts_with("42[\"tick\"")) return Receipt(packet.substr(2), true);
  // A close packet also ends the polling transport after an upgrade.
  if (packet.starts_with("44") || (packet == "1" && !upgraded_)) ++worker_.stats.errors;
}

// As engine.io-client pauses polling: "5" leaves only once no POST is in flight.
void Client::FinishUpgrade() {
  upgraded_ = true;
  ++worker_.stats.upgraded;
  queue_.push_back("5");
  for (std::string& pending : post_queue_) queue_.push_back(std::move(pending));
  post_queue_.clear();
  if (!writing_) Write();
}

void Client::OnRawMessage(std::string_view message) {
  if (message.starts_with("e")) return Receipt(message, false);
  if (message.starts_with("f")) return Receipt(message, true);
}

void Client::Emit(std::string packet) {
  if (dead_) return;
  bool polling =
      worker_.config.transport == Transport::kPolling ||
      (worker_.config.transport == Transport::kUpgrade && !upgraded_ && packet != "2probe");
  if (polling) {
    post_queue_.push_back(std::move(packet));
    if (!posting_) Post();
    return;
  }
  queue_.push_back(std::move(packet));
  if (!writing_) Write();
}

void Client::Write() {
  writing_ = true;
  auto frame = std::make_shared<std::string>(std::move(queue_.front()));
  queue_.pop_front();
  ws_.async_write(asio::buffer(*frame),
                  [self = shared_from_this(), frame](beast::error_code error, size_t) {
                    if (error) {
                      self->writing_ = false;
                      return self->Fail();
                    }
                    if (self->queue_.empty()) {
                      self->writing_ = false;
                    } else {
                      self->Write();
                    }
                  });
}

std::string Client::PollingTarget() const {
  std::string target = worker_.config.path + "?EIO=4&transport=polling";
  if (!sid_.empty()) target += "&sid=" + sid_;
  return target;
}

void Client::Handshake() {
  poll_stream_.expires_after(std::chrono::seconds(30));
  poll_stream_.async_connect(worker_.endpoints, [self = shared_from_this()](beast::error_code error,
                                                                            const tcp::endpoint&) {
    if (error) return self->Fail();
    self->Poll();
  });
}

// One GET: the handshake first (no sid yet), then long polls until the upgrade is done.
void Client::Poll() {
  poll_request_ = {http::verb::get, PollingTarget(), 11};
  poll_request_.set(http::field::host, worker_.config.host);
  poll_stream_.expires_never();
  http::async_write(
      poll_stream_, poll_request_, [self = shared_from_this()](beast::error_code error, size_t) {
        if (error) return self->Fail();
        self->poll_response_ = {};
        http::async_read(self->poll_stream_, self->poll_buffer_, self->poll_response_,
                         [self](beast::error_code error, size_t) {
                           if (error || self->poll_response_.result() != http::status::ok)
                             return self->upgraded_ ? self->ClosePolling() : self->Fail();
                           self->OnPollBody(self->poll_response_.body());
                         });
      });
}

void Client::OnPollBody(std::string_view body) {
  if (sid_.empty()) {  // the handshake: 0{"sid":"...",...}
    if (!body.starts_with("0")) return Fail();
    auto open = nlohmann::json::parse(body.substr(1), nullptr, false);
    if (!open.is_object() || !open.contains("sid")) return Fail();
    sid_ = open["sid"].get<std::string>();
    Emit("40");
    if (worker_.config.transport == Transport::kUpgrade) StartUpgrade();
    return Poll();
  }
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('\x1e', start);
    if (end == std::string_view::npos) end = body.size();
    if (end > start) OnPacket(body.substr(start, end - start));
    start = end + 1;
  }
  if (dead_) return;
  if (upgraded_) return ClosePolling();  // the last poll's answer (a noop); polling is over
  Poll();
}

void Client::Post() {
  if (post_queue_.empty() || dead_) return;
  posting_ = true;
  if (!post_connected_) {
    post_stream_.expires_after(std::chrono::seconds(30));
    post_stream_.async_connect(
        worker_.endpoints,
        [self = shared_from_this()](beast::error_code error, const tcp::endpoint&) {
          if (error) return self->Fail();
          self->post_connected_ = true;
          self->post_stream_.expires_never();
          self->Post();
        });
    return;
  }
  std::string body;
  for (const std::string& packet : post_queue_) {
    if (!body.empty()) body += '\x1e';
    body += packet;
  }
  post_queue_.clear();
  post_request_ = {http::verb::post, PollingTarget(), 11};
  post_request_.set(http::field::host, worker_.config.host);
  post_request_.set(http::field::content_type, "text/plain;charset=UTF-8");
  post_request_.body() = std::move(body);
  post_request_.prepare_payload();
  http::async_write(
      post_stream_, post_request_, [self = shared_from_this()](beast::error_code error, size_t) {
        if (error) return self->Fail();
        self->post_response_ = {};
        http::async_read(self->post_stream_, self->post_buffer_, self->post_response_,
                         [self](beast::error_code error, size_t) {
                           self->posting_ = false;
                           if (self->upgraded_) {
                             self->post_stream_.socket().close(error);
                             return;
                           }
                           if (error || self->post_response_.result() != http::status::ok)
                             return self->Fail();
                           if (self->probe_answered_) {
                             self->FinishUpgrade();
                             self->post_stream_.socket().close(error);
                             return;
                           }
                           self->Post();
                         });
      });
}

// After the upgrade, each polling connection is closed once its request is answered: the last
// poll may still carry packets.
void Client::ClosePolling() {
  beast::error_code ignored;
  poll_stream_.socket().close(ignored);
  if (!posting_) post_stream_.socket().close(ignored);
}

void Client::StartUpgrade() {
  OpenWebSocket(worker_.config.path + "?EIO=4&transport=websocket&sid=" + sid_);
}

void Worker::ConnectMore() {
  while (next_ < count_ && connecting_ < config.max_connecting) {
    auto client = std::make_shared<Client>(*this, first_ + next_++);
    clients_.push_back(client);
    ++connecting_;
    client->Start();
  }
}

void Worker::Tick() {
  if (stop_->load()) return;
  auto now = Clock::now();
  bool sends = config.mode == "echo" || (config.mode == "fanout" && sender_);
  if (go_->load() && sends) {
    double seconds = std::chrono::duration<double>(now - last_tick_).count();
    owed_ += (config.mode == "fanout" ? config.rate : config.rate / config.threads) * seconds;
    while (owed_ >= 1 && !clients_.empty()) {
      owed_ -= 1;
      // Unique stamps: receipts are matched to their broadcast by them.
      last_stamp_ = std::max(NowMicros(), last_stamp_ + 1);
      std::string body = std::to_string(last_stamp_) + ",\"" + padding + "\"]";
      if (config.mode == "echo") {
        auto& client = clients_[cursor_++ % clients_.size()];
        if (!client->ready()) continue;
        client->Emit(config.raw ? "e[" + body : "421[\"echo\"," + body);
      } else {
        clients_[0]->Emit(config.raw ? "f[" + body
                                     : "42[\"fanout\",\"" + config.room + "\"," + body);
      }
      ++stats.sent;
    }
  }
  last_tick_ = now;
  timer_.expires_after(std::chrono::milliseconds(1));
  timer_.async_wait([this](beast::error_code error) {
    if (!error) Tick();
  });
}

void Worker::Run(std::atomic<int>& ready_threads, std::atomic<bool>& go, std::atomic<bool>& stop) {
  stop_ = &stop;
  go_ = &go;
  padding.assign(config.payload, 'x');
  tcp::resolver resolver(io);
  endpoints = resolver.resolve(config.host, config.port);
  ConnectMore();
  last_tick_ = Clock::now();
  Tick();
  bool counted = false;
  bool joins = config.mode == "fanout" || config.mode == "listen";
  while (!stop.load()) {
    io.run_for(std::chrono::milliseconds(20));
    if (!counted && stats.connected + stats.failed == count_) {
      bool all_joined = !joins || std::all_of(clients_.begin(), clients_.end(), [](const auto& c) {
        return !c->ready() || c->joined();
      });
      if (all_joined) {
        counted = true;
        ++ready_threads;
      }
    }
  }
  // Let in-flight answers land.
  io.run_for(std::chrono::milliseconds(500));
  io.stop();
}

nlohmann::json Percentiles(std::vector<uint32_t>& values) {
  std::sort(values.begin(), values.end());
  auto at = [&](double p) -> uint32_t {
    if (values.empty()) return 0;
    return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
  };
  return {{"p50", at(0.50)},
          {"p90", at(0.90)},
          {"p99", at(0.99)},
          {"p999", at(0.999)},
          {"max", values.empty() ? 0 : values.back()}};
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  const std::string url_text = Flag(argc, argv, "url", "ws://127.0.0.1:5000/socket.io/");
  auto url = boost::urls::parse_uri(url_text);
  if (!url) {
    std::cerr << "loadgen: bad --url\n";
    return 2;
  }
  config.host = url->host();
  config.port = url->has_port() ? std::string(url->port()) : "80";
  config.path = url->path().empty() ? "/socket.io/" : std::string(url->path());
  config.clients = std::stoi(Flag(argc, argv, "clients", "100"));
  config.mode = Flag(argc, argv, "mode", "echo");
  config.rate = std::stod(Flag(argc, argv, "rate", "1000"));
  config.duration = std::stod(Flag(argc, argv, "duration", "10"));
  config.threads = std::max(1, std::stoi(Flag(argc, argv, "threads", "1")));
  config.room = Flag(argc, argv, "room", "bench");
  config.payload = std::stoi(Flag(argc, argv, "payload", "16"));
  config.raw = Flag(argc, argv, "protocol", "socketio") == "raw";
  const std::string transport = Flag(argc, argv, "transport", "websocket");
  if (transport == "polling") {
    config.transport = Transport::kPolling;
  } else if (transport == "upgrade") {
    config.transport = Transport::kUpgrade;
  } else if (transport != "websocket") {
    std::cerr << "loadgen: --transport must be websocket, polling or upgrade\n";
    return 2;
  }
  if (config.mode != "idle" && config.mode != "echo" && config.mode != "fanout" &&
      config.mode != "listen") {
    std::cerr << "loadgen: --mode must be idle, echo, fanout or listen\n";
    return 2;
  }
  if (config.raw && config.transport != Transport::kWebSocket) {
    std::cerr << "loadgen: --protocol=raw is WebSocket only\n";
    return 2;
  }
  int64_t sockets_per_client = config.transport == Transport::kWebSocket ? 1 : 2;
  // One socket per client (two while polling).
  if (bench::RaiseFileLimit() < config.clients * sockets_per_client + 64) {
    std::cerr << "loadgen: " << config.clients << " clients need more open files than the limit; "
              << "run several processes\n";
    return 2;
  }

  std::vector<std::unique_ptr<Worker>> workers;
  int per = config.clients / config.threads;
  for (int t = 0; t < config.threads; ++t) {
    int count = t == config.threads - 1 ? config.clients - per * t : per;
    workers.push_back(std::make_unique<Worker>(config, per * t, count, t == 0));
  }
  std::atomic<int> ready{0};
  std::atomic<bool> go{false}, stop{false};
  auto started = Clock::now();
  std::vector<std::thread> threads;
  for (auto& worker : workers)
    threads.emplace_back([&, w = worker.get()] { w->Run(ready, go, stop); });
  while (ready.load() < config.threads && Clock::now() - started < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  double connect_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::cout << "{\"phase\":\"connected\"}" << std::endl;  // run.py samples memory now
  go = true;
  auto measured = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(config.duration));
  double seconds = std::chrono::duration<double>(Clock::now() - measured).count();
  stop = true;
  for (auto& thread : threads) thread.join();

  Stats total;
  for (auto& worker : workers) {
    total.connected += worker->stats.connected;
    total.failed += worker->stats.failed;
    total.sent += worker->stats.sent;
    total.received += worker->stats.received;
    total.errors += worker->stats.errors;
    total.upgraded += worker->stats.upgraded;
    total.latencies_us.insert(total.latencies_us.end(), worker->stats.latencies_us.begin(),
                              worker->stats.latencies_us.end());
    for (const auto& [stamp, part] : worker->stats.broadcasts) {
      Broadcast& broadcast = total.broadcasts[stamp];
      broadcast.receipts += part.receipts;
      broadcast.first_us = std::min(broadcast.first_us, part.first_us);
      broadcast.last_us = std::max(broadcast.last_us, part.last_us);
    }
  }
  // Per broadcast: when its first and its last receiver got it, and whether everyone did.
  std::vector<uint32_t> first_us, last_us;
  int64_t complete = 0;
  for (const auto& [stamp, broadcast] : total.broadcasts) {
    first_us.push_back(broadcast.first_us);
    last_us.push_back(broadcast.last_us);
    if (broadcast.receipts >= total.connected) ++complete;
  }
  int64_t expected = config.mode == "fanout" ? total.sent * total.connected : total.sent;
  nlohmann::json out = {
      {"mode", config.mode},
      {"transport", transport},
      {"clients", config.clients},
      {"connected", total.connected},
      {"failed", total.failed},
      {"upgraded", total.upgraded},
      {"connect_seconds", connect_seconds},
      {"connects_per_second", total.connected / std::max(connect_seconds, 1e-9)},
      {"seconds", seconds},
      {"sent", total.sent},
      {"received", total.received},
      {"expected", expected},
      {"lost", std::max<int64_t>(0, expected - total.received)},
      {"errors", total.errors},
      {"received_per_second", total.received / seconds},
      {"latency_us", Percentiles(total.latencies_us)},
      {"broadcasts", total.broadcasts.size()},
      {"complete_broadcasts", complete},
      {"first_receiver_us", Percentiles(first_us)},
      {"last_receiver_us", Percentiles(last_us)},
  };
  std::cout << out.dump() << std::endl;
  return total.failed > 0 ? 1 : 0;
}
