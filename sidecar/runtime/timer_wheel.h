#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <chrono>
#include <cstdint>
#include <vector>

namespace sidecar::runtime {

// The timers of one shard in one hashed wheel. A timer is a 32-byte base of the object that
// owns it: arming it allocates nothing, and an armed timer costs no Asio timer and no pending
// handler, which per-session steady_timers did (about 200 bytes per idle session). One
// steady_timer per wheel wakes the shard at the next tick with something in it.
//
// A timer fires on its shard's thread no earlier than its delay and at most one granularity
// later (plus the thread's own latency). Timers due in the same tick fire in the order they
// were armed, those of earlier ticks first. Only touched from the io_context's thread.
class TimerWheel {
 public:
  using Clock = std::chrono::steady_clock;

  // Derive from Timer and override OnTimer. Destroying an armed timer disarms it.
  class Timer {
   public:
    Timer() = default;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    virtual ~Timer() = default;

    bool armed() const { return hook_.is_linked(); }
    void Cancel() { hook_.unlink(); }

   private:
    friend class TimerWheel;
    // Runs when the timer is due; the timer is disarmed first, so OnTimer may re-arm it or
    // destroy its owner.
    virtual void OnTimer() = 0;

    boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>
        hook_;
    uint64_t due_tick_ = 0;
  };

  // `buckets` (a power of two) times `granularity` is one turn of the wheel: a timer due
  // further away is looked at once per turn until it is due.
  TimerWheel(boost::asio::io_context& io, std::chrono::milliseconds granularity,
             uint64_t buckets = kDefaultBuckets);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();

  // Arms `timer` to fire after `delay`, replacing its previous deadline if it was armed.
  void Schedule(Timer& timer, Clock::duration delay);

  std::chrono::milliseconds granularity() const { return granularity_; }

 private:
  using List = boost::intrusive::list<
      Timer, boost::intrusive::member_hook<Timer, decltype(Timer::hook_), &Timer::hook_>,
      boost::intrusive::constant_time_size<false>>;
  // At a 10 ms granularity one turn is 41 s, longer than Engine.IO's default ping interval, so
  // most timers are looked at once.
  static constexpr uint64_t kDefaultBuckets = 4096;

  // The tick `time` falls in (rounded down), counted from the wheel's creation.
  uint64_t TickAt(Clock::time_point time) const;
  List& Bucket(uint64_t tick) { return buckets_[tick & (buckets_.size() - 1)]; }
  void OnTick(boost::system::error_code error);
  // Moves every timer due by now into `firing_`, then fires them in order.
  void Advance();
  void FireDue();
  // Waits for the next tick holding a timer, or for none when the wheel is empty.
  void ArmNext();
  void ArmAt(uint64_t tick);

  std::chrono::milliseconds granularity_;
  Clock::time_point origin_;
  boost::asio::steady_timer timer_;
  std::vector<List> buckets_;
  // Timers taken out of their buckets and about to fire; any left here by a callback that threw
  // fire on the next tick.
  List firing_;
  // Every bucket up to this tick has been emptied of due timers.
  uint64_t current_tick_ = 0;
  // No timer is due after this tick.
  uint64_t last_due_tick_ = 0;
  bool armed_ = false;
  uint64_t armed_tick_ = 0;
  bool advancing_ = false;
};

}  // namespace sidecar::runtime
