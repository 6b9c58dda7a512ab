// Workload: the clients of a fault test and the history they record.
//
// Register clients (ClawClient threads, through the real client library, each with its own
// Client over every node): on a small key set, get (LINEARIZABLE) / put / compare-and-set (a Txn
// comparing the value the client last read), values unique per write ("c3-17"). Each operation is
// recorded with its invoke and return time (steady clock, microseconds since the workload's
// start) and its outcome as lincheck reads it: ok; fail (a cas whose compare did not hold);
// error (definitely not applied: Error::definite, and every failed read); unknown (an indefinite
// error or timeout). After an unknown outcome the thread continues under a new client number, as
// Jepsen retires a process whose operation may still be in flight.
//
// Set writers: each puts unique keys of its own (over every shard) and remembers the
// acknowledged ones; the scenario reads them all back at the end (no acknowledged write lost).
//
// Pinned clients: raw gRPC stubs to one node's address (no routing, no retries, no forwarding),
// LINEARIZABLE gets and optionally puts on the register keys, recorded in the same history. They
// make stale-leader reads and minority writes observable when the node is cut off.
//
// Optional (WorkloadOptions): bank clients (transfers and snapshots inside one shard, the total
// checked on every snapshot), STALE readers pinned at each node (checked by CheckStaleReads).
// Register clients also check monotonic versions per thread. Broken invariants: Violations().
//
// Every loop stops at Stop() or after WorkloadOptions::max_duration, whichever comes first.
// Thread-safety: Start/Stop/accessors from the test thread; the workers record under a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tools/lincheck/history.h"

namespace claw::fault {

// One recorded operation: what lincheck checks plus what the scenario's checks need.
struct Record {
  lincheck::Operation op{};
  std::string error{};  // the error code name ("" when ok / fail), e.g. "DEADLINE_EXCEEDED"
  int pinned_node = -1;  // >= 0: made by a pinned client at this node index
};

struct PinnedClient {
  int node = 0;
  std::string address{};
  bool writes = false;  // also puts (half of its operations)
};

struct WorkloadOptions {
  std::vector<std::string> endpoints{};
  std::vector<std::string> keys{};        // register keys
  std::vector<std::string> set_prefixes{};  // one per shard: set writers rotate over them
  int clients = 8;
  int set_writers = 2;
  std::vector<PinnedClient> pinned{};
  uint64_t seed = 1;
  std::chrono::milliseconds op_deadline{2000};
  std::chrono::milliseconds max_duration{120000};
  // Think time between a client's operations: uniform in [0, think_max].
  std::chrono::milliseconds think_max{6};
  // Bank (issue 8): accounts are keys of ONE shard, each set to bank_initial at Start(). Bank
  // clients either move a random amount between two accounts (a Txn whose compares hold both
  // balances they read) or read every account in one read-only Txn (a consistent snapshot of the
  // shard): the total must always be accounts x bank_initial and no balance negative. Empty = none.
  std::vector<std::string> bank_accounts{};
  int bank_clients = 0;
  int64_t bank_initial = 100;
  // STALE readers: raw stubs, reader i pinned at endpoints[i % endpoints] (endpoint index = node
  // index), STALE gets of the register keys with this max_staleness_ms. Recorded in StaleReads(),
  // not in History(); CheckStaleReads() checks them.
  int stale_readers = 0;
  uint64_t stale_bound_ms = 1000;
};

// What the bank clients did.
struct BankStats {
  size_t reads = 0;      // snapshots read (each checked)
  size_t transfers = 0;  // acknowledged
  size_t conflicts = 0;  // compares that did not hold (a concurrent transfer won)
  size_t errors = 0, unknown = 0;
  std::string Summary() const;
};

// One STALE get of a pinned STALE reader (ok outcomes only).
struct StaleRead {
  std::string key{};
  std::optional<std::string> value{};  // nullopt: not found
  int64_t invoke = 0, ret = 0;        // Workload::Now() units
  int node = -1;
};

// Every STALE read must return a value the key held at some point within
// [invoke - bound, return]: the value of a write invoked before the read returned and not
// certainly overwritten before invoke - bound (an acknowledged write that began after it had
// returned, and itself returned before invoke - bound, overwrote it: values are unique). Not
// found is allowed only while no write to the key was acknowledged before invoke - bound. Unknown
// outcomes are writes that may take effect any time after their invoke; writes by pinned clients
// count too. Returns one line per violation (at most `max` lines, then a count).
std::vector<std::string> CheckStaleReads(const std::vector<Record>& history, const std::vector<StaleRead>& reads,
                                         uint64_t bound_ms, size_t max = 10);

class Workload {
 public:
  explicit Workload(WorkloadOptions options);
  ~Workload();  // stops and joins
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  void Start();
  void Stop();

  // Microseconds since construction, the clock of every record.
  int64_t Now() const;
  std::vector<Record> History() const;
  std::vector<std::string> AckedSetKeys() const;
  // Operations with outcome ok that returned before `until` (Now() units).
  size_t OkBefore(int64_t until) const;
  // Invariants the clients saw broken, one line each: a bank snapshot whose total is not the
  // initial total or with a negative balance; a register client that read a key's version or
  // mod_ts (revision) below one it had read or written before (per client thread, in its order:
  // linearizable operations, so real-time order; monotonic versions, reliability.md §10.4).
  std::vector<std::string> Violations() const;
  BankStats Bank() const;
  std::vector<StaleRead> StaleReads() const;
  // Whether the bank accounts were created at Start() (false: the bank proves nothing).
  bool BankReady() const { return bank_ready_; }

 private:
  void RegisterClient(int index);
  void SetWriter(int index);
  void Pinned(int index);
  void BankClient(int index);
  void StaleReader(int index);
  void Violation(std::string what);
  void Add(Record r);
  uint64_t NextClientId();

  const WorkloadOptions options_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> next_client_{0};
  std::vector<std::thread> threads_{};
  mutable std::mutex mu_;
  std::vector<Record> history_{};     // guarded by mu_
  std::vector<std::string> acked_{};  // guarded by mu_
  std::vector<std::string> violations_{};  // guarded by mu_
  size_t violation_count_ = 0;             // guarded by mu_
  BankStats bank_{};                       // guarded by mu_
  std::vector<StaleRead> stale_reads_{};   // guarded by mu_
  std::atomic<bool> bank_ready_{false};
};

}  // namespace claw::fault
