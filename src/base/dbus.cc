#include "base/dbus.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace sv::dbus {

namespace {

// Limits of the D-Bus specification; a peer that claims more is broken.
constexpr size_t kMaxArray = 64u << 20;
constexpr size_t kMaxMessage = 128u << 20;
constexpr int kMaxDepth = 64;

[[noreturn]] void malformed(std::string_view what) {
  throw SysError(EBADMSG, fmt::format("malformed D-Bus message: {}", what));
}

size_t roundUp(size_t v, size_t n) {
  return (v + n - 1) / n * n;
}

// Alignment by type code; y, g and v (and anything else) align to 1.
size_t alignmentOf(char type) {
  constexpr std::pair<std::string_view, size_t> kAlignments[] = {
      {"nq", 2}, {"biuhsoa", 4}, {"xtd({", 8}};
  for (auto [codes, n] : kAlignments)
    if (codes.find(type) != std::string_view::npos) return n;
  return 1;
}

// The index just past the single complete type that starts at sig[i].
size_t typeEnd(std::string_view sig, size_t i, int depth = 0) {
  if (depth > kMaxDepth || i >= sig.size()) malformed("bad signature");
  char c = sig[i];
  if (c == 'a') return typeEnd(sig, i + 1, depth + 1);
  if (c == '(' || c == '{') {
    char close = c == '(' ? ')' : '}';
    ++i;
    while (i < sig.size() && sig[i] != close) i = typeEnd(sig, i, depth + 1);
    if (i >= sig.size()) malformed("unterminated struct in signature");
    return i + 1;
  }
  return i + 1;
}

// Header field codes of the specification; every field but REPLY_SERIAL holds text.
enum Field : uint8_t {
  kPath = 1,
  kInterface = 2,
  kMember = 3,
  kErrorName = 4,
  kReplySerial = 5,
  kDestination = 6,
  kSender = 7,
  kSignature = 8,
};
struct TextField {
  Field code;
  const char* type;
  std::string Message::*value;
};
constexpr TextField kTextFields[] = {
    {kPath, "o", &Message::path},
    {kInterface, "s", &Message::interface},
    {kMember, "s", &Message::member},
    {kErrorName, "s", &Message::errorName},
    {kDestination, "s", &Message::destination},
    {kSender, "s", &Message::sender},
    {kSignature, "g", &Message::signature},
};

}  // namespace

Error::Error(std::string name, const std::string& message)
    : UserError(fmt::format("{} ({})", message.empty() ? name : message, name)),
      name_(std::move(name)) {}

std::string_view signatureOf(const Variant& v) {
  static constexpr std::string_view kSignatures[] = {"s",  "b",  "u",     "t",    "au",
                                                     "as", "ay", "a(ss)", "a(st)"};
  static_assert(std::size(kSignatures) == std::variant_size_v<Variant>);
  return kSignatures[v.index()];
}

// --- Writer ---

void Writer::align(size_t n) {
  buf_.resize(roundUp(buf_.size(), n), '\0');
}

void Writer::byte(uint8_t v) {
  buf_.push_back(static_cast<char>(v));
}

void Writer::u32(uint32_t v) {
  align(4);
  for (int i = 0; i < 4; ++i) buf_.push_back(static_cast<char>(v >> (8 * i)));
}

void Writer::u64(uint64_t v) {
  align(8);
  for (int i = 0; i < 8; ++i) buf_.push_back(static_cast<char>(v >> (8 * i)));
}

void Writer::string(std::string_view s) {
  if (s.find('\0') != std::string_view::npos)
    throw SysError(EINVAL, "D-Bus strings cannot hold a NUL byte");
  u32(static_cast<uint32_t>(s.size()));
  buf_.append(s);
  buf_.push_back('\0');
}

void Writer::signature(std::string_view s) {
  if (s.size() > 255) throw SysError(EINVAL, fmt::format("D-Bus signature \"{}\" is too long", s));
  byte(static_cast<uint8_t>(s.size()));
  buf_.append(s);
  buf_.push_back('\0');
}

Writer::ArrayMark Writer::beginArray(size_t elementAlignment) {
  align(4);
  size_t at = buf_.size();
  buf_.append(4, '\0');
  align(elementAlignment);
  return {at, buf_.size()};
}

void Writer::endArray(ArrayMark mark) {
  size_t n = buf_.size() - mark.start;
  if (n > kMaxArray) throw SysError(E2BIG, "D-Bus array longer than 64 MiB");
  for (int i = 0; i < 4; ++i) buf_[mark.lengthAt + i] = static_cast<char>(n >> (8 * i));
}

void Writer::variant(const Variant& v) {
  signature(signatureOf(v));
  struct Visit {
    Writer& w;
    void operator()(const std::string& s) { w.string(s); }
    void operator()(bool b) { w.boolean(b); }
    void operator()(uint32_t u) { w.u32(u); }
    void operator()(uint64_t t) { w.u64(t); }
    void operator()(const std::vector<uint32_t>& a) {
      auto m = w.beginArray(4);
      for (uint32_t u : a) w.u32(u);
      w.endArray(m);
    }
    void operator()(const std::vector<std::string>& a) {
      auto m = w.beginArray(4);
      for (const auto& s : a) w.string(s);
      w.endArray(m);
    }
    void operator()(const std::vector<uint8_t>& a) {
      auto m = w.beginArray(1);
      for (uint8_t y : a) w.byte(y);
      w.endArray(m);
    }
    void operator()(const std::vector<std::pair<std::string, std::string>>& a) {
      auto m = w.beginArray(8);
      for (const auto& [k, s] : a) w.beginStruct(), w.string(k), w.string(s);
      w.endArray(m);
    }
    void operator()(const std::vector<std::pair<std::string, uint64_t>>& a) {
      auto m = w.beginArray(8);
      for (const auto& [k, t] : a) w.beginStruct(), w.string(k), w.u64(t);
      w.endArray(m);
    }
  };
  std::visit(Visit{*this}, v);
}

void Writer::properties(const std::vector<Property>& props) {
  auto m = beginArray(8);
  for (const auto& p : props) {
    beginStruct();
    string(p.name);
    variant(p.value);
  }
  endArray(m);
}

// --- Reader ---

void Reader::need(size_t n) {
  if (n > data_.size() - pos_) malformed("value runs past the end");
}

void Reader::align(size_t n) {
  size_t p = roundUp(pos_, n);
  need(p - pos_);
  pos_ = p;
}

uint8_t Reader::byte() {
  need(1);
  return static_cast<uint8_t>(data_[pos_++]);
}

uint32_t Reader::u32() {
  align(4);
  need(4);
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    uint32_t b = static_cast<uint8_t>(data_[pos_ + i]);
    v |= b << (8 * (bigEndian_ ? 3 - i : i));
  }
  pos_ += 4;
  return v;
}

uint64_t Reader::u64() {
  align(8);
  need(8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    uint64_t b = static_cast<uint8_t>(data_[pos_ + i]);
    v |= b << (8 * (bigEndian_ ? 7 - i : i));
  }
  pos_ += 8;
  return v;
}

bool Reader::boolean() {
  uint32_t v = u32();
  if (v > 1) malformed("boolean other than 0 or 1");
  return v == 1;
}

std::string Reader::string() {
  uint32_t n = u32();
  need(size_t{n} + 1);
  if (data_[pos_ + n] != '\0') malformed("string without its NUL");
  std::string s(data_.substr(pos_, n));
  pos_ += size_t{n} + 1;
  return s;
}

std::string Reader::signature() {
  size_t n = byte();
  need(n + 1);
  if (data_[pos_ + n] != '\0') malformed("signature without its NUL");
  std::string s(data_.substr(pos_, n));
  pos_ += n + 1;
  return s;
}

size_t Reader::beginArray(size_t elementAlignment) {
  uint32_t n = u32();
  if (n > kMaxArray) malformed("array longer than 64 MiB");
  align(elementAlignment);
  need(n);
  return pos_ + n;
}

void Reader::skip(std::string_view type) {
  size_t i = 0;
  skipOne(type, i, 0);
  if (i != type.size()) malformed(fmt::format("\"{}\" is not a single complete type", type));
}

void Reader::skipOne(std::string_view sig, size_t& i, int depth) {
  if (depth > kMaxDepth || i >= sig.size()) malformed("bad signature");
  char c = sig[i++];
  if (std::string_view("ybnqiuhxtd").find(c) != std::string_view::npos) {
    size_t n = alignmentOf(c);  // a fixed-size value is as long as its alignment
    align(n);
    need(n);
    pos_ += n;
  } else if (c == 's' || c == 'o') {
    string();
  } else if (c == 'g') {
    signature();
  } else if (c == 'v') {
    std::string inner = signature();
    size_t j = 0;
    skipOne(inner, j, depth + 1);
    if (j != inner.size()) malformed("variant signature is not a single type");
  } else if (c == 'a') {
    size_t element = i;
    i = typeEnd(sig, i);
    size_t end = beginArray(alignmentOf(sig[element]));
    while (pos_ < end) {
      size_t j = element;
      skipOne(sig, j, depth + 1);
    }
    if (pos_ != end) malformed("array element runs past the array");
  } else if (c == '(' || c == '{') {
    char close = c == '(' ? ')' : '}';
    beginStruct();
    while (i < sig.size() && sig[i] != close) skipOne(sig, i, depth + 1);
    if (i >= sig.size()) malformed("unterminated struct in signature");
    ++i;
  } else {
    malformed(fmt::format("unknown type '{}'", c));
  }
}

// --- Messages ---

std::string Message::firstString() const {
  if (signature.empty() || signature[0] != 's') return "";
  return reader().string();
}

Message methodCall(std::string destination, std::string path, std::string interface,
                   std::string member, std::string signature, std::string body) {
  Message m;
  m.type = Type::kMethodCall;
  m.destination = std::move(destination);
  m.path = std::move(path);
  m.interface = std::move(interface);
  m.member = std::move(member);
  m.signature = std::move(signature);
  m.body = std::move(body);
  return m;
}

std::string encode(const Message& m) {
  if (m.serial == 0) throw SysError(EINVAL, "D-Bus message without a serial");
  if (m.body.size() > kMaxMessage) throw SysError(E2BIG, "D-Bus message longer than 128 MiB");
  Writer w;
  w.byte('l');
  w.byte(static_cast<uint8_t>(m.type));
  w.byte(m.flags);
  w.byte(1);  // protocol version
  w.u32(static_cast<uint32_t>(m.body.size()));
  w.u32(m.serial);
  auto fields = w.beginArray(8);
  for (const auto& f : kTextFields) {
    const std::string& v = m.*f.value;
    if (v.empty()) continue;
    w.beginStruct();
    w.byte(f.code);
    w.signature(f.type);
    if (f.type[0] == 'g')
      w.signature(v);
    else
      w.string(v);
  }
  if (m.replySerial) {
    w.beginStruct();
    w.byte(kReplySerial);
    w.signature("u");
    w.u32(m.replySerial);
  }
  w.endArray(fields);
  w.align(8);
  std::string out = w.take();
  out += m.body;
  return out;
}

std::optional<Message> decode(std::string_view buf, size_t* used) {
  if (buf.size() < 16) return std::nullopt;
  if (buf[0] != 'l' && buf[0] != 'B') malformed("unknown byte order");
  if (buf[3] != 1) malformed("unknown protocol version");
  Message m;
  m.bigEndian = buf[0] == 'B';
  Reader fixed(buf.substr(0, 16), m.bigEndian, 4);
  uint32_t bodyLength = fixed.u32();
  m.serial = fixed.u32();
  uint32_t fieldsLength = fixed.u32();
  if (fieldsLength > kMaxArray) malformed("header fields longer than 64 MiB");
  size_t headerEnd = 16 + size_t{fieldsLength};
  size_t total = roundUp(headerEnd, 8) + bodyLength;
  if (total > kMaxMessage) malformed("message longer than 128 MiB");
  if (buf.size() < total) return std::nullopt;
  if (m.serial == 0) malformed("serial 0");
  uint8_t type = static_cast<uint8_t>(buf[1]);
  // Unknown message types are to be ignored: they stay kInvalid.
  if (type >= 1 && type <= 4) m.type = static_cast<Type>(type);
  m.flags = static_cast<uint8_t>(buf[2]);

  Reader r(buf.substr(0, headerEnd), m.bigEndian, 16);
  while (!r.atEnd()) {
    r.beginStruct();
    uint8_t code = r.byte();
    std::string fieldType = r.signature();
    const TextField* text = nullptr;
    for (const auto& f : kTextFields)
      if (f.code == code) text = &f;
    if (!text && code != kReplySerial) {
      r.skip(fieldType);  // unknown fields (and UNIX_FDS, which we never negotiate)
      continue;
    }
    if (fieldType != (text ? text->type : "u"))
      malformed(fmt::format("header field {} of type \"{}\"", code, fieldType));
    if (!text)
      m.replySerial = r.u32();
    else
      m.*text->value = fieldType == "g" ? r.signature() : r.string();
  }
  m.body = std::string(buf.substr(roundUp(headerEnd, 8), bodyLength));
  *used = total;
  return m;
}

std::string authExternalLine(unsigned uid) {
  std::string out = "AUTH EXTERNAL ";
  for (char c : std::to_string(uid)) out += fmt::format("{:02x}", static_cast<unsigned>(c));
  return out;
}

// --- Connection ---

namespace {
int msLeft(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}
}  // namespace

Connection::Connection(const std::string& path, bool busDaemon, std::chrono::milliseconds timeout)
    : path_(path), busDaemon_(busDaemon) {
  auto deadline = Clock::now() + timeout;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw SysError(ENAMETOOLONG, fmt::format("D-Bus socket path '{}'", path));
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  fd_ = UniqueFd(
      SV_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), "for D-Bus"));
  // A non-blocking AF_UNIX connect completes at once or fails with EAGAIN when the
  // listener's backlog is full; then try again until the deadline.
  while (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == EINTR) continue;
    if (errno == EAGAIN && msLeft(deadline) > 0) {
      ::poll(nullptr, 0, 1);
      continue;
    }
    throwSysError(errno, "connect", fmt::format("to D-Bus socket '{}'", path));
  }
  // One write: the NUL byte, our credentials, and BEGIN without waiting for OK (as sd-bus
  // does). We negotiate nothing: no fds are ever passed.
  writeAllWithin(std::string(1, '\0') + authExternalLine(::geteuid()) + "\r\nBEGIN\r\n", deadline);
  size_t eol;
  while ((eol = rx_.find("\r\n")) == std::string::npos) {
    if (rx_.size() > 512) break;
    fill(deadline, "the answer to D-Bus authentication");
  }
  std::string line = rx_.substr(0, eol == std::string::npos ? 80 : eol);
  if (eol == std::string::npos || !(line == "OK" || line.starts_with("OK ")))
    throw SysError(EACCES, fmt::format("D-Bus authentication (EXTERNAL, uid {}) at '{}' was "
                                       "refused: the server said \"{}\"",
                                       ::geteuid(), path, line));
  rx_.erase(0, eol + 2);
  if (busDaemon_)
    send(methodCall("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                    "Hello", "", ""));
}

uint32_t Connection::send(Message m) {
  m.serial = ++serial_;
  // Each call waits with its own deadline; a write to a local peer that reads does not stall.
  writeAllWithin(encode(m), Clock::now() + std::chrono::seconds(30));
  return m.serial;
}

Message Connection::call(Message m, Clock::time_point deadline) {
  std::string what = fmt::format("the reply to {}", m.member);
  uint32_t serial = send(std::move(m));
  for (;;) {
    Message r = receive(deadline, what);
    bool reply = r.type == Type::kMethodReturn || r.type == Type::kError;
    if (!reply || r.replySerial != serial) {
      dispatch(std::move(r));
      continue;
    }
    if (r.type == Type::kError) throw Error(r.errorName, r.firstString());
    return r;
  }
}

void Connection::keepSignals(std::string interface, std::string member) {
  keepInterface_ = std::move(interface);
  keepMember_ = std::move(member);
}

void Connection::writeAllWithin(std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE.
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throwSysError(errno, "send", fmt::format("to D-Bus peer '{}'", path_));
    struct pollfd p = {fd_.get(), POLLOUT, 0};
    int r = ::poll(&p, 1, msLeft(deadline));
    if (r == 0) throw SysError(ETIMEDOUT, fmt::format("writing to D-Bus peer '{}'", path_));
    if (r < 0 && errno != EINTR) throwSysError(errno, "poll", fmt::format("'{}'", path_));
  }
}

void Connection::fill(Clock::time_point deadline, std::string_view what) {
  for (;;) {
    char buf[16384];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n > 0) {
      rx_.append(buf, static_cast<size_t>(n));
      return;
    }
    if (n == 0)
      throw SysError(ECONNRESET, fmt::format("D-Bus peer '{}' closed the connection while we "
                                             "waited for {}",
                                             path_, what));
    if (errno == EINTR) continue;
    if (errno != EAGAIN) throwSysError(errno, "recv", fmt::format("from D-Bus peer '{}'", path_));
    struct pollfd p = {fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, msLeft(deadline));
    if (r == 0) throw SysError(ETIMEDOUT, fmt::format("waiting for {} from '{}'", what, path_));
    if (r < 0 && errno != EINTR) throwSysError(errno, "poll", fmt::format("'{}'", path_));
  }
}

Message Connection::receive(Clock::time_point deadline, std::string_view what) {
  for (;;) {
    size_t used = 0;
    if (auto m = decode(rx_, &used)) {
      rx_.erase(0, used);
      return std::move(*m);
    }
    fill(deadline, what);
  }
}

void Connection::dispatch(Message m) {
  if (m.type == Type::kSignal && m.member == keepMember_ && m.interface == keepInterface_)
    kept_.push_back(std::move(m));
  else if (m.type == Type::kError)
    throw Error(m.errorName, m.firstString());
  // Other replies (Hello's, AddMatch's), other signals and calls to us are of no interest.
}

}  // namespace sv::dbus
