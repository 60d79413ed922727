#include "fusefs/nodes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "base/file_util.h"
#include "base/sys_error.h"
#include "fusefs/text_scan.h"

namespace sv::fs {
namespace {

std::string joinKey(std::string_view cid, std::string_view path) {
  std::string k;
  k.reserve(cid.size() + path.size() + 1);
  k.append(cid).push_back('\0');
  k.append(path);
  return k;
}

// FNV-1a: ids only need to spread; the log, not the hash, makes them stable.
uint64_t hashKey(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h | (uint64_t{1} << 63);  // never 0 or the root's 1
}

std::string logLine(uint64_t node, const NodeKey& k) {
  return fmt::format("{:x}\t{}\t{}\n", node, k.cid, k.path);
}

// The log is tab- and line-separated: a key with a line break (or a tab in its container id)
// would read back as another key, or forge one. The FUSE layer never makes one (container ids
// are plausible ids, paths are looked up in the registry or /proc/sys first); such a node is
// still served, only not recorded.
bool loggable(const NodeKey& k) {
  return k.cid.find_first_of("\t\n") == std::string::npos &&
         k.path.find('\n') == std::string::npos;
}

}  // namespace

NodeTable::NodeTable(const std::string& logPath) : logPath_(logPath) {
  if (logPath_.empty()) return;
  if (auto text = readFileIfExists(logPath_)) {
    text::Lines lines(*text);
    while (auto line = lines.next()) {
      auto t1 = line->find('\t');
      auto t2 = t1 == std::string_view::npos ? t1 : line->find('\t', t1 + 1);
      if (t2 == std::string_view::npos) continue;
      uint64_t node = 0;
      auto hex = line->substr(0, t1);
      if (std::from_chars(hex.data(), hex.data() + hex.size(), node, 16).ec != std::errc() ||
          node <= kRootNode)
        continue;
      NodeKey key{std::string(line->substr(t1 + 1, t2 - t1 - 1)),
                  std::string(line->substr(t2 + 1))};
      std::string k = joinKey(key.cid, key.path);
      if (byKey_.contains(k) || nodes_.contains(node)) continue;
      byKey_.emplace(std::move(k), node);
      nodes_.emplace(node, Node{std::move(key), 0});
    }
    logLines_ = static_cast<size_t>(std::count(text->begin(), text->end(), '\n'));
  }
  log_ = UniqueFd(SV_SYSCALL(
      ::open(logPath_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600),
      "'{}'", logPath_));
}

uint64_t NodeTable::ref(std::string_view cid, std::string_view path) {
  std::string k = joinKey(cid, path);
  std::lock_guard lock(mu_);
  if (auto it = byKey_.find(k); it != byKey_.end()) {
    ++nodes_[it->second].nlookup;
    return it->second;
  }
  uint64_t node = hashKey(k);
  while (nodes_.contains(node)) node = (node + 1) | (uint64_t{1} << 63);
  NodeKey key{std::string(cid), std::string(path)};
  append(node, key);
  nodes_.emplace(node, Node{std::move(key), 1});
  byKey_.emplace(std::move(k), node);
  return node;
}

std::optional<NodeKey> NodeTable::get(uint64_t node) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.key;
}

void NodeTable::forget(uint64_t node, uint64_t n) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return;
  // Nodes read back from the log start at 0 lookups: the kernel's count is unknown, and it
  // forgets each node once, after which it never names it again (a bind mount's root, which
  // it must keep naming, is pinned and never forgotten).
  if (it->second.nlookup > n) {
    it->second.nlookup -= n;
    return;
  }
  byKey_.erase(joinKey(it->second.key.cid, it->second.key.path));
  nodes_.erase(it);
  // A node looked up again is logged again: keep the log near the table's size.
  if (logLines_ > 4 * nodes_.size() + 4096) rewriteLocked();
}

void NodeTable::retain(const std::set<std::string, std::less<>>& cids) {
  std::lock_guard lock(mu_);
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (cids.contains(it->second.key.cid)) {
      ++it;
      continue;
    }
    byKey_.erase(joinKey(it->second.key.cid, it->second.key.path));
    it = nodes_.erase(it);
  }
  rewriteLocked();
}

void NodeTable::drop(std::string_view cid) {
  std::lock_guard lock(mu_);
  bool any = false;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second.key.cid != cid) {
      ++it;
      continue;
    }
    byKey_.erase(joinKey(it->second.key.cid, it->second.key.path));
    it = nodes_.erase(it);
    any = true;
  }
  if (any) rewriteLocked();
}

size_t NodeTable::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

void NodeTable::append(uint64_t node, const NodeKey& key) {
  if (!log_ || !loggable(key)) return;
  std::string line = logLine(node, key);
  ++logLines_;
  // One write per line with O_APPEND: a crash leaves at worst a torn last line, skipped on read.
  if (::write(log_.get(), line.data(), line.size()) < 0) {
    // Losing the record only costs recovery of this node after a crash; serving goes on.
  }
}

void NodeTable::rewriteLocked() {
  if (logPath_.empty()) return;
  std::string text;
  for (const auto& [node, n] : nodes_)
    if (loggable(n.key)) text += logLine(node, n.key);
  logLines_ = nodes_.size();
  auto slash = logPath_.rfind('/');
  std::string dir = slash == std::string::npos ? "." : logPath_.substr(0, slash + 1);
  UniqueFd dfd(SV_SYSCALL(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "'{}'", dir));
  writeFileAtomic(dfd.get(), logPath_.substr(slash + 1), text, 0600);
  // The old file was replaced: append to the new one.
  log_ = UniqueFd(SV_SYSCALL(
      ::open(logPath_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW), "'{}'", logPath_));
}

}  // namespace sv::fs
