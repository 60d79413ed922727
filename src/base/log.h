// Leveled logging for personalities (libraries throw; only roles log).
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace sv::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

// Sends log lines to path (appended; "" or "/dev/stderr" means standard error).
void init(const std::string& path, Format format, Level minLevel);
void write(Level level, std::string_view msg);
bool enabled(Level level);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kWarn)) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

// The fd log lines go to (2 unless --log named a file).
int fd();

// True when log lines already go to standard error (so errors are not printed twice).
bool toStderr();

// JSON-escapes s (without the surrounding quotes).
std::string jsonEscape(std::string_view s);

}  // namespace sv::log
