#include "serial_executor.h"

namespace socketio {

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
    auto& queue = queues_[key];
    queue.push_back(std::move(task));
    if (queue.size() > 1) return;  // the key is ready or running already
    ready_.push_back(key);
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
    std::string key = std::move(ready_.front());
    ready_.pop_front();
    std::function<void()> task = std::move(queues_[key].front());
    lock.unlock();
    task();
    lock.lock();
    auto queue = queues_.find(key);
    queue->second.pop_front();
    if (queue->second.empty()) {
      queues_.erase(queue);
      if (queues_.empty()) idle_cv_.notify_all();
    } else {
      ready_.push_back(key);
      work_cv_.notify_one();
    }
  }
}

}  // namespace socketio
