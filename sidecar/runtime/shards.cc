#include "sidecar/runtime/shards.h"

#include <exception>

#include "sidecar/runtime/log.h"

namespace sidecar::runtime {

Shards::Shards(uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) shards_.push_back(std::make_unique<Shard>(i));
}

Shards::~Shards() { Stop(); }

void Shards::Run() {
  for (auto& shard : shards_) {
    guards_.push_back(boost::asio::make_work_guard(shard->io));
    threads_.emplace_back([&io = shard->io, index = shard->index] {
      // A handler that throws (a library refusing hostile input by throwing) costs the
      // connection it ran for, whose owners unwind with it, not the process; Asio lets run()
      // resume after an exception.
      for (;;) {
        try {
          io.run();
          return;
        } catch (const std::exception& error) {
          Log(LogLevel::kError, "shard ", index, ": exception escaped a handler: ", error.what());
        }
      }
    });
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
