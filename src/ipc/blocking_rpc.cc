#include "ipc/blocking_rpc.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <capnp/rpc.capnp.h>
#include <capnp/serialize.h>
#include <cstring>

#include "base/sys_error.h"
#include "ipc/rpc.h"

namespace sv::ipc {

namespace {

// Far above any message of ours; a peer announcing more is not a sysvisor daemon.
constexpr size_t kMaxWords = 8 << 20;

}  // namespace

BlockingRpc::BlockingRpc(const std::string& socketPath, std::string daemonName,
                         std::string startHint, std::chrono::milliseconds timeout)
    : socketPath_(socketPath),
      daemonName_(std::move(daemonName)),
      startHint_(std::move(startHint)),
      timeout_(timeout) {
  sockaddr_un addr = unixAddress(socketPath);
  fd_ = UniqueFd(SV_SYSCALL(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "unix socket"));
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    int e = errno;
    if (e == EACCES || e == EPERM)
      throw DaemonDown(fmt::format("cannot connect to {} (socket '{}': {}): only root may use it",
                                   daemonName_, socketPath, std::strerror(e)));
    throw DaemonDown(fmt::format("{} is not running ({}; socket '{}': {})", daemonName_,
                                 startHint_, socketPath, std::strerror(e)));
  }
}

BlockingRpc::~BlockingRpc() = default;

void BlockingRpc::down(const std::string& what) const {
  throw DaemonDown(fmt::format("{} {} (socket '{}'); check its log or restart it ({})",
                               daemonName_, what, socketPath_, startHint_));
}

void BlockingRpc::lost(const std::string& what) const {
  throw ConnectionLost(fmt::format("{} {} (socket '{}'); check its log or restart it ({})",
                                   daemonName_, what, socketPath_, startHint_));
}

void BlockingRpc::send(capnp::MessageBuilder& message) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_.get(), bytes.begin() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      lost(fmt::format("closed the connection ({})", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
}

void BlockingRpc::readFully(void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline_ - std::chrono::steady_clock::now());
    if (left.count() <= 0) down(fmt::format("did not answer within {} ms", timeout_.count()));
    pollfd pfd{fd_.get(), POLLIN, 0};
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) down(fmt::format("did not answer within {} ms", timeout_.count()));
    ssize_t got = ::read(fd_.get(), p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) lost("closed the connection before answering");
    p += got;
    n -= static_cast<size_t>(got);
  }
}

// One message in the standard stream framing: segment count - 1, the segment sizes (padded to
// a word), then the segments.
std::unique_ptr<capnp::MessageReader> BlockingRpc::receive() {
  uint32_t head[2];
  readFully(head, sizeof head);
  size_t segments = static_cast<size_t>(head[0]) + 1;
  if (segments > 512) down("sent a malformed message");
  kj::Array<uint32_t> sizes = kj::heapArray<uint32_t>(segments);
  sizes[0] = head[1];
  size_t rest = segments - 1 + (segments % 2 == 0 ? 1 : 0);  // sizes after the first, padded
  kj::Array<uint32_t> more = kj::heapArray<uint32_t>(rest);
  if (rest > 0) readFully(more.begin(), rest * sizeof(uint32_t));
  size_t total = 0;
  for (size_t i = 0; i < segments; ++i) {
    if (i > 0) sizes[i] = more[i - 1];
    total += sizes[i];
  }
  if (total > kMaxWords) down("sent a message larger than any it should");
  // Re-framed as one flat array for FlatArrayMessageReader.
  size_t tableWords = (segments + 2) / 2;
  auto flat = kj::heapArray<capnp::word>(tableWords + total);
  auto* table = reinterpret_cast<uint32_t*>(flat.begin());
  table[0] = head[0];
  for (size_t i = 0; i < segments; ++i) table[i + 1] = sizes[i];
  if (segments % 2 == 0) table[segments + 1] = 0;
  readFully(flat.begin() + tableWords, total * sizeof(capnp::word));
  struct Owned : capnp::FlatArrayMessageReader {
    Owned(kj::Array<capnp::word> w)
        : capnp::FlatArrayMessageReader(w.asPtr()), words(kj::mv(w)) {}
    kj::Array<capnp::word> words;
  };
  return std::make_unique<Owned>(kj::mv(flat));
}

BlockingRpc::Reply BlockingRpc::call(uint64_t interfaceId, uint16_t methodId,
                                     const std::function<void(capnp::AnyPointer::Builder)>& fill) {
  deadline_ = std::chrono::steady_clock::now() + timeout_;
  if (!bootstrapped_) {
    capnp::MallocMessageBuilder boot(64);
    bootstrapQuestion_ = nextQuestion_++;
    boot.initRoot<capnp::rpc::Message>().initBootstrap().setQuestionId(bootstrapQuestion_);
    send(boot);
    bootstrapped_ = true;
  }
  uint32_t question = nextQuestion_++;
  capnp::MallocMessageBuilder msg(256);
  auto c = msg.initRoot<capnp::rpc::Message>().initCall();
  c.setQuestionId(question);
  c.initTarget().initPromisedAnswer().setQuestionId(bootstrapQuestion_);
  c.setInterfaceId(interfaceId);
  c.setMethodId(methodId);
  auto params = c.initParams();
  fill(params.getContent());
  params.initCapTable(0);
  c.getSendResultsTo().setCaller();
  send(msg);

  for (;;) {
    std::unique_ptr<capnp::MessageReader> in = receive();
    auto m = in->getRoot<capnp::rpc::Message>();
    if (m.which() == capnp::rpc::Message::ABORT)
      down(fmt::format("aborted the connection ({})", m.getAbort().getReason().cStr()));
    if (m.which() != capnp::rpc::Message::RETURN) continue;  // e.g. the bootstrap's answer
    auto r = m.getReturn();
    if (r.getAnswerId() != question) continue;
    // Done with both questions: the daemon may forget them (the bootstrap is asked again on
    // the next call's connection anyway).
    capnp::MallocMessageBuilder fin(64);
    fin.initRoot<capnp::rpc::Message>().initFinish().setQuestionId(question);
    send(fin);
    if (r.which() == capnp::rpc::Return::EXCEPTION)
      throw RemoteError(fmt::format("{}: {}", daemonName_, r.getException().getReason().cStr()));
    if (r.which() != capnp::rpc::Return::RESULTS) down("answered in a way this client cannot use");
    auto content = r.getResults().getContent();
    return {std::move(in), content};
  }
}

}  // namespace sv::ipc
