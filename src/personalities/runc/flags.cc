#include "personalities/runc/flags.h"

#include <fmt/format.h>

#include <charconv>

#include "base/sys_error.h"

namespace sv::runc {

namespace {
const FlagSpec* findFlag(std::span<const FlagSpec> specs, std::string_view name) {
  for (const auto& s : specs)
    if (s.name == name || (!s.alias.empty() && s.alias == name)) return &s;
  return nullptr;
}

bool parseBool(std::string_view v, std::string_view flag) {
  if (v == "true" || v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "True") return true;
  if (v == "false" || v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "False")
    return false;
  throw UserError(fmt::format("invalid boolean value \"{}\" for flag -{}", v, flag));
}
}  // namespace

bool ParsedFlags::flag(std::string_view name) const {
  auto it = values.find(name);
  return it != values.end() && it->second == "true";
}

std::string ParsedFlags::str(std::string_view name, std::string def) const {
  auto it = values.find(name);
  return it == values.end() ? def : it->second;
}

int ParsedFlags::integer(std::string_view name, int def) const {
  auto it = values.find(name);
  return it == values.end() ? def : std::stoi(it->second);
}

std::vector<std::string> ParsedFlags::list(std::string_view name) const {
  std::vector<std::string> out;
  auto it = values.find(name);
  if (it == values.end()) return out;
  size_t start = 0;
  for (;;) {
    size_t sep = it->second.find('\x1f', start);
    out.push_back(it->second.substr(start, sep == std::string::npos ? sep : sep - start));
    if (sep == std::string::npos) break;
    start = sep + 1;
  }
  return out;
}

ParsedFlags parseFlags(std::span<const FlagSpec> specs, std::span<char* const> args,
                       bool stopAtPositional) {
  ParsedFlags out;
  bool flagsDone = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (flagsDone || a.size() < 2 || a[0] != '-') {
      out.positionals.emplace_back(a);
      if (stopAtPositional) flagsDone = true;
      continue;
    }
    if (a == "--") {
      flagsDone = true;
      continue;
    }
    a.remove_prefix(a[1] == '-' ? 2 : 1);
    std::string_view name = a, value;
    bool hasValue = false;
    if (auto eq = a.find('='); eq != std::string_view::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      hasValue = true;
    }
    const FlagSpec* spec = findFlag(specs, name);
    if (!spec) throw UserError(fmt::format("flag provided but not defined: -{}", name));
    std::string key(spec->name);
    switch (spec->kind) {
      case FlagKind::kBool:
        out.values[key] = (!hasValue || parseBool(value, name)) ? "true" : "false";
        break;
      case FlagKind::kString:
      case FlagKind::kInt:
      case FlagKind::kStringList:
        if (!hasValue) {
          if (i + 1 >= args.size()) throw UserError(fmt::format("flag needs an argument: -{}", name));
          value = args[++i];
        }
        if (spec->kind == FlagKind::kInt) {
          int v = 0;
          auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
          if (ec != std::errc() || p != value.data() + value.size())
            throw UserError(fmt::format("invalid value \"{}\" for flag -{}: parse error", value, name));
        }
        if (spec->kind == FlagKind::kStringList && out.has(key))
          out.values[key] += '\x1f' + std::string(value);  // a separator no argument holds
        else
          out.values[key] = std::string(value);
        break;
    }
  }
  return out;
}

std::string flagsHelp(std::span<const FlagSpec> specs) {
  std::string out;
  for (const auto& s : specs) {
    std::string left = fmt::format("--{}", s.name);
    if (s.kind != FlagKind::kBool) left += " value";
    if (!s.alias.empty()) left += fmt::format(", -{}", s.alias) + (s.kind != FlagKind::kBool ? " value" : "");
    out += fmt::format("   {:<32} {}", left, s.help);
    if (!s.defaultValue.empty()) out += fmt::format(" (default: {})", s.defaultValue);
    out += '\n';
  }
  return out;
}

}  // namespace sv::runc
