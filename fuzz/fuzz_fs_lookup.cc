// sysvisor-fs's path lookup: the registry of emulated paths (fs::Registry lookup and readdir
// over emulatedEntries()) and the FUSE node table (fs::NodeTable) with its log. The input is a
// list of paths separated by NUL bytes; the first byte of each picks a container id. Checks:
// a lookup's entry is the path itself or the subtree above it (rest = what lies below), every
// name readdir lists looks up again, the names are sorted and unique, a node names its key
// until forgotten, and a node table read back from the log knows the same nodes.
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fusefs/nodes.h"
#include "fusefs/registry.h"
#include "fuzz/fuzz_util.h"

namespace {

namespace fs = sv::fs;

std::string_view normalized(std::string_view p) {
  while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  return p;
}

void checkLookup(const fs::Registry& reg, std::string_view path) {
  const std::string detail(path);
  fs::Lookup l = reg.lookup(path);
  std::string_view p = normalized(path);
  switch (l.kind) {
    case fs::Lookup::kNone:
      SV_FUZZ_CHECK(l.entry == nullptr && l.rest.empty(), detail);
      break;
    case fs::Lookup::kImplicit:
      SV_FUZZ_CHECK(l.entry == nullptr && !p.empty() && p[0] == '/', detail);
      break;
    case fs::Lookup::kEntry:
      SV_FUZZ_CHECK(l.entry != nullptr, detail);
      if (l.rest.empty()) {
        SV_FUZZ_CHECK(l.entry->path == p, detail);
      } else {
        SV_FUZZ_CHECK(l.entry->scope == fs::Scope::kSubtree, detail);
        SV_FUZZ_CHECK(std::string(l.entry->path) + "/" + std::string(l.rest) == p, detail);
      }
      break;
  }
  auto dir = reg.readdir(path);
  if (!dir) return;
  SV_FUZZ_CHECK(l.kind != fs::Lookup::kNone, detail);
  for (size_t i = 0; i < dir->size(); ++i) {
    std::string_view name = (*dir)[i].name;
    SV_FUZZ_CHECK(!name.empty() && name.find('/') == std::string_view::npos, detail);
    if (i > 0) SV_FUZZ_CHECK((*dir)[i - 1].name < name, detail);
    std::string child = (p == "/" ? std::string("/") : std::string(p) + "/") + std::string(name);
    fs::Lookup c = reg.lookup(child);
    SV_FUZZ_CHECK(c.kind != fs::Lookup::kNone, child);
    SV_FUZZ_CHECK(S_ISDIR((*dir)[i].mode) == (c.kind == fs::Lookup::kImplicit ||
                                              S_ISDIR(c.entry->mode)),
                  child);
  }
}

// Keys the FUSE layer can make: a container id (sysvisor-fs registers only plausible ones) and
// a path whose components the kernel passed (no NUL; '\n' only in a /proc/sys name, which the
// kernel's sysctl names never have). The log is line- and tab-separated, so only such keys
// are expected to come back from it.
bool loggable(std::string_view cid, std::string_view path) {
  return cid.find_first_of("\t\n") == std::string_view::npos &&
         path.find('\n') == std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::Registry registry(fs::emulatedEntries());
  static const char* const kIds[] = {"c1", "4f2c1a9e0b7d", "a.b-c_d+e", "c\tx", "c\nx", ""};

  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::pair<std::string, std::string>> keys;
  while (!in.empty()) {
    size_t nul = in.find('\0');
    std::string_view part = in.substr(0, nul);
    in.remove_prefix(nul == std::string_view::npos ? in.size() : nul + 1);
    if (part.empty()) continue;
    std::string cid = kIds[static_cast<unsigned char>(part[0]) % 6];
    std::string_view path = part.substr(1);
    checkLookup(registry, path);
    keys.emplace_back(std::move(cid), std::string(path));
  }

  const std::string log = sv::fuzz::scratch().fresh("lookup") + "/nodes.log";
  std::map<uint64_t, std::pair<std::string, std::string>> live;
  {
    fs::NodeTable nodes(log);
    for (size_t i = 0; i < keys.size(); ++i) {
      const auto& [cid, path] = keys[i];
      uint64_t n = nodes.ref(cid, path);
      SV_FUZZ_CHECK(n > fs::kRootNode, path);
      auto back = nodes.get(n);
      SV_FUZZ_CHECK(back && back->cid == cid && back->path == path, path);
      live[n] = keys[i];
      // Every third key is forgotten again (the kernel's FORGET of its one lookup).
      if (i % 3 == 2) {
        nodes.forget(n, 1);
        if (!nodes.get(n)) live.erase(n);
      }
    }
    if (!keys.empty()) {
      nodes.drop(keys.front().first);
      for (auto it = live.begin(); it != live.end();)
        it = it->second.first == keys.front().first ? live.erase(it) : std::next(it);
    }
    SV_FUZZ_CHECK(nodes.size() == live.size(), "node count");
  }
  // A restarted daemon reads the log back: every live, loggable node means the same key.
  fs::NodeTable again(log);
  for (const auto& [n, key] : live) {
    if (!loggable(key.first, key.second)) continue;
    auto back = again.get(n);
    SV_FUZZ_CHECK(back && back->cid == key.first && back->path == key.second, key.second);
  }
  return 0;
}
