#include "personalities/mgr/id_alloc.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

namespace sv::mgr {

namespace {

using Json = nlohmann::json;

constexpr int kTableVersion = 1;
// (uid_t)-1 means "no id" to every syscall and the kernel refuses an id map that reaches it.
constexpr uint64_t kNoId = std::numeric_limits<uint32_t>::max();

bool isAbsolute(const std::string& path) {
  return !path.empty() && path[0] == '/';
}

// ---- table readers: every field is checked, so a hand-edited or truncated table is refused
// with the field named instead of being half-trusted.

[[noreturn]] void bad(const std::string& where, std::string_view problem) {
  throw AllocError(fmt::format("id allocation table: {} {}", where, problem));
}

const Json& field(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) bad(where, fmt::format("has no \"{}\"", key));
  return *it;
}

uint64_t uintField(const Json& obj, const char* key, uint64_t max, const std::string& where) {
  const Json& v = field(obj, key, where);
  if (!v.is_number_unsigned() || v.get<uint64_t>() > max) {
    bad(where, fmt::format("has \"{}\": {}, not an integer in [0, {}]", key, v.dump(), max));
  }
  return v.get<uint64_t>();
}

int64_t intField(const Json& obj, const char* key, const std::string& where) {
  const Json& v = field(obj, key, where);
  if (!v.is_number_integer()) {
    bad(where, fmt::format("has \"{}\": {}, not an integer", key, v.dump()));
  }
  // A huge unsigned value is an integer to nlohmann but does not fit the int64_t we keep.
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
    bad(where, fmt::format("has \"{}\": {}, out of range", key, v.dump()));
  }
  return v.get<int64_t>();
}

bool boolField(const Json& obj, const char* key, const std::string& where) {
  const Json& v = field(obj, key, where);
  if (!v.is_boolean()) bad(where, fmt::format("has \"{}\": {}, not true or false", key, v.dump()));
  return v.get<bool>();
}

std::string stringField(const Json& obj, const char* key, const std::string& where) {
  const Json& v = field(obj, key, where);
  if (!v.is_string()) bad(where, fmt::format("has \"{}\": {}, not a string", key, v.dump()));
  return v.get<std::string>();
}

Json toJson(const Allocation& a) {
  Json j{{"id", a.id},         {"uidBase", a.uidBase}, {"gidBase", a.gidBase},
         {"size", a.size},     {"running", a.running}, {"since", a.since},
         {"rootfs", a.rootfs}, {"shared", a.shared}};
  if (!a.rootfsKey.empty()) j["rootfsKey"] = a.rootfsKey;
  return j;
}

}  // namespace

std::optional<SubidPolicy> policyFromName(std::string_view name) {
  if (name == "reuse") return SubidPolicy::kReuse;
  if (name == "no-reuse") return SubidPolicy::kNoReuse;
  return std::nullopt;
}

const char* policyName(SubidPolicy policy) {
  return policy == SubidPolicy::kReuse ? "reuse" : "no-reuse";
}

IdAllocator::IdAllocator(uint32_t uidStart, uint32_t gidStart, uint64_t poolSize,
                         SubidPolicy policy)
    : uidStart_(uidStart), gidStart_(gidStart), poolSize_(poolSize), policy_(policy) {
  const uint64_t blocks = poolSize / kBlockSize;
  if (blocks == 0) {
    throw AllocError(fmt::format(
        "the sysvisor id pool has {} ids, less than one block of {}; give the sysvisor entry in "
        "/etc/subuid and /etc/subgid at least {} ids",
        poolSize, kBlockSize, kBlockSize));
  }
  // The last id of the last block must stay below (uid_t)-1.
  const uint64_t last = blocks * kBlockSize - 1;
  for (auto [kind, start] : {std::pair{"uid", uidStart}, std::pair{"gid", gidStart}}) {
    if (start + last >= kNoId) {
      throw AllocError(fmt::format(
          "the sysvisor {} pool [{}, {}] reaches past {}; move the sysvisor entry of /etc/sub{} "
          "lower or shrink it",
          kind, start, start + last, kNoId - 1, kind));
    }
  }
  holders_.assign(blocks, 0);
  for (uint32_t b = 0; b < blocks; ++b) free_.insert(free_.end(), b);
}

void IdAllocator::hold(uint32_t block) {
  uint32_t& n = holders_[block];
  if (n == 0) {
    free_.erase(block);
  } else {
    held_.erase({n, block});
  }
  ++n;
  held_.insert({n, block});
}

void IdAllocator::unhold(uint32_t block) {
  uint32_t& n = holders_[block];
  held_.erase({n, block});
  --n;
  if (n == 0) {
    free_.insert(block);
  } else {
    held_.insert({n, block});
  }
}

uint32_t IdAllocator::pickBlock(bool& shared) const {
  if (!free_.empty()) {
    // Next-fit: a block freed just now is handed out again only after every other free block,
    // so whatever its dead container left in a shared volume is not inherited soon.
    auto it = free_.lower_bound(cursor_);
    if (it == free_.end()) it = free_.begin();
    shared = false;
    return *it;
  }
  if (policy_ == SubidPolicy::kNoReuse) {
    size_t stopped = 0;
    for (const auto& [id, a] : byId_) stopped += a.running ? 0 : 1;
    throw AllocError(fmt::format(
        "all {} id blocks of the sysvisor pool are in use ({} containers hold one, {} of them "
        "stopped); remove stopped containers or restart sysvisor-mgr with --subid-policy reuse",
        blockCount(), byId_.size(), stopped));
  }
  // Fewest holders first, then the lowest block: set order of (holders, block).
  shared = true;
  return held_.begin()->second;
}

const Allocation& IdAllocator::acquire(const std::string& id, const std::string& rootfs,
                                       int64_t now, const std::string& rootfsKey) {
  if (id.empty()) throw AllocError("cannot allocate ids for a container with an empty id");
  // reap() tests the rootfs from the daemon's cwd; a relative path could look gone and free the
  // block of a live container.
  if (!isAbsolute(rootfs)) {
    throw AllocError(
        fmt::format("rootfs '{}' of container '{}' is not an absolute path", rootfs, id));
  }
  if (auto it = byId_.find(id); it != byId_.end()) {
    Allocation& a = it->second;
    a.rootfs = rootfs;
    a.rootfsKey = rootfsKey;
    if (!a.running) {
      a.running = true;
      a.since = now;
    }
    return a;
  }
  bool shared = false;
  const uint32_t block = pickBlock(shared);
  Allocation a;
  a.id = id;
  a.uidBase = uidStart_ + block * kBlockSize;
  a.gidBase = gidStart_ + block * kBlockSize;
  a.running = true;
  a.since = now;
  a.rootfs = rootfs;
  a.rootfsKey = rootfsKey;
  a.shared = shared;
  auto [pos, inserted] = byId_.emplace(id, std::move(a));
  hold(block);
  cursor_ = uint32_t((uint64_t(block) + 1) % blockCount());
  return pos->second;
}

bool IdAllocator::release(const std::string& id, bool gone, int64_t now) {
  auto it = byId_.find(id);
  if (it == byId_.end()) return false;
  if (gone) {
    unhold(blockOf(it->second));
    byId_.erase(it);
  } else if (it->second.running) {
    it->second.running = false;
    it->second.since = now;
  }
  return true;
}

const Allocation* IdAllocator::find(const std::string& id) const {
  auto it = byId_.find(id);
  return it == byId_.end() ? nullptr : &it->second;
}

std::vector<Allocation> IdAllocator::list() const {
  std::vector<Allocation> out;
  out.reserve(byId_.size());
  for (const auto& [id, a] : byId_) out.push_back(a);
  // byId_ is ordered by id, so a stable sort by base gives (uidBase, id).
  std::stable_sort(out.begin(), out.end(),
                   [](const Allocation& x, const Allocation& y) { return x.uidBase < y.uidBase; });
  return out;
}

std::vector<std::string> IdAllocator::reap(
    const std::function<bool(const std::string&, const std::string&)>& exists) {
  std::vector<std::string> freed;
  for (auto it = byId_.begin(); it != byId_.end();) {
    const Allocation& a = it->second;
    if (exists(a.rootfs, a.rootfsKey)) {
      ++it;
      continue;
    }
    freed.push_back(a.id);
    unhold(blockOf(a));
    it = byId_.erase(it);
  }
  return freed;
}

std::string IdAllocator::serialize() const {
  // One allocation per line: the table stays greppable and diffs well, and it is still one
  // JSON document.
  Json head{{"version", kTableVersion},
            {"uidStart", uidStart_},
            {"gidStart", gidStart_},
            {"poolSize", poolSize_},
            {"cursor", cursor_}};
  std::string text = head.dump();
  text.pop_back();  // the closing brace; the allocations follow
  text += ",\"allocations\":[";
  bool first = true;
  for (const Allocation& a : list()) {
    text += first ? "\n" : ",\n";
    text += toJson(a).dump();
    first = false;
  }
  text += "]}\n";
  return text;
}

void IdAllocator::load(std::string_view text) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {
    // nlohmann says "[json.exception.parse_error.101] parse error at ...: <reason>" (or
    // out_of_range.406 for a number beyond a double's range).
    std::string_view reason = e.what();
    if (size_t p = reason.find("] "); p != std::string_view::npos) reason.remove_prefix(p + 2);
    throw AllocError(fmt::format("id allocation table is not valid JSON ({})", reason));
  }
  const std::string top = "top level";
  if (!j.is_object()) bad(top, "is not a JSON object");
  if (uintField(j, "version", kNoId, top) != kTableVersion) {
    bad(top, fmt::format("has version {}; this sysvisor-mgr reads version {}", j["version"].dump(),
                         kTableVersion));
  }
  const uint64_t uidStart = uintField(j, "uidStart", kNoId, top);
  const uint64_t gidStart = uintField(j, "gidStart", kNoId, top);
  const uint64_t poolSize = uintField(j, "poolSize", std::numeric_limits<uint64_t>::max(), top);
  if (uidStart != uidStart_ || gidStart != gidStart_ || poolSize != poolSize_) {
    throw AllocError(fmt::format(
        "id allocation table was written for the pool of {} ids at uid {} / gid {}, but the "
        "pool is now {} ids at uid {} / gid {}; its blocks cannot be trusted. Restore the "
        "sysvisor lines of /etc/subuid and /etc/subgid, or remove the table once no sysvisor "
        "container exists",
        poolSize, uidStart, gidStart, poolSize_, uidStart_, gidStart_));
  }
  const uint64_t cursor = uintField(j, "cursor", blockCount() - 1, top);
  auto list = j.find("allocations");
  if (list == j.end() || !list->is_array()) bad(top, "has no \"allocations\" array");

  std::map<std::string, Allocation> byId;
  std::vector<uint32_t> holders(blockCount(), 0);
  std::vector<const Allocation*> owner(blockCount(), nullptr);  // the non-shared holder
  const uint64_t span = blockCount() * uint64_t(kBlockSize);
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& e = (*list)[i];
    const std::string where = fmt::format("allocation #{}", i);
    if (!e.is_object()) bad(where, "is not a JSON object");
    Allocation a;
    a.id = stringField(e, "id", where);
    if (a.id.empty()) bad(where, "has an empty id");
    const std::string who = fmt::format("allocation of '{}'", a.id);
    a.uidBase = uint32_t(uintField(e, "uidBase", kNoId, who));
    a.gidBase = uint32_t(uintField(e, "gidBase", kNoId, who));
    a.size = uint32_t(uintField(e, "size", kNoId, who));
    a.running = boolField(e, "running", who);
    a.since = intField(e, "since", who);
    a.rootfs = stringField(e, "rootfs", who);
    a.shared = boolField(e, "shared", who);
    if (e.contains("rootfsKey")) a.rootfsKey = stringField(e, "rootfsKey", who);
    if (a.size != kBlockSize) bad(who, fmt::format("has size {}, not {}", a.size, kBlockSize));
    if (!isAbsolute(a.rootfs)) bad(who, fmt::format("has rootfs '{}', not absolute", a.rootfs));
    if (a.uidBase < uidStart_ || a.uidBase - uint64_t(uidStart_) >= span) {
      bad(who, fmt::format("has uid base {} outside the pool [{}, {})", a.uidBase, uidStart_,
                           uidStart_ + span));
    }
    const uint64_t offset = a.uidBase - uidStart_;
    if (offset % kBlockSize != 0) {
      bad(who, fmt::format("has uid base {}, not on a block boundary of the pool at {}", a.uidBase,
                           uidStart_));
    }
    // Block i is uids and gids at the same offset; anything else is not a block we handed out.
    if (a.gidBase != gidStart_ + offset) {
      bad(who, fmt::format("has gid base {}, but its uid block is gid {}", a.gidBase,
                           gidStart_ + offset));
    }
    const uint32_t block = uint32_t(offset / kBlockSize);
    auto [pos, inserted] = byId.emplace(a.id, std::move(a));
    if (!inserted) bad(who, "appears twice");
    const Allocation& placed = pos->second;
    ++holders[block];
    if (!placed.shared) {
      if (owner[block] != nullptr) {
        bad(who, fmt::format("holds uid block {} that '{}' holds too, and neither is shared",
                             placed.uidBase, owner[block]->id));
      }
      owner[block] = &placed;
    }
  }

  // Everything checked: only now replace the table.
  std::set<uint32_t> freeBlocks;
  std::set<std::pair<uint32_t, uint32_t>> held;
  for (uint32_t b = 0; b < holders.size(); ++b) {
    if (holders[b] == 0) {
      freeBlocks.insert(freeBlocks.end(), b);
    } else {
      held.insert({holders[b], b});
    }
  }
  byId_ = std::move(byId);
  holders_ = std::move(holders);
  free_ = std::move(freeBlocks);
  held_ = std::move(held);
  cursor_ = uint32_t(cursor);
}

}  // namespace sv::mgr
