// systemd integration without systemd: clawd runs with NOTIFY_SOCKET pointing at a datagram
// socket this test binds (what systemd does for Type=notify) and WATCHDOG_USEC set (WatchdogSec=);
// the test sees READY=1 (with a STATUS= line) once the node serves, WATCHDOG=1 pings and STATUS=
// refreshes while it runs, and STOPPING=1 after SIGTERM, in that order; clawd then exits 0. With
// JOURNAL_STREAM set, log lines carry "<N>" priorities instead of timestamps.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "cluster.h"
#include "e2e_util.h"
#include "tests/common/http_get.h"

namespace claw::e2e {
namespace {

// One datagram from `fd` within `timeout`, or "" when none came.
std::string Receive(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
  char buf[4096];
  const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

TEST_CASE("systemd: READY, STATUS, WATCHDOG and STOPPING reach the notify socket in order", "[e2e]") {
  char tmpl[] = "/tmp/claw-e2e-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string sock_path = dir + "/notify.sock";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path.c_str());
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);

  const int http_port = FreePort();
  std::vector<std::string> argv = {ClawdPath(), "--name", "n1", "--data-dir", dir + "/data",
                                   "--client-addr", "127.0.0.1:" + std::to_string(FreePort()),
                                   "--peer-addr", "127.0.0.1:" + std::to_string(FreePort()),
                                   "--http-addr", "127.0.0.1:" + std::to_string(http_port),
                                   "--storage-direct-io=false", "--shards", "2"};
  const std::string log = dir + "/clawd.log";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::freopen(log.c_str(), "w", stderr);
    ::setenv("NOTIFY_SOCKET", sock_path.c_str(), 1);
    ::setenv("WATCHDOG_USEC", "2000000", 1);  // WatchdogSec=2s: a ping at least every second
    ::setenv("JOURNAL_STREAM", "8:12345", 1);  // stderr "is" the journal: priority prefixes
    ::unsetenv("WATCHDOG_PID");
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    std::_Exit(127);
  }
  REQUIRE(pid > 0);

  // Until READY: status lines only (the watchdog is armed by systemd after READY).
  std::vector<std::string> before_ready;
  std::string ready;
  const auto start_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ready.empty() && std::chrono::steady_clock::now() < start_deadline) {
    std::string m = Receive(fd, std::chrono::milliseconds(500));
    if (m.find("READY=1") != std::string::npos) {
      ready = m;
    } else if (!m.empty()) {
      before_ready.push_back(m);
    }
  }
  INFO("log:\n" << RunProcess({"/usr/bin/tail", "-n", "30", log}).out);
  REQUIRE(!ready.empty());
  CHECK(ready.find("STATUS=serving") != std::string::npos);
  for (const std::string& m : before_ready) {
    CHECK(m.starts_with("STATUS="));
    CHECK(m.find("WATCHDOG=1") == std::string::npos);
  }
  // READY means the listeners are bound and the store recovered: /readyz agrees at once.
  CHECK(testing::HttpGet(http_port, "/readyz").status == 200);

  // Serving: pings at a quarter of the interval, and status refreshes.
  int pings = 0;
  bool status = false;
  const auto serve_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(5500);
  while (std::chrono::steady_clock::now() < serve_until) {
    const std::string m = Receive(fd, std::chrono::milliseconds(200));
    if (m == "WATCHDOG=1") ++pings;
    if (m.starts_with("STATUS=serving")) status = true;
    CHECK(m.find("STOPPING=1") == std::string::npos);
  }
  CHECK(pings >= 4);
  CHECK(status);

  // SIGTERM: STOPPING=1 comes, and clawd exits 0.
  REQUIRE(::kill(pid, SIGTERM) == 0);
  std::string stopping;
  const auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (stopping.empty() && std::chrono::steady_clock::now() < stop_deadline) {
    const std::string m = Receive(fd, std::chrono::milliseconds(500));
    if (m.find("STOPPING=1") != std::string::npos) stopping = m;
  }
  CHECK(stopping.find("STATUS=stopping") != std::string::npos);
  int wstatus = 0;
  REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
  CHECK(WIFEXITED(wstatus));
  CHECK(WEXITSTATUS(wstatus) == 0);
  // Every log line carries its syslog priority for journald and no timestamp of its own.
  const std::string lines = RunProcess({"/bin/cat", log}).out;
  CHECK(lines.starts_with("<"));
  CHECK(lines.find("\n<6>I [n1] node 1 stopped; data directory closed") != std::string::npos);
  CHECK(lines.find("\n20") == std::string::npos);
  ::close(fd);
  RunProcess({"/bin/rm", "-rf", dir});
}

}  // namespace claw::e2e
