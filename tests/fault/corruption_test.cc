// S17 file corruption (reliability.md §10.3) and its positive control, clawd_broken_ignore_crc.
//
// While one node is down, its RocksDB files are damaged the way a crash, a disk or a careless
// operator would: (a) the newest WAL ending in a torn (unsynced) record, (b) one bit flipped in a
// Raft log record in the middle of the log, (c) one bit flipped inside a value in an SST data
// block, (d) one bit in a snapshot file when one is on disk. The node restarts; then every value
// any client reads must be one that was written (values are unique), the history linearizable,
// nothing acknowledged lost, and the node either refuses to start, naming the corruption in its
// log, or runs and never serves the damaged value. What clawd does in each case is printed.
//
// Values are found in the files by their bytes: L0 and L1 are uncompressed (storage/engine.cc),
// and the test flushes the victim's `data` memtable by writing more than its 1 MiB write buffer,
// so a cold key's value sits verbatim in an SST data block, after its type byte 0x01 (storage/
// README.md), while the same bytes inside a Raft entry (the `raft` column family, in the WAL or
// an SST) follow a protobuf length byte.
// Replay one: CLAW_FAULT_SEED=<seed> build/tests/fault_tests "<test name>" (see README.md).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "claw/v1/kv.grpc.pb.h"
#include "client/client.h"
#include "cluster.h"
#include "scenario.h"

namespace claw::fault {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int kColdKeys = 64;
constexpr size_t kColdValueBytes = 100;  // < 128: one protobuf length byte in a Raft entry

std::string ColdKey(int i) { return "\x31" "cold/" + std::to_string(1000 + i); }

// Unique per seed and key, 100 bytes, letters only (a flipped bit gives another byte, never the
// same value).
std::string ColdValue(uint64_t seed, int i) {
  std::string v = "cold-" + std::to_string(seed) + "-" + std::to_string(1000 + i) + "-";
  for (size_t j = 0; v.size() < kColdValueBytes; ++j) v.push_back(static_cast<char>('a' + (j * 7 + i) % 26));
  return v;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Offsets of `needle` in `hay`.
std::vector<size_t> FindAll(const std::string& hay, const std::string& needle) {
  std::vector<size_t> at;
  for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1)) at.push_back(pos);
  return at;
}

std::vector<std::string> FilesEndingWith(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    const std::string p = e.path().string();
    if (e.is_regular_file() && p.ends_with(suffix)) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Flips bit `bit` of the byte at `offset` in place.
void FlipBit(const std::string& path, size_t offset, int bit) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  char c = 0;
  REQUIRE(::pread(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  c = static_cast<char>(c ^ (1 << bit));
  REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  REQUIRE(::fsync(fd) == 0);
  ::close(fd);
}

std::string Base(const std::string& path) { return fs::path(path).filename().string(); }

// Leaves `wal` the way a crash in the middle of writing its next record would: the header of a
// full record (RocksDB's log format: CRC 4, length 2 LE, type 1, in 32 KiB blocks) and only part
// of its payload. Such a record was never synced, so never acknowledged; recovery must drop it
// and open. (Cutting bytes off the last record instead would take a synced, possibly
// acknowledged Raft append with it: lost acknowledged data, case (b)'s fail-stop, not a torn
// tail.)
void AppendTornRecord(const std::string& wal) {
  constexpr size_t kBlock = 32768, kHeader = 7;
  const size_t size = fs::file_size(wal);
  std::string tail;
  size_t room = kBlock - size % kBlock;
  if (room < kHeader) {  // the writer pads a block's last few bytes with zeros
    tail.assign(room, '\0');
    room = kBlock;
  }
  const size_t present = std::min<size_t>(48, room - kHeader);
  const size_t declared = present + 200;
  tail += std::string("\x5a\x17\xc3\x9e", 4);  // any CRC: the length check fails first
  tail.push_back(static_cast<char>(declared & 0xff));
  tail.push_back(static_cast<char>(declared >> 8));
  tail.push_back('\x01');  // kFullType
  tail += std::string(present, 'T');
  std::ofstream out(wal, std::ios::binary | std::ios::app);
  out.write(tail.data(), static_cast<std::streamsize>(tail.size()));
  out.close();
  REQUIRE(out.good());
}

// Where a cold value sits in the victim's files.
struct Placement {
  std::string path{};
  size_t offset = 0;  // of the value's first byte
};

// A data-CF value (storage/README.md, server/kv_state_machine.cc) of a key's first put: type
// byte 0x01 (put), then version 1, create_ts and mod_ts (8 bytes big-endian each), then the value.
// The 16 timestamp bytes vary: the header matched is the type byte and the version.
const std::string kFirstVersionHeader("\x01\0\0\0\0\0\0\0\x01", 9);
constexpr size_t kTimestampBytes = 16;

// The SSTs holding cold value `value` in a data block of the `data` column family (its
// first-version header before it).
std::vector<Placement> InDataSst(const std::string& dir, const std::string& value) {
  std::vector<Placement> out;
  for (const std::string& sst : FilesEndingWith(dir, ".sst")) {
    const std::string bytes = ReadFile(sst);
    const size_t before = kFirstVersionHeader.size() + kTimestampBytes;
    for (size_t at : FindAll(bytes, value)) {
      if (at >= before && bytes.compare(at - before, kFirstVersionHeader.size(), kFirstVersionHeader) == 0) {
        out.push_back({sst, at});
      }
    }
  }
  return out;
}

// The files (WAL or SST) holding `value` inside a Raft entry: after its protobuf length byte.
std::vector<Placement> InRaftEntry(const std::string& dir, const std::string& value) {
  std::vector<Placement> out;
  std::vector<std::string> files = FilesEndingWith(dir, ".sst");
  for (const std::string& wal : FilesEndingWith(dir, ".log")) files.push_back(wal);
  const std::string framed = std::string(1, static_cast<char>(value.size())) + value;
  for (const std::string& f : files) {
    const std::string bytes = ReadFile(f);
    for (size_t at : FindAll(bytes, framed)) out.push_back({f, at + 1});
  }
  return out;
}

// A raw stub to one node: no routing, no retries, STALE or LINEARIZABLE gets.
struct NodeReader {
  std::unique_ptr<v1::KV::Stub> stub;
  explicit NodeReader(const std::string& address) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stub = v1::KV::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  // status code name ("OK", ...), the value when found.
  std::pair<grpc::Status, std::optional<std::string>> Get(const std::string& key, bool stale) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 2s);
    v1::GetRequest req;
    req.set_key(key);
    req.mutable_header()->set_consistency(stale ? v1::STALE : v1::LINEARIZABLE);
    v1::GetResponse resp;
    grpc::Status st = stub->Get(&ctx, req, &resp);
    std::optional<std::string> v;
    if (st.ok() && resp.found()) v = resp.kv().value();
    return {st, v};
  }
};

std::string CodeName(grpc::StatusCode c) {
  switch (c) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    default: return "code " + std::to_string(static_cast<int>(c));
  }
}

// Lines of node `i`'s log that mention corruption, from byte `from` on.
std::vector<std::string> CorruptionLines(const e2e::TestCluster& c, int i, uint64_t from) {
  std::ifstream in(c.log_path(i));
  in.seekg(static_cast<std::streamoff>(from));
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (lower.find("corrupt") != std::string::npos || lower.find("checksum") != std::string::npos) out.push_back(line);
  }
  return out;
}

uint64_t LogSize(const e2e::TestCluster& c, int i) {
  std::error_code ec;
  const auto size = fs::file_size(c.log_path(i), ec);
  return ec ? 0 : size;
}

// (a)+(c) together; (b) in the Raft entries of the flushed cold keys (the WAL and SSTs holding
// them); (b) in the newest WAL only: a record of keys written after the last flush.
enum class Damage : uint8_t { kTornTailAndSstValue, kRaftRecord, kNewestWalRecord };

std::string WarmKey(int i) { return "\x31" "warm/" + std::to_string(1000 + i); }
std::string WarmValue(uint64_t seed, int i) {
  std::string v = ColdValue(seed, i);
  return v.replace(0, 4, "warm");
}

struct CorruptionOutcome {
  bool started = false;          // the damaged node came back and served
  bool stopped = false;          // it exited on its own after the restart
  double stopped_after_ms = 0;   // ... this long after it
  size_t corrupt_reads = 0;      // reads that returned a value nobody wrote
  std::string example{};         // one of them
  std::string read_error{};      // the first read error other than UNAVAILABLE
};

// One S17 run. `control`: the ignore-crc build; the run must then catch a corrupted value.
CorruptionOutcome CorruptionRun(uint64_t seed, Damage damage, const std::string& binary, bool control) {
  const std::string name = std::string(damage == Damage::kRaftRecord        ? "S17b-raft-record"
                                          : damage == Damage::kNewestWalRecord ? "S17b-newest-wal-record"
                                                                               : "S17ac-tail-and-sst") +
                           (control ? "-broken-ignore-crc" : "");
  const int victim = static_cast<int>(seed % 3);
  // The control's victim keeps and serves the damaged value, so the end-of-run consistency check
  // must also find its replica of the damaged shard in the minority: a second detection.
  Scenario s({.name = name,
              .seed = seed,
              .binary = binary,
              .expect_diverged_node = control ? victim : -1,
              .hash_may_fail_node = control ? -1 : victim});
  // A 1 MiB write buffer on the victim: the cold keys reach an SST with a few MiB of filler.
  // Compression off on the victim (storage.compression, a documented setting): values stay
  // verbatim in every SST, also after compaction into the bottommost level.
  s.cluster().SetFlags(victim, {"--storage-write-buffer-bytes", "1MiB", "--storage-compression=false"});
  REQUIRE(s.StartCluster());
  s.StartWorkload();
  s.Warmup(2s);

  client::ClientOptions co;
  for (int i = 0; i < s.cluster().size(); ++i) co.endpoints.push_back(s.cluster().client_address(i));
  co.default_deadline = 5s;
  co.seed = seed;
  auto opened = client::Client::Open(co);
  REQUIRE(opened);
  client::Client& writer = **opened;
  std::map<std::string, std::string> cold;
  for (int i = 0; i < kColdKeys; ++i) {
    auto put = writer.Put(ColdKey(i), ColdValue(seed, i));
    REQUIRE(put);
    cold[ColdKey(i)] = ColdValue(seed, i);
  }
  // Filler in another shard (keys 0x72...: the memtable is shared by every shard, while the cold
  // keys' shard keeps a short log and catches the victim up by appends, not a snapshot), up to
  // 3 MiB: the victim's data memtable flushes.
  const std::string dir = s.cluster().data_dir(victim);
  const std::string probe = ColdValue(seed, kColdKeys / 2);
  for (int i = 0; i < 48 && InDataSst(dir, probe).empty(); ++i) {
    std::string fill(64 << 10, static_cast<char>('A' + i % 26));
    fill.replace(0, 16, "fill-" + std::to_string(seed) + "-" + std::to_string(i) + "-");
    auto put = writer.Put("\x72" "fill/" + std::to_string(i), fill);
    REQUIRE(put);
    if (i >= 16) std::this_thread::sleep_for(100ms);  // let the flush finish
  }
  s.Check(!InDataSst(dir, probe).empty(), "the cold keys never reached an SST of n" + std::to_string(victim + 1));
  std::map<std::string, std::string> warm;  // written after the flush: only in the newest WAL
  if (damage == Damage::kNewestWalRecord) {
    for (int i = 0; i < kColdKeys; ++i) {
      auto put = writer.Put(WarmKey(i), WarmValue(seed, i));
      REQUIRE(put);
      warm[WarmKey(i)] = WarmValue(seed, i);
    }
  }
  s.Kill(victim);

  std::set<std::string> damaged_keys;
  if (damage == Damage::kTornTailAndSstValue) {
    // (c) one bit inside a cold value in an SST data block: the first cold key found in one.
    for (int i = 0; i < kColdKeys && damaged_keys.empty(); ++i) {
      for (const Placement& p : InDataSst(dir, ColdValue(seed, i))) {
        FlipBit(p.path, p.offset + 40, 2);
        damaged_keys.insert(ColdKey(i));
        s.Note("flipped bit 2 of byte " + std::to_string(p.offset + 40) + " of " + Base(p.path) + " (in the value of " +
               ColdKey(i).substr(1) + ")");
        std::cout << "  flipped a bit in " << Base(p.path) << " (the value of " << ColdKey(i).substr(1) << ")\n";
      }
    }
    if (damaged_keys.empty()) {
      for (const std::string& sst : FilesEndingWith(dir, ".sst")) {
        const std::string bytes = ReadFile(sst);
        for (size_t at : FindAll(bytes, ColdValue(seed, 0))) {
          std::string hex;
          for (size_t k = at >= 32 ? at - 32 : 0; k < at; ++k) {
            static const char* digits = "0123456789abcdef";
            hex += digits[static_cast<unsigned char>(bytes[k]) >> 4];
            hex += digits[static_cast<unsigned char>(bytes[k]) & 15];
          }
          std::cout << "  cold value 0 in " << Base(sst) << " at " << at << " after " << hex << "\n";
        }
      }
    }
    s.Check(!damaged_keys.empty(), "no cold value found in an SST data block to damage");
    // (a) the newest WAL ends mid-record: a write torn by the crash.
    const std::vector<std::string> wals = FilesEndingWith(dir, ".log");
    std::string newest;
    for (const std::string& w : wals) {
      if (Base(w) != "LOG" && (newest.empty() || Base(w) > Base(newest))) newest = w;
    }
    s.Check(!newest.empty(), "n" + std::to_string(victim + 1) + " has no WAL");
    if (!newest.empty()) {
      const auto size = fs::file_size(newest);
      AppendTornRecord(newest);
      s.Note("tore a record at the tail of " + Base(newest) + ": " + std::to_string(size) + " -> " +
             std::to_string(fs::file_size(newest)) + " bytes");
    }
  } else if (damage == Damage::kNewestWalRecord) {
    // (b) one bit in the middle of the newest WAL: in the Raft entry of a warm key (its first
    // copy there; the apply of the same put follows it).
    std::vector<Placement> at = InRaftEntry(dir, WarmValue(seed, kColdKeys / 2));
    std::erase_if(at, [](const Placement& p) { return !p.path.ends_with(".log"); });
    s.Check(!at.empty(), "the Raft entry of a warm key is in no WAL of n" + std::to_string(victim + 1));
    if (!at.empty()) {
      FlipBit(at[0].path, at[0].offset + 40, 2);
      s.Note("flipped bit 2 of byte " + std::to_string(at[0].offset + 40) + " of " + Base(at[0].path) + " (" +
             std::to_string(fs::file_size(at[0].path)) + " bytes; in the Raft entry of a warm key)");
      std::cout << "  flipped a bit at " << at[0].offset + 40 << " of " << Base(at[0].path) << " ("
                << fs::file_size(at[0].path) << " bytes; the Raft entry of a warm key)\n";
    }
  } else {
    // (b) one bit in a Raft entry in the middle of the log: a cold value inside its entry.
    const std::vector<Placement> at = InRaftEntry(dir, ColdValue(seed, kColdKeys / 2));
    s.Check(!at.empty(), "the Raft entry of a cold key is in none of n" + std::to_string(victim + 1) + "'s files");
    for (const Placement& p : at) {
      FlipBit(p.path, p.offset + 40, 2);
      s.Note("flipped bit 2 of byte " + std::to_string(p.offset + 40) + " of " + Base(p.path) +
             " (in the Raft entry of a cold key)");
      std::cout << "  flipped a bit in " << Base(p.path) << " (the Raft entry of a cold key)\n";
    }
  }
  // (d) a snapshot file, if the victim has one on disk.
  for (const std::string& f : FilesEndingWith(dir, "MANIFEST")) {
    if (Base(f) != "MANIFEST") continue;
    FlipBit(f, fs::file_size(f) / 2, 0);
    s.Note("flipped a bit in the snapshot manifest " + f.substr(dir.size()));
  }

  const uint64_t log_from = LogSize(s.cluster(), victim);
  s.Restart(victim);
  s.MayFailStopOnDamage(victim);
  const auto restarted = std::chrono::steady_clock::now();
  CorruptionOutcome out;
  const std::string who = "n" + std::to_string(victim + 1);
  auto exited = [&] {
    int status = 0;
    if (out.stopped || !s.cluster().ReapIfExited(victim, &status)) return out.stopped;
    out.stopped = true;
    out.stopped_after_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - restarted).count();
    s.Note(who + " exited on its own after the restart (status " + std::to_string(status) + ")");
    return true;
  };
  while (std::chrono::steady_clock::now() < restarted + 8s && !out.started && !exited()) {
    out.started = s.cluster().WaitServing(victim, 500ms);
  }
  // Every cold key read at the victim, STALE (served from its own state) and LINEARIZABLE (the
  // leader's answer, NOT_LEADER elsewhere), for 3 s or until it stops.
  std::map<std::string, size_t> codes;
  for (const auto& [key, value] : warm) cold[key] = value;
  if (out.started) {
    NodeReader at_victim(s.cluster().client_address(victim));
    const auto stop = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < stop && !exited()) {
      for (const auto& [key, value] : cold) {
        for (bool stale : {true, false}) {
          auto [st, got] = at_victim.Get(key, stale);
          ++codes[std::string(stale ? "stale " : "linearizable ") + CodeName(st.error_code()) +
                  (st.ok() && !got ? " (not found)" : "")];
          if (st.ok() && got != value) {
            ++out.corrupt_reads;
            out.example = key.substr(1) + " read " + (got ? *got : std::string("nothing")) + " at " + who +
                          ", written " + value;
          }
          if (!st.ok() && st.error_code() != grpc::StatusCode::UNAVAILABLE && out.read_error.empty()) {
            out.read_error = CodeName(st.error_code()) + " " + st.error_message();
            s.Note("read of " + key.substr(1) + " at " + who + ": " + out.read_error);
          }
        }
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  const std::vector<std::string> said = CorruptionLines(s.cluster(), victim, log_from);
  std::cout << "  " << name << ": " << who << (out.started ? " started" : " did not start")
            << (out.stopped ? ", stopped on its own " + std::to_string(static_cast<int>(out.stopped_after_ms)) +
                                  " ms after the restart"
                            : ", still running")
            << "; " << said.size() << " log lines about corruption\n";
  for (size_t i = 0; i < said.size() && i < 3; ++i) std::cout << "    " << said[i] << "\n";
  {
    // What RocksDB's own info LOG (in the data directory, a new one per open) says about it.
    std::ifstream info(dir + "/LOG");
    size_t shown = 0;
    for (std::string line; std::getline(info, line) && shown < 4;) {
      if (line.find("Corruption") != std::string::npos || line.find("dropping") != std::string::npos ||
          line.find("Point in time") != std::string::npos) {
        std::cout << "    RocksDB LOG: " << line.substr(0, 240) << "\n";
        ++shown;
      }
    }
  }
  if (out.stopped) {
    // Fail-stop: acceptable when the node says why; it would stop again at every start (its
    // files stay damaged), so it stays down.
    s.AllowFailStopLog(victim);
    s.KeepDown(victim);
    s.Check(!said.empty(), who + " stopped and its log does not mention the corruption");
  }
  std::cout << "  reads of the cold keys at n" << victim + 1 << ":";
  for (const auto& [code, n] : codes) std::cout << " " << code << " x" << n;
  std::cout << "\n";
  if (out.corrupt_reads > 0) std::cout << "  " << out.corrupt_reads << " corrupted values served, e.g. " << out.example << "\n";
  if (!out.read_error.empty()) std::cout << "  first read error: " << out.read_error << "\n";
  if (control) {
    s.Check(out.corrupt_reads > 0, "positive control: no corrupted value was served");
  } else {
    s.Check(out.corrupt_reads == 0, std::to_string(out.corrupt_reads) + " reads returned a corrupted value, e.g. " +
                                        out.example);
  }
  // Through the client (leaders elsewhere): every cold key intact.
  for (const auto& [key, value] : cold) {
    auto got = writer.Get(key);
    const bool intact = got && got->has_value() && (*got)->value == value;
    if (!control) s.Check(intact, "cold key " + key.substr(1) + " lost or changed: " +
                                      (got ? (got->has_value() ? (*got)->value : "not found") : got.error().ToString()));
  }
  (void)s.Finish();
  return out;
}

}  // namespace

TEST_CASE("S17 corruption: torn WAL tail and a bit flip in an SST value on a stopped node", "[fault]") {
  (void)CorruptionRun(Seed(1), Damage::kTornTailAndSstValue, "", false);
}

TEST_CASE("S17 corruption: a bit flip in a Raft log record on a stopped node", "[fault]") {
  (void)CorruptionRun(Seed(1), Damage::kRaftRecord, "", false);
}

TEST_CASE("S17 corruption: a bit flip mid-record in the newest WAL of a stopped node", "[fault]") {
  (void)CorruptionRun(Seed(1), Damage::kNewestWalRecord, "", false);
}

// Other victims (seed % 3) and timings.
TEST_CASE("S17 corruption, more seeds", "[fault][slow]") {
  for (uint64_t seed = 2; seed <= 3; ++seed) {
    (void)CorruptionRun(Seed(seed), Damage::kTornTailAndSstValue, "", false);
    (void)CorruptionRun(Seed(seed), Damage::kRaftRecord, "", false);
    (void)CorruptionRun(Seed(seed), Damage::kNewestWalRecord, "", false);
  }
}

// Built when CMake's CLAW_BREAK list holds ignore-crc (the default).
#ifdef CLAWD_BROKEN_IGNORE_CRC_BINARY
TEST_CASE("positive control: S17 catches a clawd that reads without verifying checksums", "[fault]") {
  const CorruptionOutcome out = CorruptionRun(Seed(1), Damage::kTornTailAndSstValue, CLAWD_BROKEN_IGNORE_CRC_BINARY, true);
  INFO("the damaged value was never served: " << out.example);
  CHECK(out.corrupt_reads > 0);
}
#endif

}  // namespace claw::fault
