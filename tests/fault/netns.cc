#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <catch2/catch.hpp>

namespace claw::fault {

namespace {

constexpr std::string_view kPrefix = "claw-fault-";
constexpr std::string_view kSourceAddress = "127.0.0.254";

int ThreadCount() {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

void DeleteNamespace(const std::string& name) {
  std::string pids;
  FaultNet::Run({"ip", "netns", "pids", name}, &pids);
  std::istringstream in(pids);
  for (pid_t pid = 0; in >> pid;) {
    if (pid > 0 && pid != ::getpid()) ::kill(pid, SIGKILL);
  }
  FaultNet::Run({"ip", "netns", "del", name});
}

std::string& OwnName() {
  static auto* name = new std::string();
  return *name;
}

void DeleteOwnNamespace() {
  if (!OwnName().empty()) DeleteNamespace(OwnName());
}

}  // namespace

std::string NodeHost(int i) { return "127.0.0." + std::to_string(i + 1); }

int FaultNet::Run(const std::vector<std::string>& argv, std::string* output, const std::string& input) {
  int out_pipe[2];
  int in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return -1;
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return -1;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(out_pipe[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  // Inputs are a few hundred bytes of nft rules: they fit the pipe, so write all, then read.
  size_t written = 0;
  while (written < input.size()) {
    const ssize_t n = ::write(in_pipe[1], input.data() + written, input.size() - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  ::close(in_pipe[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = ::read(out_pipe[0], buf, sizeof(buf))) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(out_pipe[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (output != nullptr) *output = std::move(text);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

int RemoveStaleNamespaces() {
  std::string list;
  if (FaultNet::Run({"ip", "netns", "list"}, &list) != 0) return 0;
  int removed = 0;
  std::istringstream in(list);
  for (std::string line; std::getline(in, line);) {
    const std::string name = line.substr(0, line.find(' '));
    if (!name.starts_with(kPrefix)) continue;
    const std::string pid_text = name.substr(kPrefix.size());
    char* end = nullptr;
    const long pid = std::strtol(pid_text.c_str(), &end, 10);
    if (pid_text.empty() || *end != '\0' || pid <= 0) continue;
    if (pid == ::getpid()) continue;
    // Its process still runs: another fault test in progress.
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM) continue;
    DeleteNamespace(name);
    ++removed;
  }
  return removed;
}

FaultNet& FaultNet::Get() {
  static FaultNet* net = nullptr;
  if (net != nullptr) return *net;
  REQUIRE(::geteuid() == 0);
  // setns() moves only the calling thread: threads started earlier (gRPC's) would stay outside.
  const int threads = ThreadCount();
  INFO("threads running before the namespace was entered: " << threads);
  REQUIRE(threads == 1);
  const int stale = RemoveStaleNamespaces();
  if (stale > 0) WARN("removed " << stale << " stale claw-fault namespace(s) of crashed runs");

  const std::string name = std::string(kPrefix) + std::to_string(::getpid());
  std::string out;
  INFO("creating network namespace " << name);
  REQUIRE(Run({"ip", "netns", "add", name}, &out) == 0);
  OwnName() = name;
  std::atexit(DeleteOwnNamespace);
  const std::string src(kSourceAddress);
  const std::vector<std::vector<std::string>> setup = {
      {"ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"},
      {"ip", "netns", "exec", name, "ip", "addr", "add", src + "/32", "dev", "lo"},
      {"ip", "netns", "exec", name, "ip", "route", "replace", "local", "127.0.0.0/8", "dev", "lo",
       "table", "local", "proto", "kernel", "scope", "host", "src", src},
  };
  for (const auto& cmd : setup) {
    INFO(cmd[4] << " " << cmd[5] << ": " << out);
    REQUIRE(Run(cmd, &out) == 0);
  }
  const int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  const int entered = ::setns(fd, CLONE_NEWNET);
  ::close(fd);
  REQUIRE(entered == 0);
  net = new FaultNet();
  net->name_ = name;
  return *net;
}

std::string FaultNet::Apply(const std::vector<Drop>& drops) {
  std::string out;
  // Deleting a table that does not exist fails: create it empty first, in the same transaction.
  std::string rules = "table inet claw_fault {}\ndelete table inet claw_fault\n";
  if (!drops.empty()) {
    rules += "table inet claw_fault {\n  chain out {\n    type filter hook output priority 0; policy accept;\n";
    for (const Drop& d : drops) {
      rules += "    meta skuid " + std::to_string(d.from_uid) + " ip daddr " + d.to_host;
      if (d.percent < 100) rules += " numgen random mod 100 < " + std::to_string(d.percent);
      rules += " drop\n";
    }
    rules += "  }\n}\n";
  }
  if (Run({"ip", "netns", "exec", name_, "nft", "-f", "-"}, &out, rules) != 0) {
    return "nft -f failed: " + out + "\nrules:\n" + rules;
  }
  return "";
}

std::string FaultNet::Ruleset() const {
  std::string out;
  Run({"ip", "netns", "exec", name_, "nft", "list", "ruleset"}, &out);
  return out;
}

}  // namespace claw::fault
