// The loop's clock (clock.cc): CLOCK_MONOTONIC in seconds, read fresh on every call, at the
// price of the time-stamp counter rather than of clock_gettime.
//
// asyncio's call_later(d) is call_at(time() + d): every timer scheduled reads the clock.  On
// x86 clock_gettime(CLOCK_MONOTONIC) costs ~30 ns through the vDSO (an ordered rdtsc, the
// seqlock, the scaling), a third of scheduling a timer; a bare rdtsc ~11 ns.  So a Clock
// reads the real clock only to anchor itself — at least once per millisecond of counter time,
// and whenever the loop polls — and in between scales the counter from the last anchor by a
// rate calibrated against CLOCK_MONOTONIC.  What it returns:
//
// - never goes back (each value is at least the one before, also across an anchor);
// - stays within the rate's error times a millisecond (tens of nanoseconds) of what
//   clock_gettime would have said: it is a fresh reading, not a cache;
// - until the rate is known (the first millisecond of the process), and without a counter
//   (not x86), is clock_gettime itself.
//
// A Clock belongs to one loop and is read on its thread only (coio_loop_time is not
// thread-safe); the calibrated rate is shared by the process.
#pragma once

#include <cstdint>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define COIO_HAVE_TICKS 1
#endif

namespace coio::detail {

// CLOCK_MONOTONIC in seconds.
inline double real_clock() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

#ifdef COIO_HAVE_TICKS
inline std::uint64_t ticks() {
    return __rdtsc();
}
#endif

struct Clock {
    double base = 0.0;             // the real clock at the last anchor
    double last = 0.0;             // the latest value returned
    std::uint64_t base_ticks = 0;  // the counter at the last anchor (read just after `base`)
    std::uint64_t anchor_span = 0; // counter ticks in a millisecond; 0 until calibrated
    double sec_per_tick = 0.0;
    // Calibration: the counter's rate is measured between a first anchor and a later one,
    // over 1 ms, then 10 ms, 100 ms, ... (each more precise than the last).
    double calib_time = 0.0;
    std::uint64_t calib_ticks = 0;
    std::uint64_t calib_skew = 0; // ticks the first pair took to read
    double calib_after = 0.0;     // seconds past calib_time when the next calibration is due
};

void clock_init(Clock &c);     // a new loop's clock, anchored now
double clock_anchor(Clock &c); // reads the real clock, anchors (and calibrates) the counter

inline double clock_now(Clock &c) {
#ifdef COIO_HAVE_TICKS
    // Unsigned: a counter read behind the anchor (another CPU's) wraps past the span and
    // anchors afresh, as does an uncalibrated clock (span 0).
    std::uint64_t d = ticks() - c.base_ticks;
    if (d < c.anchor_span) {
        double now = c.base + double(d) * c.sec_per_tick;
        if (now < c.last) return c.last;
        c.last = now;
        return now;
    }
#endif
    return clock_anchor(c);
}

} // namespace coio::detail
