// When a long compiled loop should stop to look for pending signals (Ctrl-C).
//
// Reading the clock costs about 20 ns, as much as a tenth of a step of the blog's XOR, so
// the loop asks `due()` after every step and the clock is read only every `stride` steps,
// the stride doubling while reads come less than half a millisecond apart and halving
// when they come more than two apart. `due()` turns true once every `interval` seconds.
#ifndef TINYNET_CLOCK_HH
#define TINYNET_CLOCK_HH

#include <chrono>

namespace tinynet {

class SignalClock {
  public:
    explicit SignalClock(double interval_seconds = 0.02)
        : interval_(std::chrono::duration_cast<Clock::duration>(
              std::chrono::duration<double>(interval_seconds))),
          last_read_(Clock::now()),
          last_due_(last_read_) {}

    bool due() {
        if (--countdown_ > 0) return false;
        const Clock::time_point now = Clock::now();
        const Clock::duration since_read = now - last_read_;
        if (since_read < std::chrono::microseconds(500) && stride_ < (1L << 20)) {
            stride_ *= 2;
        } else if (since_read > std::chrono::milliseconds(2) && stride_ > 1) {
            stride_ /= 2;
        }
        countdown_ = stride_;
        last_read_ = now;
        if (now - last_due_ < interval_) return false;
        last_due_ = now;
        return true;
    }

  private:
    using Clock = std::chrono::steady_clock;
    Clock::duration interval_;
    Clock::time_point last_read_, last_due_;
    long stride_ = 1, countdown_ = 1;
};

}  // namespace tinynet

#endif  // TINYNET_CLOCK_HH
