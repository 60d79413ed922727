// SHA-1 (FIPS 180-4), small and dependency-free, for name-based (version 5) UUIDs. Not for
// anything that needs collision resistance: SHA-1 is broken for that, and product_uuid only
// needs a stable, well-mixed digest.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace sv::fs {

class Sha1 {
 public:
  using Digest = std::array<uint8_t, 20>;

  void update(std::string_view data);
  Digest finish();  // the object is spent afterwards

  static Digest of(std::string_view data) {
    Sha1 h;
    h.update(data);
    return h.finish();
  }

 private:
  void block(const uint8_t* p);

  std::array<uint32_t, 5> state_{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::array<uint8_t, 64> buf_{};
  size_t used_ = 0;      // bytes in buf_
  uint64_t length_ = 0;  // message bytes so far
};

}  // namespace sv::fs
