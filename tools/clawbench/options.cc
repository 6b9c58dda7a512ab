#include "tools/clawbench/options.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <set>

namespace claw::clawbench {

namespace {

using Error = std::string;
using Setter = std::function<std::optional<Error>(Options&, std::string_view)>;

struct FlagSpec {
  bool takes_value = true;
  // Workloads that accept the flag; empty = every workload (a global flag).
  std::set<Workload> only;
  Setter set;
};

std::optional<uint64_t> ParseUint(std::string_view v) {
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty()) return std::nullopt;
  return out;
}

std::optional<double> ParseDouble(std::string_view v) {
  if (v.empty()) return std::nullopt;
  std::string s(v);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}

// An integer flag within [lo, hi].
Setter Uint(const std::string& name, uint64_t lo, uint64_t hi, std::function<void(Options&, uint64_t)> store) {
  return [=](Options& o, std::string_view v) -> std::optional<Error> {
    auto n = ParseUint(v);
    if (!n || *n < lo || *n > hi) {
      return name + " needs an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", not '" +
             std::string(v) + "'";
    }
    store(o, *n);
    return std::nullopt;
  };
}

Setter Duration(const std::string& name, bool allow_zero, std::chrono::milliseconds Options::*field) {
  return [=](Options& o, std::string_view v) -> std::optional<Error> {
    auto d = ParseDuration(v);
    if (!d || (!allow_zero && d->count() == 0)) {
      return name + " needs a duration such as 10s, 500ms or 2m" + (allow_zero ? "" : " (above 0)") + ", not '" +
             std::string(v) + "'";
    }
    o.*field = *d;
    return std::nullopt;
  };
}

const std::set<Workload> kReads = {Workload::kGet, Workload::kMixed, Workload::kScan};
const std::set<Workload> kWrites = {Workload::kPut, Workload::kMixed, Workload::kBatch, Workload::kCheckpoint};

const std::map<std::string, FlagSpec>& Flags() {
  static const auto* flags = new std::map<std::string, FlagSpec>{
      {"--target",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v == "clawd") {
            o.target = TargetKind::kClawd;
          } else if (v == "etcd") {
            o.target = TargetKind::kEtcd;
          } else {
            return "--target must be clawd or etcd, not '" + std::string(v) + "'";
          }
          return std::nullopt;
        }}},
      {"--endpoints",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          o.endpoints.clear();
          size_t p = 0;
          while (p <= v.size()) {
            size_t q = v.find(',', p);
            if (q == std::string_view::npos) q = v.size();
            std::string_view e = v.substr(p, q - p);
            if (e.starts_with("http://")) e.remove_prefix(7);
            if (e.empty() || e.find(':') == std::string_view::npos) {
              return "--endpoints needs HOST:PORT[,HOST:PORT...], not '" + std::string(v) + "'";
            }
            o.endpoints.emplace_back(e);
            p = q + 1;
          }
          return std::nullopt;
        }}},
      {"--conns", {true, {}, Uint("--conns", 1, 1024, [](Options& o, uint64_t n) { o.conns = static_cast<int>(n); })}},
      {"--clients",
       {true, {}, Uint("--clients", 1, 65536, [](Options& o, uint64_t n) { o.clients = static_cast<int>(n); })}},
      {"--total", {true, {}, Uint("--total", 0, UINT64_MAX / 2, [](Options& o, uint64_t n) { o.total = n; })}},
      {"--duration", {true, {}, Duration("--duration", true, &Options::duration)}},
      {"--rate",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          auto d = ParseDouble(v);
          if (!d || *d < 0 || *d > 1e9) return "--rate needs requests per second (0 = no limit), not '" + std::string(v) + "'";
          o.rate = *d;
          return std::nullopt;
        }}},
      {"--timeout", {true, {}, Duration("--timeout", false, &Options::timeout)}},
      {"--dial-timeout", {true, {}, Duration("--dial-timeout", false, &Options::dial_timeout)}},
      {"--multiplex",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v != "on" && v != "off") return "--multiplex must be on or off, not '" + std::string(v) + "'";
          o.multiplex = v == "on";
          return std::nullopt;
        }}},
      {"--client-calls",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v != "async" && v != "blocking") {
            return "--client-calls must be async or blocking, not '" + std::string(v) + "'";
          }
          o.async_calls = v == "async";
          return std::nullopt;
        }}},
      {"-w",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v == "text" || v == "table") {
            o.format = OutputFormat::kText;
          } else if (v == "json") {
            o.format = OutputFormat::kJson;
          } else {
            return "-w must be text or json, not '" + std::string(v) + "'";
          }
          return std::nullopt;
        }}},
      {"--durability",
       {true, kWrites, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v == "quorum") {
            o.durability = WriteDurability::kQuorum;
          } else if (v == "leader") {
            o.durability = WriteDurability::kLeader;
          } else {
            return "--durability must be quorum or leader, not '" + std::string(v) + "'";
          }
          return std::nullopt;
        }}},
      {"--seed", {true, {}, Uint("--seed", 0, UINT64_MAX, [](Options& o, uint64_t n) { o.seed = n; })}},
      {"--key-size",
       {true, {}, Uint("--key-size", 1, 1 << 20, [](Options& o, uint64_t n) { o.key_size = static_cast<size_t>(n); })}},
      {"--val-size",
       {true, kWrites, Uint("--val-size", 0, 64 << 20, [](Options& o, uint64_t n) { o.val_size = static_cast<size_t>(n); })}},
      {"--key-space-size",
       {true, {}, Uint("--key-space-size", 1, UINT64_MAX / 2, [](Options& o, uint64_t n) { o.key_space_size = n; })}},
      {"--sequential-keys", {false, {}, [](Options& o, std::string_view) -> std::optional<Error> {
          o.sequential_keys = true;
          return std::nullopt;
        }}},
      {"--key-dist",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v == "uniform") {
            o.key_dist = KeyDistribution::kUniform;
          } else if (v == "zipfian" || v == "zipf") {
            o.key_dist = KeyDistribution::kZipfian;
          } else {
            return "--key-dist must be uniform or zipfian, not '" + std::string(v) + "'";
          }
          return std::nullopt;
        }}},
      {"--zipf-theta",
       {true, {}, [](Options& o, std::string_view v) -> std::optional<Error> {
          auto d = ParseDouble(v);
          if (!d || *d <= 0 || *d >= 1) return "--zipf-theta needs a number between 0 and 1 (exclusive), not '" + std::string(v) + "'";
          o.zipf_theta = *d;
          return std::nullopt;
        }}},
      {"--consistency",
       {true, kReads, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v == "l" || v == "linearizable") {
            o.consistency = ReadConsistency::kLinearizable;
          } else if (v == "s" || v == "serializable" || v == "stale") {
            o.consistency = ReadConsistency::kSerializable;
          } else {
            return "--consistency must be l (linearizable) or s (serializable), not '" + std::string(v) + "'";
          }
          return std::nullopt;
        }}},
      {"--read-ratio",
       {true, {Workload::kMixed}, [](Options& o, std::string_view v) -> std::optional<Error> {
          auto d = ParseDouble(v);
          if (!d || *d < 0 || *d > 1) return "--read-ratio needs a fraction in 0..1, not '" + std::string(v) + "'";
          o.read_ratio = *d;
          return std::nullopt;
        }}},
      {"--limit", {true, {Workload::kScan}, Uint("--limit", 1, 1'000'000, [](Options& o, uint64_t n) { o.scan_limit = n; })}},
      {"--ops-per-request",
       {true, {Workload::kBatch}, Uint("--ops-per-request", 1, 10'000, [](Options& o, uint64_t n) { o.ops_per_request = n; })}},
      {"--sections", {true, {Workload::kCheckpoint}, Uint("--sections", 1, 1000, [](Options& o, uint64_t n) { o.sections = n; })}},
      {"--replication",
       {true, {Workload::kCheckpoint}, [](Options& o, std::string_view v) -> std::optional<Error> {
          if (v == "sync" || v == "synchronous") {
            o.sync_replication = true;
          } else if (v == "async" || v == "asynchronous") {
            o.sync_replication = false;
          } else {
            return "--replication must be sync or async, not '" + std::string(v) + "'";
          }
          return std::nullopt;
        }}},
  };
  return *flags;
}

std::optional<Workload> WorkloadOf(std::string_view word) {
  if (word == "put") return Workload::kPut;
  if (word == "get" || word == "range") return Workload::kGet;
  if (word == "mixed") return Workload::kMixed;
  if (word == "scan") return Workload::kScan;
  if (word == "batch") return Workload::kBatch;
  if (word == "checkpoint") return Workload::kCheckpoint;
  return std::nullopt;
}

std::string WorkloadsOf(const std::set<Workload>& ws) {
  std::string out;
  for (Workload w : ws) {
    if (!out.empty()) out += ", ";
    out += WorkloadName(w);
  }
  return out;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  double scale = 1000;  // bare numbers are seconds
  std::string_view number = text;
  if (text.ends_with("ms")) {
    scale = 1;
    number.remove_suffix(2);
  } else if (text.ends_with("s")) {
    number.remove_suffix(1);
  } else if (text.ends_with("m")) {
    scale = 60'000;
    number.remove_suffix(1);
  } else if (text.ends_with("h")) {
    scale = 3'600'000;
    number.remove_suffix(1);
  }
  auto d = ParseDouble(number);
  if (!d || *d < 0 || *d * scale > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(*d * scale)));
}

std::string_view WorkloadName(Workload w) {
  switch (w) {
    case Workload::kPut: return "put";
    case Workload::kGet: return "get";
    case Workload::kMixed: return "mixed";
    case Workload::kScan: return "scan";
    case Workload::kBatch: return "batch";
    case Workload::kCheckpoint: return "checkpoint";
  }
  return "?";
}

std::string_view TargetName(TargetKind t) { return t == TargetKind::kClawd ? "clawd" : "etcd"; }

std::expected<Options, std::string> ParseOptions(const std::vector<std::string>& args) {
  Options o;
  std::optional<Workload> workload;
  // Flags are applied after the workload is known (they may come before it).
  std::vector<std::pair<std::string, std::string>> given;
  bool only_words = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!only_words && a == "--") {
      only_words = true;
      continue;
    }
    if (!only_words && (a == "-h" || a == "--help" || a == "help")) {
      o.help = true;
      return o;
    }
    if (!only_words && a.size() > 1 && a[0] == '-') {
      std::string name = a, value;
      bool inline_value = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        inline_value = true;
      }
      if (name == "--write-out") name = "-w";
      auto it = Flags().find(name);
      if (it == Flags().end()) return std::unexpected("unknown flag " + name);
      if (it->second.takes_value && !inline_value) {
        if (i + 1 >= args.size()) return std::unexpected(name + " needs a value");
        value = args[++i];
      } else if (!it->second.takes_value && inline_value) {
        return std::unexpected(name + " takes no value");
      }
      given.emplace_back(name, value);
      continue;
    }
    if (workload) return std::unexpected("unexpected argument '" + a + "' (one workload per run)");
    workload = WorkloadOf(a);
    if (!workload) return std::unexpected("unknown workload '" + a + "' (put, get, range, mixed, scan, batch, checkpoint)");
    o.workload = *workload;
    o.workload_name = a;
  }
  if (!workload) return std::unexpected("no workload given (put, get, range, mixed, scan, batch, checkpoint)");
  for (const auto& [name, value] : given) {
    const FlagSpec& spec = Flags().at(name);
    if (!spec.only.empty() && !spec.only.contains(o.workload)) {
      return std::unexpected(name + " is an option of " + WorkloadsOf(spec.only) + ", not " + o.workload_name);
    }
    if (auto err = spec.set(o, value)) return std::unexpected(*err);
  }
  if (o.endpoints.empty()) {
    o.endpoints = {o.target == TargetKind::kClawd ? "127.0.0.1:7379" : "127.0.0.1:2379"};
  }
  if (o.total == 0 && o.duration.count() == 0) {
    return std::unexpected("--total 0 runs until --duration, which is not given");
  }
  if (o.conns > o.clients) return std::unexpected("--conns must not exceed --clients");
  if (!KeySpaceFits(o.key_space_size, o.key_size)) {
    return std::unexpected("--key-space-size " + std::to_string(o.key_space_size) + " does not fit into --key-size " +
                           std::to_string(o.key_size) + " bytes");
  }
  if (o.workload == Workload::kBatch && o.ops_per_request > o.key_space_size) {
    return std::unexpected("--ops-per-request must not exceed --key-space-size (keys of a request are distinct)");
  }
  if (o.target == TargetKind::kEtcd && o.workload == Workload::kCheckpoint) {
    return std::unexpected("checkpoint is a clawd workload (etcd has no named checkpoints)");
  }
  if (o.workload == Workload::kCheckpoint && o.sections * o.val_size > (64ull << 20)) {
    return std::unexpected("--sections times --val-size must stay within 64 MiB (a checkpoint's default max_size)");
  }
  if (o.target == TargetKind::kEtcd && o.durability == WriteDurability::kLeader) {
    return std::unexpected("--durability leader is clawd's; etcd always acknowledges after a quorum fsync");
  }
  return o;
}

std::string UsageText() {
  return R"(clawbench: load generator for clawd (native API) and etcd (v3 KV API)

usage: clawbench [global flags] WORKLOAD [workload flags]

workloads:
  put                  single-key puts
  get | range          single-key reads (keys of the key space; a missing key counts as a read)
  mixed                reads and puts, --read-ratio of them reads
  scan                 range reads of --limit keys from a key of the key space
  batch                --ops-per-request puts of distinct keys per request
                       (clawd: Batch, atomic per shard; etcd: one Txn of puts, no compares)
  checkpoint           clawd only: each client overwrites sections (picked like keys, modulo
                       --sections) of its own named checkpoint (claw.v1.Checkpoint), created with
                       retention 1 s before the run and closed after it

global flags:
  --target clawd|etcd          system to drive (default clawd)
  --endpoints A,B,C            default 127.0.0.1:7379 (clawd), 127.0.0.1:2379 (etcd)
  --conns N                    connections (clawd: clients of the library; etcd: gRPC channels); default 1
  --clients N                  concurrent requests in flight at most; default 1
  --total N                    requests to send (default 10000; 0 = until --duration)
  --duration D                 stop sending after D (10s, 500ms, 2m); default: none
  --rate R                     requests per second in total, on a timetable; latency counts from each
                               request's scheduled time (default 0: closed loop)
  --timeout D                  deadline of one request, retries included (default 10s)
  --dial-timeout D             wait for a connection before starting (default 5s)
  --multiplex on|off           clawd: point requests over Multiplex streams (default on) or unary RPCs
  --client-calls async|blocking
                               clawd: puts, gets and batches through the library's async calls
                               (default; no thread per request) or its blocking calls, one pool
                               thread per client
  -w, --write-out text|json    output format (default text)
  --seed N                     seed of the key choices (default 1)
  --key-size B                 key length in bytes (default 8)
  --key-space-size N           number of distinct keys (default 10000)
  --key-dist uniform|zipfian   key popularity (default uniform); --zipf-theta T (default 0.99)
  --sequential-keys            keys in order (each client from its own offset) instead of at random

workload flags:
  --val-size B                 put, mixed, batch, checkpoint: value length (default 8)
  --durability quorum|leader   put, mixed, batch: clawd's write durability (default quorum)
  --consistency l|s            get, range, mixed, scan: linearizable or serializable/stale (default l)
  --read-ratio F               mixed: fraction of reads (default 0.5)
  --limit N                    scan: keys per request (default 100)
  --ops-per-request N          batch: puts per request (default 10)
  --sections N                 checkpoint: sections per checkpoint (default 16)
  --replication sync|async     checkpoint: SYNCHRONOUS (every replica) or ASYNCHRONOUS (default async)

exit codes: 0 every request succeeded; 1 some failed (counted by code) or setup failed; 2 usage error
)";
}

}  // namespace claw::clawbench
