#include "fusefs/sha1.h"

#include <bit>
#include <cstring>

namespace sv::fs {

void Sha1::block(const uint8_t* p) {
  uint32_t w[80];
  for (int i = 0; i < 16; ++i) {
    w[i] = uint32_t{p[4 * i]} << 24 | uint32_t{p[4 * i + 1]} << 16 | uint32_t{p[4 * i + 2]} << 8 |
           uint32_t{p[4 * i + 3]};
  }
  for (int i = 16; i < 80; ++i) w[i] = std::rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3], e = state_[4];
  static constexpr uint32_t kK[4] = {0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6};
  for (int i = 0; i < 80; ++i) {
    int round = i / 20;
    uint32_t f = round == 0   ? (b & c) | (~b & d)
                 : round == 2 ? (b & c) | (b & d) | (c & d)
                              : b ^ c ^ d;
    uint32_t t = std::rotl(a, 5) + f + e + kK[round] + w[i];
    e = d;
    d = c;
    c = std::rotl(b, 30);
    b = a;
    a = t;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
}

void Sha1::update(std::string_view data) {
  auto p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  length_ += n;
  while (n > 0) {
    size_t take = std::min(n, buf_.size() - used_);
    std::memcpy(buf_.data() + used_, p, take);
    used_ += take;
    p += take;
    n -= take;
    if (used_ == buf_.size()) {
      block(buf_.data());
      used_ = 0;
    }
  }
}

Sha1::Digest Sha1::finish() {
  uint64_t bits = length_ * 8;
  // Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian.
  static constexpr uint8_t kPad[64] = {0x80};
  size_t padLen = used_ < 56 ? 56 - used_ : 120 - used_;
  update({reinterpret_cast<const char*>(kPad), padLen});
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<char>(bits >> (56 - 8 * i));
  update({len, sizeof len});
  Digest out;
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<uint8_t>(state_[i] >> (24 - 8 * j));
  }
  return out;
}

}  // namespace sv::fs
