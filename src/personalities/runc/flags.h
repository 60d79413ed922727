// runc-compatible flag parsing (urfave/cli + Go's flag package): "-flag" and "--flag",
// "--flag=value" and "--flag value", bool flags with an optional "=true|false", "--" ends
// the flags. Table-driven.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sv::runc {

enum class FlagKind { kBool, kString, kInt, kStringList };

struct FlagSpec {
  std::string_view name;   // long name ("bundle")
  std::string_view alias;  // short alias ("b") or ""
  FlagKind kind;
  std::string_view help;
  std::string_view defaultValue = "";
};

struct ParsedFlags {
  std::map<std::string, std::string, std::less<>> values;  // by long name
  std::vector<std::string> positionals;
  bool has(std::string_view name) const { return values.find(name) != values.end(); }
  bool flag(std::string_view name) const;
  std::string str(std::string_view name, std::string def = "") const;
  int integer(std::string_view name, int def = 0) const;
  // Every value of a repeatable flag (--env A --env B), in order.
  std::vector<std::string> list(std::string_view name) const;
};

// Parses args against specs. With stopAtPositional (Go's flag rule, needed by `exec`), the
// first non-flag argument ends flag parsing; otherwise flags may follow positionals.
// Throws UserError for unknown flags or missing/invalid values.
ParsedFlags parseFlags(std::span<const FlagSpec> specs, std::span<char* const> args,
                       bool stopAtPositional);

// "   --bundle value, -b value\tpath to the root of the bundle directory" lines.
std::string flagsHelp(std::span<const FlagSpec> specs);

}  // namespace sv::runc
