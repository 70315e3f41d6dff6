#include "sidecar/runtime/timer_wheel.h"

#include <algorithm>
#include <bit>

namespace sidecar::runtime {

TimerWheel::TimerWheel(boost::asio::io_context& io, std::chrono::milliseconds granularity,
                       uint64_t buckets)
    : granularity_(std::max(granularity, std::chrono::milliseconds(1))),
      origin_(Clock::now()),
      timer_(io),
      buckets_(std::bit_ceil(std::max<uint64_t>(buckets, 1))) {}

// The lists unlink the timers still in them; the timers outlive the wheel unarmed.
TimerWheel::~TimerWheel() = default;

uint64_t TimerWheel::TickAt(Clock::time_point time) const {
  if (time <= origin_) return 0;
  return static_cast<uint64_t>((time - origin_) / granularity_);
}

void TimerWheel::Schedule(Timer& timer, Clock::duration delay) {
  timer.Cancel();
  // Rounded up, so that a timer never fires early.
  Clock::time_point deadline = Clock::now() + std::max(delay, Clock::duration::zero());
  uint64_t due = TickAt(deadline);
  if (origin_ + due * granularity_ < deadline) ++due;
  due = std::max(due, current_tick_ + 1);
  timer.due_tick_ = due;
  Bucket(due).push_back(timer);
  last_due_tick_ = std::max(last_due_tick_, due);
  // While advancing, ArmNext runs once the due timers have fired.
  if (!advancing_ && (!armed_ || due < armed_tick_)) ArmAt(due);
}

void TimerWheel::ArmAt(uint64_t tick) {
  armed_ = true;
  armed_tick_ = tick;
  // Cancels the previous wait, whose handler then sees operation_aborted.
  timer_.expires_at(origin_ + tick * granularity_);
  timer_.async_wait([this](boost::system::error_code error) { OnTick(error); });
}

void TimerWheel::ArmNext() {
  if (!firing_.empty()) return ArmAt(current_tick_ + 1);
  uint64_t last = std::min(last_due_tick_, current_tick_ + buckets_.size());
  for (uint64_t tick = current_tick_ + 1; tick <= last; ++tick) {
    if (!Bucket(tick).empty()) return ArmAt(tick);
  }
  armed_ = false;
  timer_.cancel();
}

void TimerWheel::OnTick(boost::system::error_code error) {
  // A cancelled wait (the wheel re-armed earlier, or is being destroyed): `this` may be gone.
  if (error == boost::asio::error::operation_aborted) return;
  armed_ = false;
  advancing_ = true;
  try {
    Advance();
  } catch (...) {
    // A callback threw: the rest still fire, on the next tick, and the shard's other timers
    // keep running.
    advancing_ = false;
    ArmNext();
    throw;
  }
  advancing_ = false;
  ArmNext();
}

void TimerWheel::Advance() {
  uint64_t now = TickAt(Clock::now());
  // After a stall of a whole turn or more, every bucket is looked at once.
  uint64_t last = std::min(now, current_tick_ + buckets_.size());
  for (uint64_t tick = current_tick_ + 1; tick <= last; ++tick) {
    List& bucket = Bucket(tick);
    for (auto it = bucket.begin(); it != bucket.end();) {
      Timer& timer = *it;
      ++it;
      if (timer.due_tick_ <= now) {
        timer.Cancel();
        firing_.push_back(timer);
      }
    }
  }
  current_tick_ = std::max(current_tick_, now);
  FireDue();
}

void TimerWheel::FireDue() {
  while (!firing_.empty()) {
    Timer& timer = firing_.front();
    firing_.pop_front();
    // The timer may be destroyed by its own callback: nothing touches it afterwards.
    timer.OnTimer();
  }
}

}  // namespace sidecar::runtime
