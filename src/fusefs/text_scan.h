// Tolerant scanning of kernel text (/proc files, cgroup files) for the renderers: they must
// never throw on odd host text, so every helper here returns an empty or nullopt result
// instead of failing.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sv::fs::text {

inline bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Walks a text line by line; lines come without their '\n', and a last line without a
// newline counts as a line.
class Lines {
 public:
  explicit Lines(std::string_view text) : rest_(text) {}
  std::optional<std::string_view> next() {
    if (rest_.empty()) return std::nullopt;
    auto nl = rest_.find('\n');
    std::string_view line = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    return line;
  }

 private:
  std::string_view rest_;
};

// Walks the whitespace-separated words of a line.
class Words {
 public:
  explicit Words(std::string_view line) : rest_(line) {}
  std::optional<std::string_view> next() {
    while (!rest_.empty() && isSpace(rest_.front())) rest_.remove_prefix(1);
    if (rest_.empty()) return std::nullopt;
    size_t end = 0;
    while (end < rest_.size() && !isSpace(rest_[end])) ++end;
    std::string_view word = rest_.substr(0, end);
    rest_.remove_prefix(end);
    return word;
  }

 private:
  std::string_view rest_;
};

// The whole of s (surrounding blanks ignored) as an unsigned decimal, else nullopt.
inline std::optional<uint64_t> toU64(std::string_view s) {
  s = trim(s);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

inline std::optional<int64_t> toI64(std::string_view s) {
  s = trim(s);
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// "Key:   value" → {"Key", "value"}; nullopt without a colon. Used by meminfo and cpuinfo,
// whose keys may contain blanks ("cpu MHz\t\t: 2445.412").
struct KeyValue {
  std::string_view key, value;
};
inline std::optional<KeyValue> splitColon(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return KeyValue{trim(line.substr(0, colon)), trim(line.substr(colon + 1))};
}

// The first word of the value of "Key: 1234 kB" as a number.
inline std::optional<uint64_t> leadingU64(std::string_view value) {
  Words words(value);
  auto first = words.next();
  return first ? toU64(*first) : std::nullopt;
}

}  // namespace sv::fs::text
