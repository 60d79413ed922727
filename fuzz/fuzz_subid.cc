// /etc/subuid and /etc/login.defs text → mgr::parseSubid, mgr::parseLoginDefs and the
// placement of sysvisor's pool entry (mgr::ensureEntry), as sysvisor-mgr does at start.
// Input: "<subid text>\0<login.defs text>\0<name>"; the input's hash picks uid or gid keys and
// the wanted count. Checks what subid.h promises of a new entry: every existing byte kept, a
// 65536-aligned start within the limits (never reaching id 4294967295), no overlap with any
// entry, and the file parsing back to the old entries plus the new one.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "personalities/mgr/subid.h"

namespace {

std::string_view nextPart(std::string_view& in) {
  size_t nul = in.find('\0');
  std::string_view part = in.substr(0, nul);
  in.remove_prefix(nul == std::string_view::npos ? in.size() : nul + 1);
  return part;
}

void checkPlaced(std::string_view text, const sv::mgr::SubidEntry& want,
                 const sv::mgr::SubidLimits& limits, const sv::mgr::EnsureResult& r) {
  const std::string detail = want.name + ":" + std::to_string(r.start) + ":" +
                             std::to_string(r.count);
  SV_FUZZ_CHECK(r.text.starts_with(text), detail);
  SV_FUZZ_CHECK(r.count == want.count, detail);
  SV_FUZZ_CHECK(r.start % 65536 == 0, detail);
  SV_FUZZ_CHECK(r.start >= limits.min, detail);
  const uint64_t last = r.start + r.count - 1;  // start, count < 2^32: no overflow
  SV_FUZZ_CHECK(last <= limits.max && last < 4294967295u, detail);
  const auto old = sv::mgr::parseSubid(text);
  for (const auto& e : old) {
    if (e.count == 0) continue;
    const uint64_t end = e.count - 1 > UINT64_MAX - e.start ? UINT64_MAX : e.start + e.count - 1;
    SV_FUZZ_CHECK(e.start > last || end < r.start,
                  detail + " overlaps " + e.name + ":" + std::to_string(e.start) + ":" +
                      std::to_string(e.count));
  }
  auto now = sv::mgr::parseSubid(r.text);
  auto expected = old;
  expected.push_back({want.name, r.start, r.count});
  SV_FUZZ_CHECK(now == expected, detail);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::string_view subid = nextPart(in);
  const std::string_view loginDefs = nextPart(in);
  const std::string_view name = in.empty() ? std::string_view("sysvisor") : in;
  const uint64_t h = sv::fuzz::inputHash(data, size);
  const bool gid = h & 1;
  constexpr uint64_t kCounts[] = {268435456, 65536, 1, 0, 4294967295u, 65537, 131072, 16777216};
  const uint64_t count = kCounts[(h >> 1) & 7];

  const sv::mgr::SubidLimits limits = sv::mgr::parseLoginDefs(loginDefs, gid);
  try {
    sv::mgr::EnsureResult r = sv::mgr::ensureEntry(subid, name, count, limits, "/etc/subuid");
    if (r.changed) {
      checkPlaced(subid, {std::string(name), 0, count}, limits, r);
    } else {
      SV_FUZZ_CHECK(r.text == subid, "unchanged text differs");
      bool found = false;
      for (const auto& e : sv::mgr::parseSubid(subid))
        found = found || (e.name == name && e.start == r.start && e.count == r.count &&
                          e.count >= count);
      SV_FUZZ_CHECK(found, "kept entry not in the file");
    }
  } catch (const std::runtime_error&) {
    // No hole, a bad name or count 0: refusals with a message.
  }
  return 0;
}
