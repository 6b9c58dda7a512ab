#include "cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <utility>
#include <sstream>
#include <thread>

#ifndef CLAWD_BINARY
#error "CLAWD_BINARY must name the clawd executable"
#endif

namespace claw::e2e {

namespace {

// Leaked on purpose: clusters held in statics (shared by several test cases) are destroyed at
// exit, possibly after a function-local static registry would be.
std::mutex live_mu;
std::vector<const TestCluster*>& Live() {
  static auto* live = new std::vector<const TestCluster*>();
  return *live;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

std::vector<const TestCluster*> LiveClusters() {
  std::lock_guard lock(live_mu);
  return Live();
}

int FreePort(const std::string& host) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::unique_ptr<grpc::ClientContext> Ctx(int ms) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  return c;
}

TestCluster::TestCluster(ClusterOptions options) : options_(std::move(options)) {
  char tmpl[] = "/tmp/claw-e2e-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  if (options_.node_uid_base != 0) ::chmod(dir_.c_str(), 0755);  // nodes of other users enter it
  // FreePort closes its socket, so the kernel may hand the same port out again: pick until the
  // cluster's ports are distinct (two nodes once got the same peer port, and clawd refused the
  // configuration).
  std::set<std::pair<std::string, int>> taken;
  auto pick = [&](const std::string& host) {
    for (int attempt = 0;; ++attempt) {
      const int port = FreePort(host);
      if (taken.emplace(host, port).second || attempt >= 100) return port;
    }
  };
  for (int i = 0; i < options_.nodes; ++i) {
    NodeProc n;
    n.name = "n" + std::to_string(i + 1);
    n.host = static_cast<size_t>(i) < options_.hosts.size() ? options_.hosts[i] : "127.0.0.1";
    n.client_port = pick(n.host);
    n.peer_port = pick(n.host);
    n.http_port = pick(n.host);
    if (options_.node_uid_base != 0) {
      n.uid = options_.node_uid_base + static_cast<uint32_t>(i);
      const std::string data = dir_ + "/" + n.name;
      ::mkdir(data.c_str(), 0700);
      if (::chown(data.c_str(), n.uid, n.uid) != 0) n.uid = 0;  // then it runs as us; Start says so
    }
    nodes_.push_back(n);
  }
  std::lock_guard lock(live_mu);
  Live().push_back(this);
}

TestCluster::~TestCluster() {
  {
    std::lock_guard lock(live_mu);
    std::erase(Live(), this);
  }
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i].pid > 0) Kill(i);
  }
  std::error_code ec;
  if (std::getenv("CLAW_E2E_KEEP") == nullptr) std::filesystem::remove_all(dir_, ec);
}

std::string TestCluster::client_address(int i) const {
  return nodes_[i].host + ":" + std::to_string(nodes_[i].client_port);
}
std::string TestCluster::peer_address(int i) const {
  return nodes_[i].host + ":" + std::to_string(nodes_[i].peer_port);
}
std::string TestCluster::data_dir(int i) const { return dir_ + "/" + nodes_[i].name; }
std::string TestCluster::log_path(int i) const { return dir_ + "/" + nodes_[i].name + ".log"; }

std::vector<std::string> TestCluster::Args(int i) const {
  const int initial_nodes = options_.initial > 0 ? std::min(options_.initial, size()) : size();
  std::string initial, join;
  for (int k = 0; k < initial_nodes; ++k) {
    if (k) initial += ",";
    initial += nodes_[k].name + "=" + peer_address(k);
    if (k) join += ",";
    join += client_address(k);
  }
  std::vector<std::string> a = {options_.binary.empty() ? std::string(CLAWD_BINARY) : options_.binary,
                                "--name", nodes_[i].name,
                                "--data-dir", data_dir(i),
                                "--client-addr", client_address(i),
                                "--peer-addr", peer_address(i),
                                "--http-addr", nodes_[i].host + ":" + std::to_string(nodes_[i].http_port),
                                i < initial_nodes ? "--initial-cluster" : "--join",
                                i < initial_nodes ? initial : join,
                                "--shards", std::to_string(options_.shards),
                                // tmpfs refuses O_DIRECT; keep the logs quiet about it.
                                "--storage-direct-io=false"};
  // clawd refuses a flag given twice: the node's own flags replace the cluster's of that name.
  auto name_of = [](const std::string& f) { return f.substr(0, f.find('=')); };
  std::vector<std::string> own;
  for (const auto& f : nodes_[i].flags) {
    if (f.starts_with("--")) own.push_back(name_of(f));
  }
  const std::vector<std::string>& flags = options_.flags;
  for (size_t k = 0; k < flags.size(); ++k) {
    if (flags[k].starts_with("--") && std::find(own.begin(), own.end(), name_of(flags[k])) != own.end()) {
      const bool value_follows = flags[k].find('=') == std::string::npos && k + 1 < flags.size() &&
                                 !flags[k + 1].starts_with("--");
      if (value_follows) ++k;
      continue;
    }
    a.push_back(flags[k]);
  }
  for (const auto& f : nodes_[i].flags) a.push_back(f);
  return a;
}

void TestCluster::Start(int i, const std::vector<std::string>& extra) {
  std::vector<std::string> args = Args(i);
  for (const auto& f : extra) args.push_back(f);
  const std::string log = log_path(i);
  const uint32_t uid = nodes_[i].uid;
  // The child's environment, built before fork: ours, with SetEnv's entries added or replacing.
  std::vector<std::string> env = nodes_[i].env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('=') + 1);
    if (std::none_of(nodes_[i].env.begin(), nodes_[i].env.end(),
                     [&](const std::string& x) { return x.starts_with(name); })) {
      env.push_back(entry);
    }
  }
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (uid != 0) {
      // Group first: once the user id changes, the process may no longer change its groups.
      if (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(126);
    }
    // A test process that dies without running destructors (an abort) takes its nodes with it:
    // leaked nodes would load the machine and dial reused ports of later tests. Set after the
    // user id changes, which clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  nodes_[i].pid = pid;
}

void TestCluster::StartAll() {
  for (int i = 0; i < size(); ++i) Start(i);
}

bool TestCluster::StartAllAndWait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  StartAll();
  for (int i = 0; i < size(); ++i) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !WaitServing(i, left)) return false;
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() > 0 && WaitLeaders(0, left);
}

int TestCluster::Reap(int i) {
  int status = 0;
  ::waitpid(nodes_[i].pid, &status, 0);
  nodes_[i].pid = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return -WTERMSIG(status);
}

bool TestCluster::ReapIfExited(int i, int* status) {
  if (nodes_[i].pid <= 0) return false;
  int raw = 0;
  if (::waitpid(nodes_[i].pid, &raw, WNOHANG) != nodes_[i].pid) return false;
  nodes_[i].pid = -1;
  if (status != nullptr) *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -WTERMSIG(raw);
  return true;
}

void TestCluster::Kill(int i) {
  if (nodes_[i].pid <= 0) return;
  ::kill(nodes_[i].pid, SIGCONT);  // a paused node dies as well
  ::kill(nodes_[i].pid, SIGKILL);
  Reap(i);
}

void TestCluster::KillAll() {
  for (const NodeProc& n : nodes_) {
    if (n.pid > 0) ::kill(n.pid, SIGKILL);
  }
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i].pid > 0) Reap(i);
  }
}

int TestCluster::Stop(int i) {
  if (nodes_[i].pid <= 0) return -1;
  ::kill(nodes_[i].pid, SIGTERM);
  return Reap(i);
}

std::vector<int> TestCluster::StopAll() {
  std::vector<int> codes(nodes_.size(), -1);
  for (const NodeProc& n : nodes_) {
    if (n.pid > 0) ::kill(n.pid, SIGTERM);
  }
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i].pid > 0) codes[i] = Reap(i);
  }
  return codes;
}

int TestCluster::IndexOfAddress(const std::string& address) const {
  for (int i = 0; i < size(); ++i) {
    if (client_address(i) == address) return i;
  }
  return -1;
}

namespace {

// Whether every thread of `pid` is in the stopped state ('T' in /proc/<pid>/task/<tid>/stat).
bool AllThreadsStopped(pid_t pid) {
  std::error_code ec;
  int threads = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
    if (paren == std::string::npos || paren + 2 >= stat.size()) continue;  // the thread just exited
    if (stat[paren + 2] != 'T' && stat[paren + 2] != 't') return false;
    ++threads;
  }
  return !ec && threads > 0;
}

}  // namespace

void TestCluster::Pause(int i) {
  ::kill(nodes_[i].pid, SIGSTOP);
  // SIGSTOP takes effect per thread as each next runs; on a busy machine a thread can still
  // answer a message right after kill() returns (a paused follower acknowledged an append once).
  // Wait until every thread is stopped, up to 1 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (!AllThreadsStopped(nodes_[i].pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}
void TestCluster::Resume(int i) { ::kill(nodes_[i].pid, SIGCONT); }

grpc::ChannelArguments TestChannelArgs() {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  args.SetMaxReceiveMessageSize(64 << 20);
  // Own subchannels: a stub made after a node restarted must not inherit another channel's
  // reconnect back-off (gRPC's 1 s, 1.6x, .. 120 s) towards the address.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

std::unique_ptr<v1::KV::Stub> TestCluster::Kv(int i) const {
  return v1::KV::NewStub(grpc::CreateCustomChannel(client_address(i), grpc::InsecureChannelCredentials(),
                                                   TestChannelArgs()));
}

std::unique_ptr<v1::Cluster::Stub> TestCluster::Admin(int i) const {
  return v1::Cluster::NewStub(grpc::CreateCustomChannel(client_address(i), grpc::InsecureChannelCredentials(),
                                                        TestChannelArgs()));
}

bool TestCluster::WaitServing(int i, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    // A new channel per attempt: a refused connection puts a channel into back-off for seconds.
    auto admin = Admin(i);
    v1::StatusResponse resp;
    if (admin->Status(Ctx(1000).get(), v1::StatusRequest(), &resp).ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool TestCluster::WaitLeaders(int via, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto admin = Admin(via);
    v1::ListShardsResponse resp;
    if (admin->ListShards(Ctx(1000).get(), v1::ListShardsRequest(), &resp).ok() && resp.shards_size() > 0) {
      bool all = true;
      for (const auto& s : resp.shards()) all = all && s.leader_node_id() != 0 && !s.leader_address().empty();
      if (all) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

std::string TestCluster::DumpLogs(size_t lines) const {
  std::ostringstream out;
  for (const auto& n : nodes_) {
    std::ifstream in(dir_ + "/" + n.name + ".log");
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    out << "---- " << n.name << ".log (last " << lines << " lines)\n";
    for (size_t k = all.size() > lines ? all.size() - lines : 0; k < all.size(); ++k) out << all[k] << "\n";
  }
  return out.str();
}

std::string TestCluster::DumpStacks(int frames) const {
  std::ostringstream out;
  for (const auto& n : nodes_) {
    if (n.pid <= 0) continue;
    const ProcessResult r = RunProcess({"/usr/bin/gdb", "-batch", "-nx", "-p", std::to_string(n.pid), "-ex",
                                        "thread apply all bt " + std::to_string(frames)},
                                       "", std::chrono::seconds(60));
    out << "---- stacks of " << n.name << " (pid " << n.pid << ")\n";
    // gdb reads clawd's symbols first: over 20 s on a loaded 2-core machine (a CI run's dump
    // was cut off there, before the raft workers' threads).
    if (r.exit_code == -1000) out << "gdb timed out after 60 s; what it printed so far:\n";
    if (r.exit_code != 0 && r.out.empty()) {
      out << "gdb failed (exit " << r.exit_code << "): " << r.err << "\n";
      continue;
    }
    // Keep the thread headers and frames; drop gdb's chatter about symbols and attaching.
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with("Thread ") || line.starts_with("#")) out << line << "\n";
    }
  }
  return out.str();
}

pid_t SpawnProcess(const std::vector<std::string>& argv, const std::string& in_path, const std::string& out_path,
                   const std::string& err_path) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (!in_path.empty()) ::dup2(::open(in_path.c_str(), O_RDONLY), 0);
    ::dup2(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
    ::dup2(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input,
                         std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/claw-e2e-proc-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string in_path = dir + "/in", out_path = dir + "/out", err_path = dir + "/err";
  std::ofstream(in_path, std::ios::binary) << input;
  const pid_t pid = SpawnProcess(argv, in_path, out_path, err_path);
  ProcessResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  bool timed_out = false;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r.exit_code = timed_out ? -1000 : WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = ReadAll(out_path);
  r.err = ReadAll(err_path);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

}  // namespace claw::e2e
