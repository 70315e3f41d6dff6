// The WebSocket floor for bench/run.py: a plain Boost.Beast WebSocket server with no Engine.IO
// or Socket.IO, doing the least the benchmark's work needs. A text message starting with 'e' is
// sent back to its sender (echo); one starting with 'f' is sent to every connected client
// (fan-out to one room holding everyone), encoded once and shared. What the sidecar does beyond
// this is protocol, rooms and the backend hop; the figures here bound what it can reach.
//
//   ws_floor --port=5300 [--threads=2]

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/common.h"

namespace {

using bench::Flag;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class Session;

// Everyone connected: the one room a fan-out goes to.
class Registry {
 public:
  void Add(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(mutex_);
    sessions_.insert(session);
  }
  void Remove(const std::shared_ptr<Session>& session) {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
  }
  std::vector<std::shared_ptr<Session>> Snapshot() {
    std::lock_guard lock(mutex_);
    return {sessions_.begin(), sessions_.end()};
  }

 private:
  std::mutex mutex_;
  std::unordered_set<std::shared_ptr<Session>> sessions_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Registry& registry) : ws_(std::move(socket)), registry_(registry) {}

  void Start() {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept(beast::bind_front_handler(&Session::OnAccept, shared_from_this()));
  }

  // Thread-safe: queues a frame on this session's strand.
  void Send(std::shared_ptr<const std::string> frame) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), frame = std::move(frame)] {
      self->queue_.push_back(frame);
      if (self->queue_.size() == 1) self->Write();
    });
  }

 private:
  void OnAccept(beast::error_code error) {
    if (error) return;
    ws_.text(true);
    registry_.Add(shared_from_this());
    Read();
  }

  void Read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code error, size_t) {
    if (error) {
      registry_.Remove(shared_from_this());
      return;
    }
    auto frame = std::make_shared<const std::string>(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    if (frame->starts_with("e")) {
      queue_.push_back(frame);
      if (queue_.size() == 1) Write();
    } else if (frame->starts_with("f")) {
      for (auto& session : registry_.Snapshot()) session->Send(frame);
    }
    Read();
  }

  void Write() {
    ws_.async_write(asio::buffer(*queue_.front()),
                    beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code error, size_t) {
    if (error) return;
    queue_.pop_front();
    if (!queue_.empty()) Write();
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  Registry& registry_;
};

class Listener {
 public:
  Listener(asio::io_context& io, tcp::endpoint endpoint, Registry& registry)
      : io_(io), acceptor_(io, endpoint), registry_(registry) {}

  void Accept() {
    acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code error, tcp::socket s) {
      if (!error) std::make_shared<Session>(std::move(s), registry_)->Start();
      Accept();
    });
  }

 private:
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  Registry& registry_;
};

}  // namespace

int main(int argc, char** argv) {
  int port = std::stoi(Flag(argc, argv, "port", "5300"));
  int threads = std::max(1, std::stoi(Flag(argc, argv, "threads", "2")));
  bench::RaiseFileLimit();
  asio::io_context io(threads);
  Registry registry;
  Listener listener(io, {asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)},
                    registry);
  listener.Accept();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { io.stop(); });
  std::cout << "listening on " << port << std::endl;
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& thread : pool) thread.join();
  return 0;
}
