// `events`: a container's resource statistics and OOM notifications as runc's JSON lines.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "personalities/runc/lifecycle.h"

namespace sv::runc {

struct EventsOptions {
  std::string id;
  bool statsOnly = false;  // --stats: one stats event, then return
  std::chrono::nanoseconds interval = std::chrono::seconds(5);
};

// Writes {"type":"stats",...} (runc 1.1's shape) every interval and {"type":"oom","id":...}
// on each OOM kill to outFd, one JSON object a line, until the container's init exits.
void containerEvents(const GlobalOptions& g, const EventsOptions& o, int outFd);

// A Go duration ("5s", "250ms", "1m30s", "1.5h", "100us"); nullopt when malformed.
std::optional<std::chrono::nanoseconds> parseDuration(std::string_view text);

}  // namespace sv::runc
