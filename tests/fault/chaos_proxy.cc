#include "chaos_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>

#include <catch2/catch.hpp>

#include "netns.h"

namespace claw::fault {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kChunk = 64 * 1024;
// Held bytes per connection and direction before the proxy stops reading (backpressure).
constexpr size_t kMaxHeld = 8 * 1024 * 1024;
// How often a waiting pump looks at the link's faults and the stop flag again.
constexpr milliseconds kRecheck{20};

bool ParseIpv4(const std::string& host, in_addr* out) { return ::inet_pton(AF_INET, host.c_str(), out) == 1; }

sockaddr_in Sockaddr(const std::string& host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(ParseIpv4(host, &a.sin_addr));
  return a;
}

// A non-blocking connect with a deadline; -1 when it did not connect.
int ConnectTo(const std::string& address, milliseconds timeout) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) return -1;
  in_addr ip{};
  if (!ParseIpv4(host, &ip)) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr = ip;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  pollfd p{fd, POLLOUT, 0};
  int err = 0;
  socklen_t len = sizeof(err);
  if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1 ||
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void SetNoDelay(int fd) {
  const int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void SetLingerZero(int fd) {
  const linger l{1, 0};
  (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

// Aborts a TCP connection with an RST while the fd stays open (other threads may still poll it;
// closing it could hand the number to another socket): connect(AF_UNSPEC) disconnects.
void Abort(int fd) {
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  (void)::connect(fd, &unspec, sizeof(unspec));
  (void)::shutdown(fd, SHUT_RDWR);
}

// Writes all of [data, data + n) to a non-blocking socket, waiting (bounded by `stop`) while it
// is full. False when the socket broke or the proxy stops.
bool WriteAll(int fd, const char* data, size_t n, const std::atomic<bool>& stop) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w > 0) {
      data += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    if (stop.load()) return false;
    pollfd p{fd, POLLOUT, 0};
    (void)::poll(&p, 1, static_cast<int>(kRecheck.count()));
  }
  return true;
}

}  // namespace

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= address.size()) return false;
  char* end = nullptr;
  const long p = std::strtol(address.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || p <= 0 || p > 65535) return false;
  *host = address.substr(0, colon);
  *port = static_cast<int>(p);
  return true;
}

// One proxied connection: fds[0] the dialer's side, fds[1] the target's. Direction 0 carries
// dialer -> target bytes (link from -> to), direction 1 the answers (link to -> from).
struct ChaosProxy::Conn {
  int fds[2] = {-1, -1};
  int from = 0, to = 0;
  std::atomic<bool> dead{false};
  std::atomic<bool> reset{false};
  std::atomic<int> pumps_done{0};
  std::thread threads[2];
};

ChaosProxy::ChaosProxy(ChaosProxyOptions options) : options_(std::move(options)), rng_(options_.seed) {
  const int n = size();
  REQUIRE(n >= 2);
  links_.resize(static_cast<size_t>(n * n));
  listen_fds_.assign(static_cast<size_t>(n * n), -1);
  listen_ports_.assign(static_cast<size_t>(n * n), 0);
  for (int from = 0; from < n; ++from) {
    for (int to = 0; to < n; ++to) {
      if (from == to) continue;
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      REQUIRE(fd >= 0);
      sockaddr_in a = Sockaddr(options_.listen_host, 0);
      INFO("binding a proxy listener on " << options_.listen_host << ": errno " << errno);
      REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0);
      REQUIRE(::listen(fd, 64) == 0);
      socklen_t len = sizeof(a);
      REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
      listen_fds_[LinkIndex(from, to)] = fd;
      listen_ports_[LinkIndex(from, to)] = ntohs(a.sin_port);
    }
  }
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

ChaosProxy::~ChaosProxy() {
  stopping_ = true;
  acceptor_.join();
  std::list<std::shared_ptr<Conn>> conns;
  {
    std::lock_guard lock(mu_);
    conns.swap(conns_);
  }
  for (const auto& c : conns) {
    c->dead = true;
    for (int fd : c->fds) (void)::shutdown(fd, SHUT_RDWR);
  }
  for (const auto& c : conns) {
    for (std::thread& t : c->threads) {
      if (t.joinable()) t.join();
    }
    for (int fd : c->fds) {
      SetLingerZero(fd);
      ::close(fd);
    }
  }
  for (int fd : listen_fds_) {
    if (fd >= 0) ::close(fd);
  }
}

// No Catch macros here: the pumps call it on their own threads.
size_t ChaosProxy::LinkIndex(int from, int to) const { return static_cast<size_t>(from * size() + to); }

void ChaosProxy::CheckLink(int from, int to) const {
  INFO("link n" << from + 1 << " -> n" << to + 1 << " of a proxy for " << size() << " nodes");
  REQUIRE((from >= 0 && from < size() && to >= 0 && to < size() && from != to));
}

int ChaosProxy::ListenPort(int from, int to) const {
  CheckLink(from, to);
  return listen_ports_[LinkIndex(from, to)];
}

std::string ChaosProxy::ListenAddress(int from, int to) const {
  return options_.listen_host + ":" + std::to_string(ListenPort(from, to));
}

void ChaosProxy::Set(int from, int to, const LinkFaults& faults) {
  CheckLink(from, to);
  std::lock_guard lock(mu_);
  Link& link = links_[LinkIndex(from, to)];
  link.faults = faults;
  link.tokens = 0;
  link.refilled = Clock::now();
}

void ChaosProxy::SetNode(int node, const LinkFaults& faults) {
  for (int other = 0; other < size(); ++other) {
    if (other == node) continue;
    Set(node, other, faults);
    Set(other, node, faults);
  }
}

void ChaosProxy::Heal() {
  std::lock_guard lock(mu_);
  for (Link& link : links_) link.faults = LinkFaults{};
}

LinkStats ChaosProxy::Stats(int from, int to) const {
  CheckLink(from, to);
  std::lock_guard lock(mu_);
  return links_[LinkIndex(from, to)].stats;
}

void ChaosProxy::ResetAll() {
  std::lock_guard lock(mu_);
  for (const auto& c : conns_) {
    c->reset = true;
    c->dead = true;
    for (int fd : c->fds) Abort(fd);
  }
}

void ChaosProxy::AcceptLoop() {
  std::vector<pollfd> polls;
  std::vector<size_t> index;
  for (size_t i = 0; i < listen_fds_.size(); ++i) {
    if (listen_fds_[i] < 0) continue;
    polls.push_back({listen_fds_[i], POLLIN, 0});
    index.push_back(i);
  }
  while (!stopping_.load()) {
    ReapFinished();
    if (::poll(polls.data(), polls.size(), static_cast<int>(kRecheck.count())) <= 0) continue;
    for (size_t i = 0; i < polls.size(); ++i) {
      if ((polls[i].revents & POLLIN) == 0) continue;
      for (;;) {
        const int fd = ::accept4(polls[i].fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;
        Open(static_cast<int>(index[i]), fd);
      }
    }
  }
}

void ChaosProxy::Open(int listener_index, int fd) {
  const int from = listener_index / size();
  const int to = listener_index % size();
  const int upstream = ConnectTo(options_.targets[static_cast<size_t>(to)], milliseconds(1000));
  if (upstream < 0) {  // the target is down: the dialer sees its connection reset
    SetLingerZero(fd);
    ::close(fd);
    return;
  }
  SetNoDelay(fd);
  SetNoDelay(upstream);
  auto conn = std::make_shared<Conn>();
  conn->fds[0] = fd;
  conn->fds[1] = upstream;
  conn->from = from;
  conn->to = to;
  std::lock_guard lock(mu_);
  ++links_[LinkIndex(from, to)].stats.connections;
  conns_.push_back(conn);
  conn->threads[0] = std::thread([this, conn] { Pump(conn, 0); });
  conn->threads[1] = std::thread([this, conn] { Pump(conn, 1); });
}

void ChaosProxy::ReapFinished() {
  std::vector<std::shared_ptr<Conn>> done;
  {
    std::lock_guard lock(mu_);
    for (auto it = conns_.begin(); it != conns_.end();) {
      if ((*it)->pumps_done.load() == 2) {
        done.push_back(*it);
        it = conns_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& c : done) {
    for (std::thread& t : c->threads) t.join();
    for (int fd : c->fds) ::close(fd);
  }
}

size_t ChaosProxy::TakeTokens(size_t link_index, size_t want, milliseconds* wait) {
  std::lock_guard lock(mu_);
  Link& link = links_[link_index];
  const uint64_t rate = link.faults.bytes_per_second;
  if (rate == 0) return want;
  const auto now = Clock::now();
  const double burst = static_cast<double>(rate) / 10.0;
  const double elapsed = std::chrono::duration<double>(now - link.refilled).count();
  link.tokens = std::min(burst, link.tokens + elapsed * static_cast<double>(rate));
  link.refilled = now;
  if (link.tokens < 1) {
    *wait = milliseconds(std::max<int64_t>(1, static_cast<int64_t>(1000.0 * (1 - link.tokens) / static_cast<double>(rate))));
    return 0;
  }
  const size_t n = std::min(want, static_cast<size_t>(link.tokens));
  link.tokens -= static_cast<double>(n);
  return n;
}

// One direction of a connection: reads chunks from src, holds each until its release time (and
// while the link is blackholed, or out of tokens), writes them to dst in order.
void ChaosProxy::Pump(const std::shared_ptr<Conn>& conn, int direction) {
  const int src = conn->fds[direction];
  const int dst = conn->fds[1 - direction];
  const size_t link = direction == 0 ? LinkIndex(conn->from, conn->to) : LinkIndex(conn->to, conn->from);
  struct Held {
    Clock::time_point release;
    std::string data;
    size_t sent = 0;
  };
  std::deque<Held> held;
  size_t held_bytes = 0;
  Clock::time_point last_release{};
  bool eof = false;
  std::vector<char> buf(kChunk);
  const auto abort_conn = [&](bool by_fault) {
    if (by_fault) {
      std::lock_guard lock(mu_);
      ++links_[link].stats.resets;
    }
    conn->reset = true;
    conn->dead = true;
    for (int fd : conn->fds) Abort(fd);
  };
  while (!conn->dead.load() && !stopping_.load()) {
    // Deliver what is due.
    milliseconds wait = kRecheck;
    bool blackhole = false;
    {
      std::lock_guard lock(mu_);
      blackhole = links_[link].faults.blackhole;
    }
    bool broken = false;
    while (!held.empty() && !blackhole) {
      Held& h = held.front();
      const auto now = Clock::now();
      if (h.release > now) {
        wait = std::min(wait, std::chrono::ceil<milliseconds>(h.release - now));
        break;
      }
      milliseconds token_wait{0};
      const size_t n = TakeTokens(link, h.data.size() - h.sent, &token_wait);
      if (n == 0) {
        wait = std::min(wait, token_wait);
        break;
      }
      if (!WriteAll(dst, h.data.data() + h.sent, n, conn->dead)) {
        broken = true;
        break;
      }
      h.sent += n;
      {
        std::lock_guard lock(mu_);
        links_[link].stats.bytes += n;
        if (h.sent == h.data.size()) ++links_[link].stats.chunks;
      }
      if (h.sent == h.data.size()) {
        held_bytes -= h.data.size();
        held.pop_front();
      }
    }
    if (broken) {
      abort_conn(false);
      break;
    }
    if (eof && held.empty()) {
      (void)::shutdown(dst, SHUT_WR);  // pass the FIN on
      break;
    }
    // Read more while there is room.
    if (eof || held_bytes >= kMaxHeld) {
      std::this_thread::sleep_for(std::max(milliseconds(1), wait));
      continue;
    }
    pollfd p{src, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, wait.count())));
    if (ready <= 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t r = ::recv(src, buf.data(), buf.size(), 0);
    if (r == 0) {
      eof = true;
      continue;
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      abort_conn(false);  // the other side was reset: so is this one
      break;
    }
    const auto now = Clock::now();
    Clock::time_point release = now;
    bool reset = false;
    {
      std::lock_guard lock(mu_);
      Link& l = links_[link];
      const LinkFaults& f = l.faults;
      auto d = f.delay;
      if (f.jitter.count() > 0) {
        std::uniform_int_distribution<int64_t> jitter(-f.jitter.count(), f.jitter.count());
        d += milliseconds(jitter(rng_));
      }
      release += std::max(milliseconds(0), d);
      std::uniform_real_distribution<double> coin(0, 1);
      if (f.stall_probability > 0 && coin(rng_) < f.stall_probability) {
        release += f.stall;
        ++l.stats.stalls;
      }
      reset = f.reset_probability > 0 && coin(rng_) < f.reset_probability;
    }
    if (reset) {
      abort_conn(true);
      break;
    }
    release = std::max(release, last_release);  // in order within the connection
    last_release = release;
    held.push_back(Held{release, std::string(buf.data(), static_cast<size_t>(r)), 0});
    held_bytes += static_cast<size_t>(r);
  }
  conn->pumps_done.fetch_add(1);
}

ProxyNat::ProxyNat(const std::vector<Node>& nodes, const ChaosProxy& proxy, const std::string& listen_host) {
  REQUIRE(static_cast<int>(nodes.size()) == proxy.size());
  std::string rules = "table ip claw_proxy {}\ndelete table ip claw_proxy\n";
  rules += "table ip claw_proxy {\n  chain out {\n    type nat hook output priority -100; policy accept;\n";
  for (size_t a = 0; a < nodes.size(); ++a) {
    for (size_t b = 0; b < nodes.size(); ++b) {
      if (a == b) continue;
      rules += "    meta skuid " + std::to_string(nodes[a].uid) + " ip daddr " + nodes[b].peer_host +
               " tcp dport " + std::to_string(nodes[b].peer_port) + " dnat to " + listen_host + ":" +
               std::to_string(proxy.ListenPort(static_cast<int>(a), static_cast<int>(b))) + "\n";
    }
  }
  rules += "  }\n}\n";
  std::string out;
  const int rc = FaultNet::Run({"ip", "netns", "exec", FaultNet::Get().name(), "nft", "-f", "-"}, &out, rules);
  INFO("nft refused the proxy's DNAT rules: " << out << "\nrules:\n" << rules);
  REQUIRE(rc == 0);
}

ProxyNat::~ProxyNat() {
  (void)FaultNet::Run({"ip", "netns", "exec", FaultNet::Get().name(), "nft", "delete", "table", "ip", "claw_proxy"});
}

}  // namespace claw::fault
