#include "ops.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "claw/v1/placement.grpc.pb.h"
#include "client/client.h"

namespace claw::fault {

namespace {

using Clock = std::chrono::steady_clock;
using lincheck::OpKind;
using lincheck::Outcome;

constexpr uint64_t kMetaShard = 1;
constexpr const char* kCgroupRoot = "/sys/fs/cgroup/";

std::unique_ptr<client::Client> Admin(Scenario& s) {
  client::ClientOptions o;
  for (int i = 0; i < s.cluster().size(); ++i) o.endpoints.push_back(s.cluster().client_address(i));
  o.default_deadline = std::chrono::seconds(1);
  o.seed = 11;
  o.async_threads = 1;
  auto opened = client::Client::Open(o);
  return opened ? std::move(*opened) : nullptr;
}

bool IsServedWrite(const Record& r) {
  if (r.pinned_node >= 0 || !r.op.ret) return false;
  if (r.op.kind == OpKind::kPut) return r.op.outcome == Outcome::kOk;
  if (r.op.kind == OpKind::kCas)
    return r.op.outcome == Outcome::kOk || r.op.outcome == Outcome::kFail;
  return false;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Writes `text` to a cgroup control file; "" or the reason it failed.
std::string WriteControl(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.flush();
  if (!out) return path + ": " + std::strerror(errno);
  return "";
}

// GET `path` from host:port over HTTP/1.0 (the whole answer, headers included); "" on failure.
std::string HttpGet(const std::string& host, int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{.tv_sec = 2, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return out;
}

}  // namespace

std::string NodeName(int node) { return "n" + std::to_string(node + 1); }

StopResult Terminate(Scenario& s, int node, std::chrono::milliseconds bound) {
  StopResult r;
  const auto start = Clock::now();
  s.Note("SIGTERM " + NodeName(node));
  REQUIRE(s.cluster().Running(node));
  ::kill(s.cluster().pid(node), SIGTERM);
  for (;;) {
    int status = 0;
    if (s.cluster().ReapIfExited(node, &status)) {
      r.status = status;
      break;
    }
    if (Clock::now() - start >= bound) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  r.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (!r.status) {
    s.cluster().Kill(node);
    s.Note(NodeName(node) + " still ran " + std::to_string(bound.count()) +
           " ms after SIGTERM: kill -9");
  } else {
    s.Note(NodeName(node) + " exited with status " + std::to_string(*r.status) + " " +
           std::to_string(static_cast<int64_t>(r.ms)) + " ms after SIGTERM");
  }
  return r;
}

std::map<uint64_t, uint64_t> ShardTerms(Scenario& s) {
  std::map<uint64_t, uint64_t> out;
  auto admin = Admin(s);
  if (admin == nullptr) return out;
  for (int i = 0; i < s.cluster().size(); ++i) {
    if (!s.cluster().Running(i)) continue;
    auto status = admin->Status(s.cluster().client_address(i));
    if (!status) continue;
    for (const client::ReplicaStatusInfo& r : status->replicas) {
      out[r.shard.id] = std::max(out[r.shard.id], r.term);
    }
  }
  return out;
}

std::map<uint64_t, double> WriteGaps(Scenario& s, int64_t from_us, int64_t to_us) {
  std::map<uint64_t, std::vector<int64_t>> served;  // shard -> returns of served writes in range
  std::map<uint64_t, double> out;
  for (const auto& [shard, leader] : s.Leaders()) served[shard];
  for (const Record& r : s.workload().History()) {
    if (!IsServedWrite(r) || *r.op.ret < from_us || r.op.invoke > to_us) continue;
    served[s.ShardIdOf(r.op.key)].push_back(*r.op.ret);
  }
  for (auto& [shard, rets] : served) {
    std::sort(rets.begin(), rets.end());
    int64_t prev = from_us, gap = 0;
    for (int64_t t : rets) {
      gap = std::max(gap, t - prev);
      prev = std::max(prev, t);
    }
    gap = std::max(gap, to_us - prev);
    out[shard] = static_cast<double>(gap) / 1000.0;
  }
  return out;
}

std::string OutcomeCounts::Summary() const {
  std::ostringstream o;
  o << ops << " ops: " << ok << " ok, " << cas_failed << " cas fail, " << errors << " error, "
    << unknown << " unknown (" << unknown_writes << " of them writes)";
  if (!by_error.empty()) {
    o << "; errors:";
    for (const auto& [code, n] : by_error) o << " " << code << "=" << n;
  }
  return o.str();
}

OutcomeCounts CountOutcomes(Scenario& s, int64_t from_us, int64_t to_us) {
  OutcomeCounts c;
  for (const Record& r : s.workload().History()) {
    if (r.op.invoke < from_us || r.op.invoke > to_us) continue;
    ++c.ops;
    switch (r.op.outcome) {
      case Outcome::kOk:
        ++c.ok;
        break;
      case Outcome::kFail:
        ++c.cas_failed;
        break;
      case Outcome::kError:
        ++c.errors;
        ++c.by_error[r.error];
        break;
      case Outcome::kUnknown:
        ++c.unknown;
        ++c.by_error[r.error];
        if (r.op.kind != OpKind::kGet) ++c.unknown_writes;
        break;
    }
  }
  return c;
}

std::optional<std::map<uint64_t, std::vector<int>>> DirectoryVoters(Scenario& s) {
  auto admin = Admin(s);
  if (admin == nullptr) return std::nullopt;
  for (int i = 0; i < s.cluster().size(); ++i) {
    if (!s.cluster().Running(i)) continue;
    auto status = admin->Status(s.cluster().client_address(i));
    if (!status) continue;
    const bool leads_meta =
        std::any_of(status->replicas.begin(), status->replicas.end(),
                    [](const auto& r) { return r.shard.id == kMetaShard && r.is_leader; });
    if (!leads_meta) continue;
    auto stub = v1::Placement::NewStub(grpc::CreateCustomChannel(
        s.cluster().client_address(i), grpc::InsecureChannelCredentials(), e2e::TestChannelArgs()));
    v1::GetDirectoryResponse resp;
    if (!stub->GetDirectory(e2e::Ctx(1000).get(), v1::GetDirectoryRequest(), &resp).ok())
      return std::nullopt;
    std::map<uint64_t, std::vector<int>> out;
    for (const v1::ShardDescriptor& d : resp.shards()) {
      auto& voters = out[d.id()];
      for (const v1::Replica& r : d.replicas()) {
        if (r.role() == v1::Replica::VOTER) voters.push_back(static_cast<int>(r.node_id()) - 1);
      }
      std::sort(voters.begin(), voters.end());
    }
    return out;
  }
  return std::nullopt;
}

std::optional<double> MetricValue(Scenario& s, int node, const std::string& name) {
  if (!s.cluster().Running(node)) return std::nullopt;
  const std::string text = HttpGet(s.cluster().host(node), s.cluster().http_port(node), "/metrics");
  std::istringstream in(text);
  std::optional<double> sum;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(name) || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    sum = sum.value_or(0) + std::strtod(line.c_str() + space + 1, nullptr);
  }
  return sum;
}

uint64_t LogSize(Scenario& s, int node) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(s.cluster().log_path(node), ec);
  return ec ? 0 : size;
}

size_t LogCount(Scenario& s, int node, const std::string& what, uint64_t from) {
  std::ifstream in(s.cluster().log_path(node));
  in.seekg(static_cast<std::streamoff>(from));
  size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.find(what) != std::string::npos;
  return n;
}

Filler::Filler(Scenario& s, std::vector<std::string> prefixes, size_t value_bytes)
    : prefixes_(std::move(prefixes)), value_bytes_(value_bytes) {
  std::vector<std::string> endpoints;
  for (int i = 0; i < s.cluster().size(); ++i) endpoints.push_back(s.cluster().client_address(i));
  for (size_t i = 0; i < prefixes_.size(); ++i)
    threads_.emplace_back([this, i, endpoints] { Run(i, endpoints); });
  s.Note("filler: " + std::to_string(prefixes_.size()) + " writers of " +
         std::to_string(value_bytes) + "-byte values");
}

Filler::~Filler() { Stop(); }

void Filler::Stop() {
  stop_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::string Filler::Value(const std::string& key) const {
  std::string v = key + "/";
  while (v.size() < value_bytes_) v += v;
  v.resize(std::max(value_bytes_, key.size()));
  return v;
}

std::map<std::string, std::string> Filler::LastAcked() const {
  std::lock_guard lock(mu_);
  return last_;
}

void Filler::Run(size_t index, std::vector<std::string> endpoints) {
  client::ClientOptions o;
  o.endpoints = std::move(endpoints);
  o.default_deadline = std::chrono::seconds(2);
  o.seed = 5000 + index;
  o.async_threads = 1;
  auto opened = client::Client::Open(o);
  if (!opened) return;
  auto client = std::move(*opened);
  const std::string& prefix = prefixes_[index];
  for (uint64_t n = 0; !stop_; ++n) {
    const std::string key = prefix + "fill/" + std::to_string(index) + "-" + std::to_string(n);
    if (client->Put(key, Value(key))) {
      acked_.fetch_add(1);
      std::lock_guard lock(mu_);
      last_[prefix] = key;
    }
  }
}

CgroupThrottle::~CgroupThrottle() { (void)Release(); }

void CgroupThrottle::Apply(pid_t pid, const std::string& node_name,
                           const std::vector<std::pair<std::string, std::string>>& limits) {
  REQUIRE(dir_.empty());
  const std::string root = std::string(kCgroupRoot) + controller_;
  INFO("the cgroup v1 " << controller_ << " controller must be mounted at " << root
                        << " (and we must be root)");
  REQUIRE(std::filesystem::exists(root + "/cgroup.procs"));
  dir_ = root + "/claw-fault-" + std::to_string(::getpid()) + "-" + node_name;
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) {
    const std::string why = std::strerror(errno);
    dir_.clear();
    FAIL("cannot create a cgroup under " << root << ": " << why);
  }
  std::string err;
  for (const auto& [file, value] : limits) {
    if (err.empty()) err = WriteControl(dir_ + "/" + file, value);
  }
  if (err.empty()) err = WriteControl(dir_ + "/cgroup.procs", std::to_string(pid));
  INFO(err);
  REQUIRE(err.empty());
  pid_ = pid;
}

std::string CgroupThrottle::Release(const std::string& stat_file) {
  if (dir_.empty()) return "";
  // A process that exited has left the group already; moving it fails harmlessly.
  if (pid_ > 0)
    (void)WriteControl(std::string(kCgroupRoot) + controller_ + "/cgroup.procs",
                       std::to_string(pid_));
  std::string stat = stat_file.empty() ? std::string() : ReadFile(dir_ + "/" + stat_file);
  std::replace(stat.begin(), stat.end(), '\n', ' ');
  for (int attempt = 0; attempt < 50 && ::rmdir(dir_.c_str()) != 0 && errno == EBUSY; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  dir_.clear();
  pid_ = -1;
  return stat;
}

std::vector<std::pair<std::string, std::string>> CpuQuota(int percent) {
  constexpr int kPeriodUs = 100000;
  return {{"cpu.cfs_period_us", std::to_string(kPeriodUs)},
          {"cpu.cfs_quota_us", std::to_string(kPeriodUs * percent / 100)}};
}

std::string BlockDeviceOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  std::string dev = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  const std::string sys = "/sys/dev/block/" + dev;
  if (!std::filesystem::exists(sys)) return "";
  // blk-throttle limits whole disks: a partition's parent directory is its disk.
  if (std::filesystem::exists(sys + "/partition")) {
    std::string parent = ReadFile(sys + "/../dev");
    while (!parent.empty() && (parent.back() == '\n' || parent.back() == ' ')) parent.pop_back();
    dev = parent;
  }
  return dev;
}

std::vector<std::pair<std::string, std::string>> WriteBps(const std::string& device,
                                                          uint64_t bytes_per_second) {
  return {{"blkio.throttle.write_bps_device", device + " " + std::to_string(bytes_per_second)}};
}

}  // namespace claw::fault
