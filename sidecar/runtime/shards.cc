#include "sidecar/runtime/shards.h"

namespace sidecar::runtime {

Shards::Shards(uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) shards_.push_back(std::make_unique<Shard>(i));
}

Shards::~Shards() { Stop(); }

void Shards::Run() {
  for (auto& shard : shards_) {
    guards_.push_back(boost::asio::make_work_guard(shard->io));
    threads_.emplace_back([&io = shard->io] { io.run(); });
  }
}

void Shards::Stop() {
  guards_.clear();
  for (auto& shard : shards_) shard->io.stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
}

}  // namespace sidecar::runtime
