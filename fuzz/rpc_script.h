// Reading an RPC fuzz target's input: a Cap'n Proto message whose root is the script.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sv::fuzz {

// Copies the message in the input into `out` after reading every field of it, so a malformed
// message is refused here, before any handler runs (the daemons' readers refuse it too): a
// handler's failure is then never confused with a malformed input. false for bytes that are
// no such message. The limits are stricter than the daemons' defaults: an input cannot make
// the reader walk more than 64 KiB or nest deeper than 8.
template <typename Script>
bool readScript(const uint8_t* data, size_t size, capnp::MessageBuilder& out) {
  // Messages are word arrays: aligned memory, the tail zero-padded.
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>((size + 7) / 8);
  if (words.size() > 0) std::memset(words.begin(), 0, words.size() * sizeof(capnp::word));
  if (size > 0) std::memcpy(words.begin(), data, size);
  capnp::ReaderOptions limits;
  limits.traversalLimitInWords = 8192;
  limits.nestingLimit = 8;
  try {
    capnp::FlatArrayMessageReader message(words, limits);
    auto root = message.getRoot<Script>();
    // A copy checks pointers, not what they point to (a list of words where Text belongs):
    // printing reads every field as its schema type.
    (void)kj::str(root);
    out.setRoot(root);
    return true;
  } catch (const kj::Exception&) {
    return false;
  }
}

}  // namespace sv::fuzz
