#include "serial_executor.h"

namespace socketio {
namespace {

// Spare map nodes kept; beyond this many idle keys, their memory goes back.
constexpr size_t kMaxSpareKeys = 64;

}  // namespace

SerialExecutor::SerialExecutor(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i)
    threads_.emplace_back([this] { Work(); });
}

SerialExecutor::~SerialExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void SerialExecutor::Post(const std::string& key, std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    auto queue = queues_.find(key);
    if (queue == queues_.end()) {
      if (spare_.empty()) {
        queue = queues_.try_emplace(key).first;
      } else {
        Queues::node_type node = std::move(spare_.back());
        spare_.pop_back();
        node.key() = key;
        queue = queues_.insert(std::move(node)).position;
      }
    }
    queue->second.push_back(std::move(task));
    if (queue->second.size() > 1) return;  // the key is ready or running already
    ready_.push_back(queue);
  }
  work_cv_.notify_one();
}

bool SerialExecutor::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_for(lock, timeout, [this] { return queues_.empty(); });
}

void SerialExecutor::Work() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
    if (ready_.empty()) return;
    Queues::iterator queue = ready_.front();
    ready_.pop_front();
    std::function<void()> task = std::move(queue->second.front());
    lock.unlock();
    task();
    task = nullptr;  // its captures go before the key can be reused
    lock.lock();
    queue->second.pop_front();
    if (queue->second.empty()) {
      Queues::node_type node = queues_.extract(queue);
      if (spare_.size() < kMaxSpareKeys) spare_.push_back(std::move(node));
      if (queues_.empty()) idle_cv_.notify_all();
    } else {
      ready_.push_back(queue);
      work_cv_.notify_one();
    }
  }
}

}  // namespace socketio
