// Wall-clock timestamps in the forms the runtime writes.
#pragma once

#include <string>

namespace sv {

// RFC 3339 in UTC: "2026-11-29T01:41:17Z", or with nanoseconds "…17.123456789Z".
std::string rfc3339Now(bool nanoseconds);

}  // namespace sv
