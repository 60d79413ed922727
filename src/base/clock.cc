#include "base/clock.h"

#include <time.h>

#include <fmt/format.h>

namespace sv {

std::string rfc3339Now(bool nanoseconds) {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  ::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return nanoseconds ? fmt::format("{}.{:09d}Z", buf, ts.tv_nsec) : fmt::format("{}Z", buf);
}

}  // namespace sv
