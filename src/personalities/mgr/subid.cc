#include "personalities/mgr/subid.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>

namespace sv::mgr {

namespace {

constexpr uint64_t kAlign = 65536;
// (uid_t)-1 means "no id" to every syscall; no entry we write may contain it.
constexpr uint64_t kLastId = std::numeric_limits<uint32_t>::max() - 1;
constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

constexpr std::string_view kSpace = " \t\r\f\v";

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(kSpace) - b + 1);
}

// Calls f on every line of text, without its '\n'.
template <typename F>
void forEachLine(std::string_view text, F&& f) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

int digitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

// A number the way shadow reads one (strtoul base 0, the whole string, no sign): 0x hex,
// leading-0 octal, else decimal. Reading "010" as 8 like useradd does keeps our view of the
// file identical to shadow's, so we never place a range where shadow sees a conflict.
std::optional<uint64_t> parseNumber(std::string_view s) {
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    const unsigned d = unsigned(digitValue(c));
    if (d >= base || v > (kMax64 - d) / base) return std::nullopt;
    v = v * base + d;
  }
  return v;
}

uint64_t saturatingAdd(uint64_t a, uint64_t b) {
  return b > kMax64 - a ? kMax64 : a + b;
}

// Only called with v <= kLastId, so the result fits.
uint64_t alignUp(uint64_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

SubidLimits parseLoginDefs(std::string_view text, bool gid) {
  const std::string_view minKey = gid ? "SUB_GID_MIN" : "SUB_UID_MIN";
  const std::string_view maxKey = gid ? "SUB_GID_MAX" : "SUB_UID_MAX";
  SubidLimits limits;
  forEachLine(text, [&](std::string_view line) {
    line = trim(line);
    if (line.empty() || line[0] == '#') return;
    const size_t keyEnd = line.find_first_of(kSpace);
    if (keyEnd == std::string_view::npos) return;
    const std::string_view key = line.substr(0, keyEnd);
    if (key != minKey && key != maxKey) return;
    std::string_view value = trim(line.substr(keyEnd));
    // A trailing comment after the value; shadow would reject the whole value, but reading
    // it is harmless (useradd checks every entry for overlap anyway).
    if (size_t hash = value.find('#'); hash != std::string_view::npos) {
      value = trim(value.substr(0, hash));
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    const auto v = parseNumber(value);
    if (!v) return;
    // Like shadow, the last definition wins.
    (key == minKey ? limits.min : limits.max) = *v;
  });
  return limits;
}

std::vector<SubidEntry> parseSubid(std::string_view text) {
  std::vector<SubidEntry> entries;
  forEachLine(text, [&](std::string_view line) {
    line = trim(line);
    if (line.empty() || line[0] == '#') return;
    const size_t c1 = line.find(':');
    if (c1 == std::string_view::npos || c1 == 0) return;
    const size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos || line.find(':', c2 + 1) != std::string_view::npos) return;
    const auto start = parseNumber(line.substr(c1 + 1, c2 - c1 - 1));
    const auto count = parseNumber(line.substr(c2 + 1));
    if (!start || !count) return;
    entries.push_back({std::string(line.substr(0, c1)), *start, *count});
  });
  return entries;
}

EnsureResult ensureEntry(std::string_view text, std::string_view name, uint64_t count,
                         const SubidLimits& limits, std::string_view path) {
  // A name with ':' or a line break would write a line that means something else, and one
  // starting with '#' a comment that reserves nothing.
  if (name.empty() || name.find_first_of(":\n") != std::string_view::npos || trim(name) != name ||
      name.front() == '#') {
    throw std::runtime_error(
        fmt::format("cannot add '{}' to {}: not a valid user name", name, path));
  }
  if (count == 0) {
    throw std::runtime_error(
        fmt::format("cannot add an entry of 0 ids for '{}' to {}", name, path));
  }
  std::vector<SubidEntry> entries = parseSubid(text);
  for (const SubidEntry& e : entries) {
    if (e.name == name && e.count >= count) {
      return {std::string(text), e.start, e.count, false};
    }
  }

  const uint64_t lo = limits.min;
  const uint64_t hi = std::min(limits.max, kLastId);
  auto noHole = [&]() {
    return std::runtime_error(fmt::format(
        "no free range of {} ids for '{}' in {}: searched 65536-aligned starts in [{}, {}] "
        "(the SUB_UID_MIN..SUB_UID_MAX or SUB_GID_MIN..SUB_GID_MAX of /etc/login.defs) and "
        "every candidate overlaps an existing entry or runs past the end; remove unused "
        "entries from {} or widen those limits",
        count, name, path, lo, hi, path));
  };
  if (lo > hi) throw noHole();

  // Sweep the entries in start order: a candidate that overlaps one moves past its end, and
  // since candidates only move forward, entries already passed never overlap again.
  std::sort(entries.begin(), entries.end(),
            [](const SubidEntry& a, const SubidEntry& b) { return a.start < b.start; });
  uint64_t start = alignUp(lo);
  auto fits = [&](uint64_t s) { return s <= hi && count - 1 <= hi - s; };
  if (!fits(start)) throw noHole();
  for (const SubidEntry& e : entries) {
    const uint64_t end = saturatingAdd(e.start, e.count);
    if (e.count == 0 || end <= start) continue;
    if (e.start >= start + count) break;  // start + count - 1 <= hi: no overflow
    if (end - 1 >= hi) throw noHole();    // nothing after it is left in range
    start = alignUp(end);
    if (!fits(start)) throw noHole();
  }

  std::string out(text);
  if (!out.empty() && out.back() != '\n') out += '\n';
  out += fmt::format("{}:{}:{}\n", name, start, count);
  return {std::move(out), start, count, true};
}

}  // namespace sv::mgr
