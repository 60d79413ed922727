// SysError: errno + operation + context, and the syscall-check macros.
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <optional>
#include <string>
#include <system_error>

namespace sv {

class SysError : public std::system_error {
 public:
  SysError(int err, const std::string& what) : std::system_error(err, std::generic_category(), what) {}
  int err() const noexcept { return code().value(); }
};

// A plain error with a message meant for the user (bad input, wrong state).
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throwSysError(int err, const char* op, const std::string& context);

namespace detail {
inline std::string formatContext() { return {}; }
template <typename... Args>
std::string formatContext(fmt::format_string<Args...> f, Args&&... args) {
  return fmt::format(f, std::forward<Args>(args)...);
}
}  // namespace detail

}  // namespace sv

// Evaluates a syscall expression, retrying on EINTR; throws SysError on -1. The context
// (a fmt format string and arguments) is formatted only on failure.
#define SV_SYSCALL(expr, ...)                                                           \
  ([&]() {                                                                              \
    for (;;) {                                                                          \
      auto sv_r_ = (expr);                                                              \
      if (sv_r_ != -1) return sv_r_;                                                    \
      if (errno == EINTR) continue;                                                     \
      int sv_e_ = errno;                                                                \
      ::sv::throwSysError(sv_e_, #expr, ::sv::detail::formatContext(__VA_ARGS__));      \
    }                                                                                   \
  }())

// Like SV_SYSCALL but an ENOENT result yields std::nullopt instead of throwing.
#define SV_SYSCALL_IF_EXISTS(expr, ...)                                                 \
  ([&]() -> std::optional<decltype(expr)> {                                             \
    for (;;) {                                                                          \
      auto sv_r_ = (expr);                                                              \
      if (sv_r_ != -1) return sv_r_;                                                    \
      if (errno == EINTR) continue;                                                     \
      if (errno == ENOENT) return std::nullopt;                                         \
      int sv_e_ = errno;                                                                \
      ::sv::throwSysError(sv_e_, #expr, ::sv::detail::formatContext(__VA_ARGS__));      \
    }                                                                                   \
  }())
