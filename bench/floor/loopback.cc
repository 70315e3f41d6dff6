// The physical floor of this machine's loopback for bench/run.py: how fast one TCP connection
// carries 50-byte frames (one write() each, as a server writes one small WebSocket frame per
// message when nothing else is queued) and large writes (64 KiB, the byte throughput). A reader
// thread drains the other end. Prints one JSON object.
//
//   loopback [--seconds=2] [--frame=50]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench/common.h"

namespace {

using bench::Flag;

using Clock = std::chrono::steady_clock;

struct Result {
  double bytes_per_second = 0;
  double writes_per_second = 0;
};

bool Check(bool ok, const char* what) {
  if (!ok) std::perror(what);
  return ok;
}

// Writes `size`-byte blocks on a fresh loopback connection for `seconds`.
bool Measure(size_t size, double seconds, Result& result) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (!Check(listener >= 0, "socket") ||
      !Check(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0, "bind") ||
      !Check(listen(listener, 1) == 0, "listen") ||
      !Check(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0,
             "getsockname"))
    return false;
  int writer = socket(AF_INET, SOCK_STREAM, 0);
  if (!Check(connect(writer, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0,
             "connect"))
    return false;
  int reader = accept(listener, nullptr, nullptr);
  close(listener);
  if (!Check(reader >= 0, "accept")) return false;
  int one = 1;
  setsockopt(writer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  std::thread drain([&] {
    std::vector<char> buffer(1 << 20);
    while (read(reader, buffer.data(), buffer.size()) > 0) {
    }
  });
  std::string block(size, 'x');
  int64_t writes = 0, bytes = 0;
  auto started = Clock::now();
  auto deadline = started + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    for (int i = 0; i < 64; ++i) {
      ssize_t written = write(writer, block.data(), block.size());
      if (written <= 0) break;
      bytes += written;
      ++writes;
    }
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
  shutdown(writer, SHUT_WR);
  drain.join();
  close(writer);
  close(reader);
  result.bytes_per_second = bytes / elapsed;
  result.writes_per_second = writes / elapsed;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = std::stod(Flag(argc, argv, "seconds", "2"));
  size_t frame = std::stoul(Flag(argc, argv, "frame", "50"));
  Result small, large;
  if (!Measure(frame, seconds, small) || !Measure(64 * 1024, seconds, large)) return 1;
  std::printf(
      "{\"frame_bytes\":%zu,\"frames_per_second\":%.0f,\"frame_bytes_per_second\":%.0f,"
      "\"bulk_bytes_per_second\":%.0f}\n",
      frame, small.writes_per_second, small.bytes_per_second, large.bytes_per_second);
  return 0;
}
