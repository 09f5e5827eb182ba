/* Seconds given by a user (a double) as libuv milliseconds or hrtime
 * nanoseconds, without undefined behaviour: converting a double beyond the
 * range of uint64_t (1e11 s in ns), infinity or NaN to an integer is UB. */
#ifndef CONNRECIPE_DURATION_H
#define CONNRECIPE_DURATION_H

#include <stdint.h>

/* About 31 years: for a troubleshooting run, forever. Longer durations are
 * clamped to it; the deadline or timer then never fires in practice. */
#define CR_MAX_SECONDS 1e9

static inline double cr_seconds_clamp(double s) {
  if (!(s > 0)) return 0; /* NaN too */
  return s > CR_MAX_SECONDS ? CR_MAX_SECONDS : s;
}

/* Rounded to the nearest millisecond; NaN and s <= 0: 0. */
static inline uint64_t cr_seconds_to_ms(double s) {
  return (uint64_t)(cr_seconds_clamp(s) * 1e3 + 0.5);
}

static inline uint64_t cr_seconds_to_ns(double s) {
  return (uint64_t)(cr_seconds_clamp(s) * 1e9);
}

#endif
