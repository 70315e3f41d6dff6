// A native Socket.IO v5 / Engine.IO v4 load generator over WebSocket, for
// bench/run.sh. Open loop: messages are sent on a schedule whatever the
// server's answers, so a slow server shows as latency, not as a lower rate.
//
//   loadgen --url=ws://127.0.0.1:5000/socket.io/ --clients=1000 --mode=echo --rate=5000
//           --duration=10 [--threads=1] [--room=bench] [--payload=16]
//
// Modes: idle (connect and hold), echo (emit "echo" with an ack; latency is
// the ack's round trip), fanout (every client joins --room; client 0 emits
// "fanout" --rate times a second and the server sends "tick" to the room;
// latency is send to each receipt). Prints one JSON object.
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url/parse.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

const Clock::time_point kEpoch = Clock::now();
int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - kEpoch).count();
}

struct Config {
  std::string host = "127.0.0.1";
  std::string port = "5000";
  std::string path = "/socket.io/";
  int clients = 100;
  std::string mode = "echo";
  double rate = 1000;
  double duration = 10;
  int threads = 1;
  std::string room = "bench";
  int payload = 16;
  int max_connecting = 256;
};

// What one thread measured.
struct Stats {
  int64_t connected = 0;
  int64_t failed = 0;
  int64_t sent = 0;
  int64_t received = 0;
  int64_t errors = 0;
  std::vector<uint32_t> latencies_us;
};

class Worker;

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(Worker& worker, int index);
  void Start();
  void Emit(std::string frame);
  bool ready() const { return ready_; }
  bool joined() const { return joined_; }

 private:
  void Read();
  void OnText(std::string_view text);
  void Write();
  void Fail();

  Worker& worker_;
  int index_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::vector<std::string> queue_;
  bool writing_ = false;
  bool ready_ = false;
  bool joined_ = false;
  bool dead_ = false;
};

class Worker {
 public:
  Worker(const Config& config, int first, int count, bool sender)
      : config(config), first_(first), count_(count), sender_(sender), timer_(io) {}

  void Run(std::atomic<int>& ready_threads, std::atomic<bool>& go, std::atomic<bool>& stop);
  void OnReady(Client&) {
    ++stats.connected;
    ConnectMore();
  }
  void OnFailed() {
    ++stats.failed;
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
  Clock::time_point last_tick_;
  std::atomic<bool>* stop_ = nullptr;
  std::atomic<bool>* go_ = nullptr;
  friend class Client;
};

Client::Client(Worker& worker, int index) : worker_(worker), index_(index), ws_(worker.io) {}

void Client::Start() {
  beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(ws_).async_connect(worker_.endpoints, [self = shared_from_this()](
                                                                    beast::error_code error,
                                                                    const tcp::endpoint&) {
    if (error) return self->Fail();
    beast::get_lowest_layer(self->ws_).expires_never();
    self->ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    std::string target = self->worker_.config.path + "?EIO=4&transport=websocket";
    self->ws_.async_handshake(self->worker_.config.host, target, [self](beast::error_code error) {
      if (error) return self->Fail();
      self->Emit("40");
      self->Read();
    });
  });
}

void Client::Fail() {
  if (dead_) return;
  dead_ = true;
  if (!ready_) {
    --worker_.connecting_;
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
    self->OnText(text);
    self->Read();
  });
}

// Timestamps travel as the first argument; the answer carries them back.
int64_t FirstNumber(std::string_view text) {
  size_t start = text.find_first_of("0123456789", text.find('['));
  if (start == std::string_view::npos) return -1;
  return std::strtoll(text.data() + start, nullptr, 10);
}

void Client::OnText(std::string_view text) {
  if (text == "2") return Emit("3");
  if (text.starts_with("40")) {
    ready_ = true;
    --worker_.connecting_;
    worker_.OnReady(*this);
    if (worker_.config.mode == "fanout") Emit("420[\"join\",\"" + worker_.config.room + "\"]");
    return;
  }
  if (text.starts_with("430")) {  // the join's ack
    joined_ = true;
    return;
  }
  if (text.starts_with("43") || text.starts_with("42[\"tick\"")) {
    int64_t sent = FirstNumber(text.substr(2));
    if (sent >= 0) {
      ++worker_.stats.received;
      worker_.stats.latencies_us.push_back(
          static_cast<uint32_t>(std::max<int64_t>(0, NowMicros() - sent)));
    }
    return;
  }
  if (text.starts_with("44")) ++worker_.stats.errors;
}

void Client::Emit(std::string frame) {
  if (dead_) return;
  queue_.push_back(std::move(frame));
  if (!writing_) Write();
}

void Client::Write() {
  writing_ = true;
  std::string frame = std::move(queue_.front());
  queue_.erase(queue_.begin());
  auto shared = std::make_shared<std::string>(std::move(frame));
  ws_.text(true);
  ws_.async_write(asio::buffer(*shared),
                  [self = shared_from_this(), shared](beast::error_code error, size_t) {
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
  if (go_->load() && config.mode != "idle") {
    double seconds = std::chrono::duration<double>(now - last_tick_).count();
    double share =
        config.mode == "fanout" ? (sender_ ? config.rate : 0) : config.rate / config.threads;
    owed_ += share * seconds;
    while (owed_ >= 1 && !clients_.empty()) {
      owed_ -= 1;
      std::string stamp = std::to_string(NowMicros());
      if (config.mode == "echo") {
        auto& client = clients_[cursor_++ % clients_.size()];
        if (!client->ready()) continue;
        client->Emit("421[\"echo\"," + stamp + ",\"" + padding + "\"]");
      } else {
        clients_[0]->Emit("42[\"fanout\",\"" + config.room + "\"," + stamp + ",\"" + padding +
                          "\"]");
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
  while (!stop.load()) {
    io.run_for(std::chrono::milliseconds(20));
    if (!counted && stats.connected + stats.failed == count_) {
      bool all_joined = config.mode != "fanout" ||
                        std::all_of(clients_.begin(), clients_.end(),
                                    [](const auto& c) { return !c->ready() || c->joined(); });
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

std::string Flag(int argc, char** argv, const std::string& name, const std::string& fallback) {
  std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) return arg.substr(prefix.size());
  }
  return fallback;
}

uint32_t Percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()));
  return sorted[index];
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
  if (config.mode != "idle" && config.mode != "echo" && config.mode != "fanout") {
    std::cerr << "loadgen: --mode must be idle, echo or fanout\n";
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
  std::cout << "{\"phase\":\"connected\"}" << std::endl;  // run.sh samples memory now
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
    total.latencies_us.insert(total.latencies_us.end(), worker->stats.latencies_us.begin(),
                              worker->stats.latencies_us.end());
  }
  std::sort(total.latencies_us.begin(), total.latencies_us.end());
  int64_t expected = config.mode == "fanout" ? total.sent * total.connected : total.sent;
  nlohmann::json out = {
      {"mode", config.mode},
      {"clients", config.clients},
      {"connected", total.connected},
      {"failed", total.failed},
      {"connect_seconds", connect_seconds},
      {"connects_per_second", total.connected / std::max(connect_seconds, 1e-9)},
      {"seconds", seconds},
      {"sent", total.sent},
      {"received", total.received},
      {"expected", expected},
      {"lost", std::max<int64_t>(0, expected - total.received)},
      {"errors", total.errors},
      {"received_per_second", total.received / seconds},
      {"latency_us",
       {{"p50", Percentile(total.latencies_us, 0.50)},
        {"p90", Percentile(total.latencies_us, 0.90)},
        {"p99", Percentile(total.latencies_us, 0.99)},
        {"p999", Percentile(total.latencies_us, 0.999)},
        {"max", total.latencies_us.empty() ? 0 : total.latencies_us.back()}}},
  };
  std::cout << out.dump() << std::endl;
  return total.failed > 0 ? 1 : 0;
}
