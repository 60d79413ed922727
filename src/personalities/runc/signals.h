// Signal names and numbers as runc's `kill` accepts them: "KILL", "SIGKILL", "9",
// "RTMIN+3", "SIGRTMAX-2".
#pragma once

#include <optional>
#include <string_view>

namespace sv::runc {

// Returns the signal number, or nullopt if the text names no signal.
std::optional<int> parseSignal(std::string_view text);

}  // namespace sv::runc
