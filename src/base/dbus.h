// A small synchronous D-Bus client: just what the systemd cgroup driver needs to talk to
// systemd without libsystemd or libdbus. One AF_UNIX connection, SASL EXTERNAL with our
// uid, no fd passing. Marshalling is pure (byte buffers in, byte buffers out) so tests check
// it without a socket. We always write little-endian messages; we read both byte orders.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/sys_error.h"
#include "base/unique_fd.h"

namespace sv::dbus {

enum class Type : uint8_t {
  kInvalid = 0,
  kMethodCall = 1,
  kMethodReturn = 2,
  kError = 3,
  kSignal = 4
};

// An ERROR reply from the peer: name() is the D-Bus error name
// ("org.freedesktop.systemd1.UnitExists"), what() "<message> (<name>)".
class Error : public UserError {
 public:
  Error(std::string name, const std::string& message);
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// The values systemd's transient unit properties take: s, b, u, t, au, as, ay, a(ss), a(st).
using Variant = std::variant<std::string, bool, uint32_t, uint64_t, std::vector<uint32_t>,
                             std::vector<std::string>, std::vector<uint8_t>,
                             std::vector<std::pair<std::string, std::string>>,
                             std::vector<std::pair<std::string, uint64_t>>>;
std::string_view signatureOf(const Variant& v);

// One (sv) of a property array.
struct Property {
  std::string name;
  Variant value;
};

// Appends values to a message body with D-Bus alignment (offsets count from the body start,
// which is 8-aligned in a message).
class Writer {
 public:
  void byte(uint8_t v);
  void boolean(bool v) { u32(v ? 1 : 0); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void string(std::string_view s);  // also an object path
  void signature(std::string_view s);
  // An array: begin() writes the length placeholder and the padding to the element
  // alignment (present even when the array is empty); end() fills in the length.
  struct ArrayMark {
    size_t lengthAt, start;
  };
  ArrayMark beginArray(size_t elementAlignment);
  void endArray(ArrayMark mark);
  void beginStruct() { align(8); }
  void variant(const Variant& v);
  void properties(const std::vector<Property>& props);  // a(sv)
  void align(size_t n);
  const std::string& data() const { return buf_; }
  std::string take() { return std::move(buf_); }

 private:
  std::string buf_;
};

// Reads values from a body (or a whole message) with alignment relative to its start.
// Malformed or short input throws SysError(EBADMSG).
class Reader {
 public:
  Reader(std::string_view data, bool bigEndian, size_t pos = 0)
      : data_(data), bigEndian_(bigEndian), pos_(pos) {}
  uint8_t byte();
  bool boolean();
  uint32_t u32();
  uint64_t u64();
  std::string string();  // s and o
  std::string signature();
  // Returns the offset where the array ends; elements follow while pos() < that.
  size_t beginArray(size_t elementAlignment);
  void beginStruct() { align(8); }
  // Skips one value of a single complete type (any type, for fields and signals we ignore).
  void skip(std::string_view type);
  size_t pos() const { return pos_; }
  bool atEnd() const { return pos_ == data_.size(); }

 private:
  void align(size_t n);
  void need(size_t n);
  void skipOne(std::string_view sig, size_t& i, int depth);
  std::string_view data_;
  bool bigEndian_;
  size_t pos_;
};

struct Message {
  Type type = Type::kInvalid;
  uint8_t flags = 0;
  uint32_t serial = 0;
  uint32_t replySerial = 0;
  std::string path, interface, member, errorName, destination, sender;
  std::string signature;   // of body
  std::string body;        // marshalled values
  bool bigEndian = false;  // the byte order of body

  Reader reader() const { return Reader(body, bigEndian); }
  // The first string of the body ("" if it has none): the text of an ERROR.
  std::string firstString() const;
};

Message methodCall(std::string destination, std::string path, std::string interface,
                   std::string member, std::string signature, std::string body);

// The wire bytes of m (little-endian, header padded to 8, then the body).
std::string encode(const Message& m);
// Takes one message from the front of buf: nullopt while buf holds less than a whole one,
// else the message with *used set to its length. Malformed input throws SysError(EBADMSG).
std::optional<Message> decode(std::string_view buf, size_t* used);

// "AUTH EXTERNAL <uid as hex-encoded decimal>": what we send after the initial NUL byte.
std::string authExternalLine(unsigned uid);

using Clock = std::chrono::steady_clock;

// One synchronous connection. Every wait polls with the time left until a deadline and
// throws SysError(ETIMEDOUT) naming what it waited for.
class Connection {
 public:
  // Connects to the AF_UNIX socket at path and authenticates (EXTERNAL, our euid, BEGIN in
  // the same write). busDaemon: the peer is a message bus (the system bus), so Hello() is
  // sent first; a direct peer (systemd's private socket) needs none.
  Connection(const std::string& path, bool busDaemon, std::chrono::milliseconds timeout);
  Connection(Connection&&) = default;
  Connection& operator=(Connection&&) = default;

  bool busDaemon() const { return busDaemon_; }
  const std::string& path() const { return path_; }
  // Sends without waiting; returns the serial. An ERROR reply to it throws from a later
  // call() or waitSignal().
  uint32_t send(Message m);
  // Sends and waits for the reply; an ERROR reply throws dbus::Error.
  Message call(Message m, Clock::time_point deadline);
  // Signals with this interface and member are kept while waiting for replies, for
  // waitSignal; all others are dropped.
  void keepSignals(std::string interface, std::string member);
  // The first kept signal that match accepts (earlier ones it rejects are dropped).
  template <typename Match>
  Message waitSignal(Match&& match, Clock::time_point deadline, std::string_view what) {
    for (;;) {
      while (!kept_.empty()) {
        Message m = std::move(kept_.front());
        kept_.erase(kept_.begin());
        if (match(m)) return m;
      }
      dispatch(receive(deadline, what));
    }
  }

 private:
  void writeAllWithin(std::string_view data, Clock::time_point deadline);
  void fill(Clock::time_point deadline, std::string_view what);
  Message receive(Clock::time_point deadline, std::string_view what);
  // Keeps a wanted signal; throws for an ERROR reply to one of our calls; drops the rest.
  void dispatch(Message m);

  UniqueFd fd_;
  std::string path_;
  bool busDaemon_;
  uint32_t serial_ = 0;
  std::string rx_;
  std::string keepInterface_, keepMember_;
  std::vector<Message> kept_;
};

}  // namespace sv::dbus
