// Container ids name directories under the state root, so they must not be able to climb out
// of it or hide in it: a small character set, no "." / ".." and no "..".
#include "personalities/runc/container_id.h"

#include <fmt/format.h>

#include <algorithm>

#include "base/sys_error.h"

namespace sv::runc {
namespace {

constexpr std::string_view kRule =
    "an id may contain only letters, digits, '_', '+', '-' and '.', may not be '.' or '..' or "
    "contain \"..\", and is at most 1024 characters";

constexpr bool isIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '+' || c == '-' || c == '.';
}
static_assert(kMaxIdLength == 1024, "kRule states the limit in words");

}  // namespace

void validateContainerId(std::string_view id) {
  if (id.empty()) throw UserError("container id cannot be empty");
  // The ".." test also rules out an id of ".."; "." needs its own.
  const bool ok = id.size() <= kMaxIdLength && std::all_of(id.begin(), id.end(), isIdChar) &&
                  id != "." && id.find("..") == std::string_view::npos;
  if (ok) return;
  // Quote a bounded prefix: the id may be huge and holds arbitrary bytes ({:?} escapes them).
  constexpr size_t kShown = 64;
  if (id.size() > kShown) {
    throw UserError(fmt::format("invalid container id {:?}... ({} characters): {}",
                                id.substr(0, kShown), id.size(), kRule));
  }
  throw UserError(fmt::format("invalid container id {:?}: {}", id, kRule));
}

}  // namespace sv::runc
