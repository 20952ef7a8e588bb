#pragma once
/// Time as the mock's model sees it: injected, so the same model runs on the wall clock behind
/// `zbatch mock` and on virtual time inside the simulator. Implementations are thread-safe.

#include <atomic>
#include <chrono>

namespace zbatch::mock {

using duration = std::chrono::microseconds;

class clock {
 public:
  virtual ~clock() = default;
  /// Time since an arbitrary origin fixed for the clock's lifetime; never goes backwards.
  virtual duration now() const = 0;
};

/// std::chrono::steady_clock, with the origin at construction.
class steady_clock final : public clock {
 public:
  steady_clock() : origin_(std::chrono::steady_clock::now()) {}
  duration now() const override {
    return std::chrono::duration_cast<duration>(std::chrono::steady_clock::now() - origin_);
  }

 private:
  std::chrono::steady_clock::time_point origin_;
};

/// A clock that moves only when told to: for tests.
class manual_clock final : public clock {
 public:
  duration now() const override { return duration{now_us_.load()}; }
  void advance(duration by) { now_us_ += by.count(); }
  void set(duration to) { now_us_ = to.count(); }

 private:
  std::atomic<duration::rep> now_us_{0};
};

}  // namespace zbatch::mock
