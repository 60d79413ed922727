// /etc/subuid, /etc/subgid and the SUB_*ID_MIN/MAX limits of /etc/login.defs, as text in and
// text out: the daemon reads and writes the files (and locks them); this decides where the
// sysvisor pool goes without touching any other line.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sv::mgr {

struct SubidEntry {
  std::string name;
  uint64_t start = 0, count = 0;

  bool operator==(const SubidEntry&) const = default;
};

// Inclusive bounds of the ids a new entry may use. The defaults are Sysbox's; shadow's own
// default max (600100000) is too small for a 256M pool.
struct SubidLimits {
  uint64_t min = 100000, max = 4294967295;
};

// SUB_UID_MIN/SUB_UID_MAX (gid=false) or SUB_GID_MIN/SUB_GID_MAX from login.defs text. Numbers
// are read like shadow reads them (decimal, 0x hex, leading-0 octal, optionally in double
// quotes; the last definition wins); comments (#...) and malformed values are ignored, absent
// keys keep the defaults.
SubidLimits parseLoginDefs(std::string_view text, bool gid);

// Entries "name:start:count" (numeric-uid names allowed, numbers read like shadow reads them);
// blank, comment and malformed lines are skipped.
std::vector<SubidEntry> parseSubid(std::string_view text);

struct EnsureResult {
  std::string text;
  uint64_t start = 0;
  uint64_t count = 0;
  bool changed = false;
};

// Makes sure `name` has an entry of at least `count` ids. An existing entry for name with
// count >= wanted is kept as it is (start/count returned, text unchanged, changed=false).
// Otherwise a new line "name:<start>:<count>\n" is appended: start is the lowest multiple of
// 65536 >= limits.min such that [start, start+count) lies within limits and overlaps no other
// entry (any user's, including a too-small old entry of ours, which is left untouched). The id
// 4294967295 ((uid_t)-1) is never handed out, whatever limits.max says. Every existing byte is
// preserved (a file without a trailing newline gets one before our line). No hole, or count 0:
// throws std::runtime_error saying which range was searched and what to do; `path` (e.g.
// "/etc/subuid") names the file in that message.
EnsureResult ensureEntry(std::string_view text, std::string_view name, uint64_t count,
                         const SubidLimits& limits, std::string_view path = "the subid file");

}  // namespace sv::mgr
