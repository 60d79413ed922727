#include "base/sys_error.h"

#include <cstring>

namespace sv {

namespace {
// "::openat(dir, name, O_RDONLY)" -> "openat": the operation name for messages.
std::string opName(const char* expr) {
  std::string s(expr);
  while (!s.empty() && (s[0] == ':' || s[0] == ' ')) s.erase(0, 1);
  auto p = s.find('(');
  if (p != std::string::npos) s.resize(p);
  return s;
}
}  // namespace

void throwSysError(int err, const char* op, const std::string& context) {
  std::string msg = opName(op);
  if (!context.empty()) msg += " " + context;
  throw SysError(err, msg);
}

}  // namespace sv
