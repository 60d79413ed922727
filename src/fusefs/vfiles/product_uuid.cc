// /sys/devices/virtual/dmi/id/product_uuid of a container: a version-5 UUID of its id.
#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "fusefs/sha1.h"
#include "fusefs/text_scan.h"
#include "fusefs/vfiles/vfiles.h"

namespace sv::fs {
namespace {

using Uuid = std::array<uint8_t, 16>;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A UUID ("8-4-4-4-12", any case) or a machine-id (32 hex digits) as bytes, else nullopt.
std::optional<Uuid> parseUuid(std::string_view s) {
  Uuid out{};
  size_t digits = 0;
  for (char c : s) {
    if (c == '-') continue;
    int v = hexValue(c);
    if (v < 0 || digits == 32) return std::nullopt;
    out[digits / 2] = static_cast<uint8_t>(out[digits / 2] << 4 | v);
    ++digits;
  }
  if (digits != 32) return std::nullopt;
  return out;
}

}  // namespace

std::string renderProductUuid(std::string_view hostId, std::string_view containerId) {
  hostId = text::trim(hostId);
  // The namespace is the host's identity; text that is no UUID is hashed into one, so two
  // hosts still differ.
  Uuid ns{};
  if (auto parsed = parseUuid(hostId)) {
    ns = *parsed;
  } else {
    auto digest = Sha1::of(hostId);
    std::copy_n(digest.begin(), ns.size(), ns.begin());
  }
  // RFC 4122 §4.3: SHA-1 of namespace bytes then name, cut to 16 bytes, version and variant set.
  Sha1 h;
  h.update({reinterpret_cast<const char*>(ns.data()), ns.size()});
  h.update(containerId);
  auto d = h.finish();
  d[6] = static_cast<uint8_t>((d[6] & 0x0f) | 0x50);
  d[8] = static_cast<uint8_t>((d[8] & 0x3f) | 0x80);
  return fmt::format(
      "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
      "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}\n",
      d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14],
      d[15]);
}

}  // namespace sv::fs
