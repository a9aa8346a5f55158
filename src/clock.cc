// The loop's clock: anchoring the time-stamp counter to CLOCK_MONOTONIC (see clock.hh).
#include "clock.hh"

#include <atomic>
#include <cmath>

namespace coio::detail {

static double clamp(Clock &c, double now) {
    if (now < c.last) return c.last;
    c.last = now;
    return now;
}

#ifdef COIO_HAVE_TICKS
// The rate, once a loop of the process has measured it: later loops start calibrated.
static std::atomic<double> g_sec_per_tick{0.0};

static constexpr double kAnchorSpan = 0.001; // interpolate at most this long
// The rate is measured over 1 ms, then over 10 ms, 100 ms, ..., 100 s, and then kept.
static constexpr double kFirstCalibration = 0.001;
static constexpr double kLastCalibration = 100.0;
// A calibration is trusted when its two (clock, counter) pairs took at most this fraction
// of the span between them to read: the rate is then that precise.  A pair that took longer
// straddled a preemption; the calibration waits for a later anchor.
static constexpr double kMaxCalibrationError = 1e-4;
static constexpr int kPairTries = 3;

static void set_rate(Clock &c, double sec_per_tick) {
    c.sec_per_tick = sec_per_tick;
    c.anchor_span = std::uint64_t(kAnchorSpan / sec_per_tick);
}

// The real clock and the counter just after it; *skew: the ticks the pair took to read.
// Anchored on the later tick, interpolated values trail the real clock by at most the skew.
static double read_pair(std::uint64_t *after, std::uint64_t *skew) {
    std::uint64_t before = ticks();
    double now = real_clock();
    *after = ticks();
    *skew = *after - before;
    return now;
}

// The pair with the least skew of a few (the first that took under `good` ticks).
static double read_best_pair(std::uint64_t *after, std::uint64_t *skew, std::uint64_t good) {
    double now = read_pair(after, skew);
    for (int i = 1; i<kPairTries && * skew> good; i++) {
        std::uint64_t t, s;
        double n = read_pair(&t, &s);
        if (s < *skew) now = n, *after = t, *skew = s;
    }
    return now;
}

static void calibrate(Clock &c, double now, std::uint64_t t, std::uint64_t skew) {
    double dt = now - c.calib_time;
    if (dt < c.calib_after) return;
    double dticks = double(t - c.calib_ticks);
    if (!(dticks > 0) || double(skew + c.calib_skew) > dticks * kMaxCalibrationError) return;
    double rate = dt / dticks;
    if (!(rate > 0 && rate < 1e-6)) return; // a counter slower than 1 MHz is not one to use
    set_rate(c, rate);
    g_sec_per_tick.store(rate, std::memory_order_relaxed);
    c.calib_after = dt * 10 <= kLastCalibration ? dt * 10 : INFINITY;
}
#endif

void clock_init(Clock &c) {
    c = Clock{};
#ifdef COIO_HAVE_TICKS
    c.calib_time = read_best_pair(&c.calib_ticks, &c.calib_skew, 0);
    c.calib_after = kFirstCalibration;
    if (double rate = g_sec_per_tick.load(std::memory_order_relaxed)) set_rate(c, rate);
#endif
    clock_anchor(c);
}

double clock_anchor(Clock &c) {
#ifdef COIO_HAVE_TICKS
    double now;
    // Uncalibrated and no calibration due: the real clock alone, as cheap as it gets.
    if (!c.anchor_span && (now = real_clock()) - c.calib_time < c.calib_after) return clamp(c, now);
    std::uint64_t t, skew;
    // Calibrated: retry a pair that took over 10 µs.  Not yet: one pair, then the next anchor.
    now = read_best_pair(&t, &skew, c.anchor_span ? c.anchor_span / 100 : UINT64_MAX);
    if (c.calib_after != INFINITY) calibrate(c, now, t, skew);
    c.base = now;
    c.base_ticks = t;
    return clamp(c, now);
#else
    return clamp(c, real_clock());
#endif
}

} // namespace coio::detail
