#include "base/log.h"

#include "base/clock.h"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <ctime>

namespace sv::log {

namespace {
struct State {
  int fd = 2;
  Format format = Format::kText;
  Level min = Level::kWarn;
};
State& state() {
  static State s;
  return s;
}

const char* levelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warning";
    case Level::kError: return "error";
  }
  return "error";
}

// Seconds, like logrus' default RFC 3339 timestamps that containerd's shim parses.
std::string timestamp() { return rfc3339Now(false); }
}  // namespace

void init(const std::string& path, Format format, Level minLevel) {
  State& s = state();
  s.format = format;
  s.min = minLevel;
  if (!path.empty() && path != "/dev/stderr") {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) s.fd = fd;
  }
}

bool enabled(Level level) { return level >= state().min; }
bool toStderr() { return state().fd == 2; }
int fd() { return state().fd; }

std::string jsonEscape(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 8);
  for (unsigned char c : in) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
  }
  return out;
}

void write(Level level, std::string_view msg) {
  State& s = state();
  std::string line;
  if (s.format == Format::kJson) {
    line = fmt::format("{{\"level\":\"{}\",\"msg\":\"{}\",\"time\":\"{}\"}}\n", levelName(level),
                       jsonEscape(msg), timestamp());
  } else {
    line = fmt::format("time=\"{}\" level={} msg=\"{}\"\n", timestamp(), levelName(level),
                       jsonEscape(msg));
  }
  // One write per line so concurrent writers to an O_APPEND log do not interleave.
  [[maybe_unused]] auto n = ::write(s.fd, line.data(), line.size());
}

}  // namespace sv::log
