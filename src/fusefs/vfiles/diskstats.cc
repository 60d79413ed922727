// /proc/diskstats of a container: the host's devices with the container's I/O counts.
#include <fmt/format.h>

#include <iterator>
#include <vector>

#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {
namespace {

// Columns after the device name (Documentation/admin-guide/iostats.rst, 0-based).
enum Column {
  kReads = 0,
  kSectorsRead = 2,
  kWrites = 4,
  kSectorsWritten = 6,
  kDiscards = 11,
  kSectorsDiscarded = 13,
};
constexpr uint64_t kSectorBytes = 512;  // diskstats counts 512-byte sectors on every device

// One host line with the container's counts, or nullopt when the line is not a device line.
std::optional<std::string> deviceLine(std::string_view line, const IoView& io) {
  text::Words words(line);
  auto major = words.next(), minor = words.next(), name = words.next();
  if (!major || !minor || !name) return std::nullopt;
  auto maj = text::toU64(*major), min = text::toU64(*minor);
  if (!maj || !min) return std::nullopt;
  size_t columns = 0;
  while (auto w = words.next()) {
    if (!text::toU64(*w)) return std::nullopt;
    ++columns;
  }
  std::vector<uint64_t> v(columns, 0);
  auto it = io.find({static_cast<unsigned>(*maj), static_cast<unsigned>(*min)});
  if (it != io.end()) {
    const IoCounts& c = it->second;
    auto set = [&](Column col, uint64_t value) {
      if (static_cast<size_t>(col) < v.size()) v[col] = value;
    };
    set(kReads, c.readOps);
    set(kSectorsRead, c.readBytes / kSectorBytes);
    set(kWrites, c.writeOps);
    set(kSectorsWritten, c.writeBytes / kSectorBytes);
    set(kDiscards, c.discardOps);
    set(kSectorsDiscarded, c.discardBytes / kSectorBytes);
  }
  // The kernel's "%4d %7d %s" then " %lu" per column.
  std::string out = fmt::format("{:4} {:7} {}", *maj, *min, *name);
  for (uint64_t x : v) fmt::format_to(std::back_inserter(out), " {}", x);
  out.push_back('\n');
  return out;
}

}  // namespace

std::string renderDiskstats(std::string_view hostDiskstats, const CgroupView& cg) {
  if (!cg.io) return std::string(hostDiskstats);
  std::string out;
  out.reserve(hostDiskstats.size());
  text::Lines lines(hostDiskstats);
  while (auto line = lines.next()) {
    if (auto rendered = deviceLine(*line, *cg.io)) {
      out.append(*rendered);
    } else {
      out.append(*line).push_back('\n');
    }
  }
  return out;
}

}  // namespace sv::fs
