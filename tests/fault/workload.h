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
// Every loop stops at Stop() or after WorkloadOptions::max_duration, whichever comes first.
// Thread-safety: Start/Stop/accessors from the test thread; the workers record under a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
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
};

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

 private:
  void RegisterClient(int index);
  void SetWriter(int index);
  void Pinned(int index);
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
};

}  // namespace claw::fault
