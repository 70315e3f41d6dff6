#include "sidecar/runtime/drain.h"

#include <boost/asio/post.hpp>
#include <thread>
#include <vector>

namespace sidecar::runtime {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kRecheck{50};

void CloseWhenIdle(Shard& shard, std::weak_ptr<engineio::Session> weak,
                   Clock::time_point deadline) {
  std::shared_ptr<engineio::Session> session = weak.lock();
  if (!session || session->closed()) return;
  engineio::SessionHandler* handler = session->handler();
  if (handler != nullptr && handler->HasPendingWork() && Clock::now() + kRecheck < deadline) {
    auto timer = std::make_shared<boost::asio::steady_timer>(shard.io, kRecheck);
    timer->async_wait([&shard, timer, weak, deadline](boost::system::error_code error) {
      if (!error) CloseWhenIdle(shard, weak, deadline);
    });
    return;
  }
  session->Close("server shutting down");
}

uint64_t OpenSessions(Shards& shards) {
  uint64_t open = 0;
  for (uint32_t i = 0; i < shards.size(); ++i) open += shards.at(i).metrics.sessions_open.Get();
  return open;
}

}  // namespace

void DrainSessions(Shards& shards, std::chrono::milliseconds window, Clock::time_point deadline) {
  for (uint32_t i = 0; i < shards.size(); ++i) {
    Shard& shard = shards.at(i);
    boost::asio::post(shard.io, [&shard, window, deadline] {
      std::vector<std::weak_ptr<engineio::Session>> sessions;
      for (const auto& [sid, session] : shard.sessions) sessions.push_back(session);
      if (sessions.empty()) return;
      auto step = window / sessions.size();
      for (size_t n = 0; n < sessions.size(); ++n) {
        auto timer = std::make_shared<boost::asio::steady_timer>(shard.io, step * n);
        timer->async_wait(
            [&shard, timer, weak = sessions[n], deadline](boost::system::error_code error) {
              if (!error) CloseWhenIdle(shard, weak, deadline);
            });
      }
    });
  }
  while (OpenSessions(shards) > 0 && Clock::now() < deadline) std::this_thread::sleep_for(kRecheck);
}

}  // namespace sidecar::runtime
