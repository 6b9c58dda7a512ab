// The chaos proxy on its own (chaos_proxy.h), between plain sockets on 127.0.0.1: bytes arrive
// intact and in order under jitter, delays, a one-way blackhole that holds and then delivers,
// the bandwidth limit, resets, and ProxyNat steering a uid's connections through it.
#include "chaos_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <catch2/catch.hpp>

#include "netns.h"

namespace claw::fault {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A listener on `host`, port chosen by the kernel.
class Listener {
 public:
  explicit Listener(const std::string& host = "127.0.0.1") : host_(host) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof(a);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  int port() const { return port_; }
  // The next connection, or -1 after `timeout`.
  int Accept(std::chrono::milliseconds timeout = 3s) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return -1;
    return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  std::string host_;
  int fd_ = -1;
  int port_ = 0;
};

int Dial(const std::string& address) {
  std::string host;
  int port = 0;
  REQUIRE(SplitHostPort(address, &host, &port));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::inet_pton(AF_INET, host.c_str(), &a.sin_addr) == 1);
  REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) == 0);
  return fd;
}

void SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    sent += static_cast<size_t>(n);
  }
}

// Reads up to `n` bytes within `timeout`; fewer when the time ran out or the stream ended.
// *error gets errno of a failed read (ECONNRESET), else 0.
std::string Receive(int fd, size_t n, std::chrono::milliseconds timeout, int* error = nullptr) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  if (error != nullptr) *error = 0;
  char buf[65536];
  while (out.size() < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) != 1) break;
    const ssize_t r = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (r < 0 && error != nullptr) *error = errno;
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

// A proxy for two "nodes": node 0 has no listener of its own here; node 1 is `target`.
ChaosProxyOptions TwoNodes(const Listener& target) {
  ChaosProxyOptions o;
  o.targets = {"127.0.0.1:1", target.address()};
  o.seed = 3;
  return o;
}

}  // namespace

TEST_CASE("chaos proxy: bytes arrive intact and in order both ways under jitter", "[fault][proxy]") {
  Listener target;
  ChaosProxy proxy(TwoNodes(target));
  proxy.Set(0, 1, {.delay = 5ms, .jitter = 5ms, .stall_probability = 0.05, .stall = 30ms});
  proxy.Set(1, 0, {.delay = 3ms, .jitter = 3ms});
  const int client = Dial(proxy.ListenAddress(0, 1));
  const int server = target.Accept();
  REQUIRE(server >= 0);
  // The target echoes everything back.
  std::thread echo([server] {
    char buf[65536];
    for (ssize_t n; (n = ::recv(server, buf, sizeof(buf), 0)) > 0;) {
      if (::send(server, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    ::shutdown(server, SHUT_WR);
  });
  const std::string data = Pattern(2 << 20, 11);
  std::thread writer([&] {
    for (size_t at = 0; at < data.size(); at += 1000) SendAll(client, data.substr(at, 1000));
    ::shutdown(client, SHUT_WR);
  });
  const std::string back = Receive(client, data.size() + 1, 30s);
  writer.join();
  echo.join();
  ::close(client);
  ::close(server);
  CHECK(back.size() == data.size());
  CHECK(back == data);
  const LinkStats there = proxy.Stats(0, 1), answers = proxy.Stats(1, 0);
  CHECK(there.bytes == data.size());
  CHECK(answers.bytes == data.size());
  CHECK(there.connections == 1);
  CHECK(there.stalls > 0);
}

TEST_CASE("chaos proxy: the delay of each direction is applied", "[fault][proxy]") {
  Listener target;
  ChaosProxy proxy(TwoNodes(target));
  const int client = Dial(proxy.ListenAddress(0, 1));
  const int server = target.Accept();
  REQUIRE(server >= 0);
  const auto round_trip = [&] {
    const auto start = Clock::now();
    SendAll(client, "p");
    REQUIRE(Receive(server, 1, 5s) == "p");
    SendAll(server, "q");
    REQUIRE(Receive(client, 1, 5s) == "q");
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  };
  CHECK(round_trip() < 100ms);
  proxy.Set(0, 1, {.delay = 200ms});
  const auto one_way = round_trip();
  CHECK(one_way >= 200ms);
  CHECK(one_way < 600ms);
  proxy.Set(1, 0, {.delay = 150ms});
  const auto both = round_trip();
  CHECK(both >= 350ms);
  CHECK(both < 800ms);
  proxy.Heal();
  CHECK(round_trip() < 100ms);
  ::close(client);
  ::close(server);
}

TEST_CASE("chaos proxy: a blackhole stops one direction; the heal delivers what it held", "[fault][proxy]") {
  Listener target;
  ChaosProxy proxy(TwoNodes(target));
  const int client = Dial(proxy.ListenAddress(0, 1));
  const int server = target.Accept();
  REQUIRE(server >= 0);
  proxy.Set(0, 1, {.blackhole = true});
  SendAll(client, "held");
  CHECK(Receive(server, 4, 500ms).empty());  // 0 -> 1 stopped
  SendAll(server, "answer");
  CHECK(Receive(client, 6, 2s) == "answer");  // 1 -> 0 still flows
  CHECK(proxy.Stats(0, 1).bytes == 0);
  proxy.Heal();
  CHECK(Receive(server, 4, 2s) == "held");
  SendAll(client, "more");
  CHECK(Receive(server, 4, 2s) == "more");
  ::close(client);
  ::close(server);
}

TEST_CASE("chaos proxy: the bandwidth limit of a link", "[fault][proxy]") {
  Listener target;
  ChaosProxy proxy(TwoNodes(target));
  proxy.Set(0, 1, {.bytes_per_second = 1'000'000});
  const int client = Dial(proxy.ListenAddress(0, 1));
  const int server = target.Accept();
  REQUIRE(server >= 0);
  const std::string data = Pattern(600'000, 5);
  const auto start = Clock::now();
  std::thread writer([&] { SendAll(client, data); });
  const std::string got = Receive(server, data.size(), 10s);
  const auto took = Clock::now() - start;
  writer.join();
  CHECK(got == data);
  // 100 ms of burst, then 1 MB/s: at least 0.5 s for 600 KB.
  CHECK(took >= 450ms);
  CHECK(took < 3s);
  ::close(client);
  ::close(server);
}

TEST_CASE("chaos proxy: resets abort the connection; a new one works after the heal", "[fault][proxy]") {
  Listener target;
  ChaosProxy proxy(TwoNodes(target));
  const int client = Dial(proxy.ListenAddress(0, 1));
  const int server = target.Accept();
  REQUIRE(server >= 0);
  proxy.Set(0, 1, {.reset_probability = 1.0});
  SendAll(client, "x");
  int error = 0;
  CHECK(Receive(client, 1, 2s, &error).empty());
  CHECK(error == ECONNRESET);
  CHECK(Receive(server, 1, 2s, &error).empty());
  CHECK(error == ECONNRESET);
  CHECK(proxy.Stats(0, 1).resets == 1);
  ::close(client);
  ::close(server);
  proxy.Heal();
  const int again = Dial(proxy.ListenAddress(0, 1));
  const int server2 = target.Accept();
  REQUIRE(server2 >= 0);
  SendAll(again, "y");
  CHECK(Receive(server2, 1, 2s) == "y");
  CHECK(proxy.Stats(0, 1).connections == 2);
  ::close(again);
  ::close(server2);
}

// Needs root and the fault namespace: a process running as uid 50001 dials 127.0.0.2's port and
// lands on the proxy's listener (0, 1), which forwards to the real target.
TEST_CASE("chaos proxy: ProxyNat sends a uid's connections through the proxy", "[fault][proxy]") {
  FaultNet::Get();
  Listener target("127.0.0.2");
  ChaosProxyOptions o;
  o.targets = {"127.0.0.1:1", target.address()};
  o.listen_host = "127.0.0.200";
  ChaosProxy proxy(o);
  ProxyNat nat({{.uid = 50001, .peer_host = "127.0.0.1", .peer_port = 1},
                {.uid = 50002, .peer_host = "127.0.0.2", .peer_port = target.port()}},
               proxy, o.listen_host);
  proxy.Set(0, 1, {.delay = 300ms});
  const pid_t child = ::fork();
  if (child == 0) {
    // As node 0's uid: dial node 1's peer address directly, send, exit.
    if (::setgid(50001) != 0 || ::setuid(50001) != 0) ::_exit(2);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(target.port()));
    ::inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) ::_exit(3);
    if (::send(fd, "via", 3, MSG_NOSIGNAL) != 3) ::_exit(4);
    char c = 0;
    (void)::recv(fd, &c, 1, 0);  // until the test closes
    ::_exit(0);
  }
  REQUIRE(child > 0);
  const auto start = Clock::now();
  const int server = target.Accept();
  REQUIRE(server >= 0);
  CHECK(Receive(server, 3, 3s) == "via");
  CHECK(Clock::now() - start >= 300ms);  // the link's delay: it went through the proxy
  ::close(server);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(proxy.Stats(0, 1).connections == 1);
  CHECK(proxy.Stats(0, 1).bytes == 3);
}

}  // namespace claw::fault
