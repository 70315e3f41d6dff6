#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace socketio {

// A thread pool whose tasks are keyed: tasks of one key run one at a time in
// the order posted, tasks of different keys run concurrently.
class SerialExecutor {
 public:
  explicit SerialExecutor(size_t threads);
  ~SerialExecutor();

  void Post(const std::string& key, std::function<void()> task);
  // Waits until no task is queued or running; false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

 private:
  using Queues = std::map<std::string, std::deque<std::function<void()>>, std::less<>>;

  void Work();

  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  // Keys with a task ready to run; a key is listed at most once and never
  // while one of its tasks runs. Map iterators stay valid while a key has tasks.
  std::deque<Queues::iterator> ready_;
  Queues queues_;
  // Emptied keys' map nodes, each with its deque's storage, for the next keys:
  // a socket's event then costs no allocation in the pool.
  std::vector<Queues::node_type> spare_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace socketio
