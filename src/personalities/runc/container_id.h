// Container id rules: [A-Za-z0-9_+.-], 1..1024 characters, not "." or "..", no "..".
#pragma once

#include <string>
#include <string_view>

namespace sv::runc {

constexpr size_t kMaxIdLength = 1024;

// Throws UserError with a message saying what is wrong and what is allowed.
void validateContainerId(std::string_view id);

}  // namespace sv::runc
