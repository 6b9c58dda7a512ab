// Leases between real processes (claw.v1.Lease; server/README.md "Leases"): keys attached to a
// lease in several shards vanish once its TTL passes without keep-alives (never before it), stay
// while it is kept alive, and go at once on Revoke; a meta leader change continues each lease from
// its checkpointed remaining TTL instead of restarting it; a stalled (SIGSTOPped) meta leader does
// not revoke leases that clients kept alive; bad input gets a clear error; clawctl's lease
// commands.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "client/lease.h"
#include "e2e_util.h"

namespace claw::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::vector<std::string> LeaseFlags() {
  std::vector<std::string> flags = FastFlags();
  flags.insert(flags.end(), {"--lease-checkpoint-interval-ms", "500"});
  return flags;
}

std::unique_ptr<client::LeaseClient> OpenLeases(const TestCluster& c) {
  client::ClientOptions o;
  for (int i = 0; i < c.size(); ++i) o.endpoints.push_back(c.client_address(i));
  o.default_deadline = std::chrono::seconds(10);
  auto opened = client::LeaseClient::Open(o);
  REQUIRE(opened.has_value());
  return std::move(*opened);
}

// The node index whose replica of the meta shard leads, or -1.
int MetaLeader(const TestCluster& c) {
  for (int i = 0; i < c.size(); ++i) {
    if (!c.Running(i)) continue;
    v1::StatusResponse st;
    if (!c.Admin(i)->Status(Ctx(1000).get(), v1::StatusRequest(), &st).ok()) continue;
    for (const auto& r : st.replicas()) {
      if (r.shard().id() == 1 && r.is_leader()) return i;
    }
  }
  return -1;
}

bool Exists(client::Client& kv, const std::string& key) {
  auto got = kv.Get(key);
  REQUIRE(got.has_value());
  return got->has_value();
}

// One key in each of the 4 shards (boundaries 0x40, 0x80, 0xc0).
std::vector<std::string> KeysInEveryShard(const std::string& tag) {
  return {K(0x10, tag), K(0x50, tag), K(0x90, tag), K(0xd0, tag), K(0xd0, tag + "-2")};
}

// Applied index of `shard` on node i, or 0.
uint64_t Applied(const TestCluster& c, int i, uint64_t shard) {
  v1::StatusResponse st;
  if (!c.Admin(i)->Status(Ctx().get(), v1::StatusRequest(), &st).ok()) return 0;
  for (const auto& r : st.replicas()) {
    if (r.shard().id() == shard) return r.applied_index();
  }
  return 0;
}

// Whether node i's own replica holds `key` (a STALE read served there; retried while it is
// refused, e.g. while the follower checks how current it is).
std::optional<bool> HeldAt(const TestCluster& c, int i, const std::string& key) {
  auto kv = c.Kv(i);
  v1::GetRequest get;
  get.set_key(key);
  get.mutable_header()->set_consistency(v1::STALE);
  v1::GetResponse got;
  if (!kv->Get(Ctx(2000).get(), get, &got).ok()) return std::nullopt;
  return got.found();
}

}  // namespace

TEST_CASE("lease: attached keys in every shard go after the TTL, stay while kept alive, go at once on revoke",
          "[e2e][lease]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = LeaseFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto kv = OpenClient(c, std::chrono::seconds(10));
  auto leases = OpenLeases(c);

  // Lease C, revoked by a client: every key goes before Revoke returns.
  auto revoked = leases->Grant(std::chrono::seconds(60));
  REQUIRE(revoked.has_value());
  for (const std::string& k : KeysInEveryShard("revoked")) {
    REQUIRE(kv->Put(k, "v", {.lease = revoked->id}).has_value());
  }
  REQUIRE(kv->Put(K(0x50, "unleased"), "v").has_value());
  auto listed = leases->TimeToLive(revoked->id, client::LeaseClient::Keys::kWithKeys);
  REQUIRE(listed.has_value());
  CHECK(listed->keys.size() == 5);
  CHECK(listed->state == client::LeaseInfo::State::kActive);
  auto deleted = leases->Revoke(revoked->id);
  REQUIRE(deleted.has_value());
  CHECK(*deleted == 5);
  for (const std::string& k : KeysInEveryShard("revoked")) CHECK_FALSE(Exists(*kv, k));
  CHECK(Exists(*kv, K(0x50, "unleased")));
  auto gone = leases->TimeToLive(revoked->id);
  REQUIRE_FALSE(gone.has_value());
  CHECK(gone.error().code == client::ErrorCode::kLeaseNotFound);
  // A put naming the revoked lease is refused, at the front end or by the shard.
  auto late = kv->Put(K(0x90, "late"), "v", {.lease = revoked->id});
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error().code == client::ErrorCode::kLeaseNotFound);

  // Lease A expires (no keep-alives); lease B is kept alive meanwhile.
  const milliseconds ttl(2500);
  const Clock::time_point before_grant = Clock::now();
  auto expiring = leases->Grant(ttl);
  REQUIRE(expiring.has_value());
  auto kept = leases->Grant(ttl);
  REQUIRE(kept.has_value());
  auto keeper = leases->KeepAlive(kept->id);
  for (const std::string& k : KeysInEveryShard("expiring")) {
    REQUIRE(kv->Put(k, "v", {.lease = expiring->id}).has_value());
  }
  for (const std::string& k : {K(0x10, "kept"), K(0xd0, "kept")}) {
    REQUIRE(kv->Put(k, "v", {.lease = kept->id}).has_value());
  }
  // Overwriting an attached key without a lease detaches it: it survives the expiry.
  REQUIRE(kv->Put(K(0xd0, "expiring-2"), "v2").has_value());
  Clock::time_point gone_at{};
  REQUIRE(Eventually(
      [&] {
        for (const std::string& k : {K(0x10, "expiring"), K(0x50, "expiring"), K(0x90, "expiring"), K(0xd0, "expiring")}) {
          if (Exists(*kv, k)) return false;
        }
        gone_at = Clock::now();
        return true;
      },
      std::chrono::seconds(15)));
  // Never before the TTL (counted from before the grant was asked for).
  CHECK(gone_at - before_grant >= ttl);
  CHECK(Exists(*kv, K(0xd0, "expiring-2")));
  CHECK(Exists(*kv, K(0x10, "kept")));
  CHECK(Exists(*kv, K(0xd0, "kept")));
  CHECK(keeper->alive());
  CHECK(keeper->renewals() >= 2);
  auto expired = leases->TimeToLive(expiring->id);
  REQUIRE_FALSE(expired.has_value());
  CHECK(expired.error().code == client::ErrorCode::kLeaseNotFound);

  // Keep-alives stop: B's keys go too.
  keeper->Stop();
  REQUIRE(Eventually([&] { return !Exists(*kv, K(0x10, "kept")) && !Exists(*kv, K(0xd0, "kept")); },
                     std::chrono::seconds(15)));
}

TEST_CASE("lease: a new meta leader continues the remaining TTL instead of restarting it", "[e2e][lease]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = LeaseFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto kv = OpenClient(c, std::chrono::seconds(10));
  auto leases = OpenLeases(c);
  const milliseconds ttl(30'000);
  auto lease = leases->Grant(ttl);
  REQUIRE(lease.has_value());
  const Clock::time_point granted = Clock::now();
  REQUIRE(kv->Put(K(0x50, "ttl-kept"), "v", {.lease = lease->id}).has_value());
  // Let the TTL run down for a while (several checkpoints), then kill the meta leader.
  std::this_thread::sleep_for(std::chrono::seconds(4));
  const int old_meta = MetaLeader(c);
  REQUIRE(old_meta >= 0);
  const milliseconds elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - granted);
  c.Kill(old_meta);
  REQUIRE(Eventually([&] { return MetaLeader(c) >= 0; }, std::chrono::seconds(10)));
  // Past the new leader's first keeper rounds, which set its deadlines.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  auto after = leases->TimeToLive(lease->id);
  REQUIRE(after.has_value());
  CHECK(after->state == client::LeaseInfo::State::kActive);
  CHECK(after->granted_ttl_ms == 30'000);
  // The remaining TTL continues from the last checkpoint (at most one interval, 500 ms, before
  // the kill): a restarted TTL would be close to 30 s.
  CHECK(after->ttl_ms > 0);
  CHECK(after->ttl_ms <= static_cast<uint64_t>((ttl - elapsed + milliseconds(500)).count()));
  CHECK(Exists(*kv, K(0x50, "ttl-kept")));
}

TEST_CASE("lease: a SIGSTOPped meta leader does not revoke leases kept alive at the new leader", "[e2e][lease]") {
  TestCluster c({.nodes = 3, .shards = 4, .flags = LeaseFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(80));
  auto kv = OpenClient(c, std::chrono::seconds(10));
  auto leases = OpenLeases(c);
  auto lease = leases->Grant(milliseconds(2500));
  REQUIRE(lease.has_value());
  auto keeper = leases->KeepAlive(lease->id);
  const std::vector<std::string> keys = {K(0x10, "stall"), K(0x90, "stall")};
  for (const std::string& k : keys) REQUIRE(kv->Put(k, "v", {.lease = lease->id}).has_value());
  const int old_meta = MetaLeader(c);
  REQUIRE(old_meta >= 0);
  c.Pause(old_meta);
  const uint64_t renewals_at_pause = keeper->renewals();
  // Longer than the TTL: the keep-alives must reach the new leader meanwhile.
  std::this_thread::sleep_for(std::chrono::milliseconds(5000));
  CHECK(keeper->renewals() > renewals_at_pause);
  c.Resume(old_meta);
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  CHECK(keeper->alive());
  for (const std::string& k : keys) CHECK(Exists(*kv, k));
  auto ttl = leases->TimeToLive(lease->id);
  REQUIRE(ttl.has_value());
  CHECK(ttl->state == client::LeaseInfo::State::kActive);
  keeper->Stop();
}

TEST_CASE("lease: a stalled single-node leader extends deadlines by the stall instead of expiring", "[e2e][lease]") {
  // One node: the stalled leader stays leader, so only the stall detection keeps the lease (its
  // holder could not reach anyone while the node was stopped).
  TestCluster c({.nodes = 1, .shards = 2, .flags = LeaseFlags()});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto kv = OpenClient(c, std::chrono::seconds(10));
  auto leases = OpenLeases(c);
  auto lease = leases->Grant(milliseconds(2000));
  REQUIRE(lease.has_value());
  REQUIRE(kv->Put(K(0x10, "solo"), "v", {.lease = lease->id}).has_value());
  // Long enough for the leader's keeper to hold the lease's deadline (and checkpoint it).
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  REQUIRE(leases->KeepAliveOnce(lease->id).has_value());
  c.Pause(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500));
  c.Resume(0);
  // Renew a little after the resume (the keeper runs first: a holder cannot be quicker than
  // that); the lease must still be there.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto renewed = leases->KeepAliveOnce(lease->id);
  REQUIRE(renewed.has_value());
  CHECK(*renewed == 2000);
  CHECK(Exists(*kv, K(0x10, "solo")));
  REQUIRE(leases->Revoke(lease->id).has_value());
  CHECK_FALSE(Exists(*kv, K(0x10, "solo")));
}

TEST_CASE("lease: unknown leases and bad TTLs get clear errors", "[e2e][lease]") {
  TestCluster& c = SharedCluster();
  auto kv = OpenClient(c);
  auto leases = OpenLeases(c);
  auto unknown = kv->Put(K(0x20, "lease/unknown"), "v", {.lease = 987'654'321});
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == client::ErrorCode::kLeaseNotFound);
  CHECK(unknown.error().message.find("987654321") != std::string::npos);
  auto batch = kv->Batch({client::Op::Put(K(0x20, "lease/b1"), "v", 987'654'321)});
  REQUIRE_FALSE(batch.has_value());
  CHECK(batch.error().code == client::ErrorCode::kLeaseNotFound);

  auto short_ttl = leases->Grant(milliseconds(10));
  REQUIRE_FALSE(short_ttl.has_value());
  CHECK(short_ttl.error().code == client::ErrorCode::kInvalidArgument);
  CHECK(short_ttl.error().message.find("lease.min_ttl_ms") != std::string::npos);
  auto long_ttl = leases->Grant(std::chrono::hours(24 * 30));
  REQUIRE_FALSE(long_ttl.has_value());
  CHECK(long_ttl.error().code == client::ErrorCode::kInvalidArgument);
  CHECK(long_ttl.error().message.find("lease.max_ttl_ms") != std::string::npos);

  auto chosen = leases->Grant(std::chrono::seconds(30), 4'000'000'001);
  REQUIRE(chosen.has_value());
  CHECK(chosen->id == 4'000'000'001);
  auto again = leases->Grant(std::chrono::seconds(30), 4'000'000'001);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().message.find("already exists") != std::string::npos);
  auto listed = leases->List();
  REQUIRE(listed.has_value());
  CHECK(std::any_of(listed->begin(), listed->end(), [](const auto& l) { return l.id == 4'000'000'001; }));
  // Batch and Txn puts attach too.
  REQUIRE(kv->Batch({client::Op::Put(K(0x20, "lease/b2"), "v", chosen->id)}).has_value());
  auto got = kv->Get(K(0x20, "lease/b2"));
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  CHECK((*got)->lease == chosen->id);
  auto revoked = leases->Revoke(chosen->id);
  REQUIRE(revoked.has_value());
  CHECK(*revoked == 1);
  auto revoke_again = leases->Revoke(chosen->id);
  REQUIRE_FALSE(revoke_again.has_value());
  CHECK(revoke_again.error().code == client::ErrorCode::kLeaseNotFound);
  auto once = leases->KeepAliveOnce(chosen->id);
  REQUIRE_FALSE(once.has_value());
  CHECK(once.error().code == client::ErrorCode::kLeaseNotFound);
}

TEST_CASE("lease: clawctl grants, attaches, lists, renews and revokes", "[e2e][lease]") {
  TestCluster& c = SharedCluster();
  const std::string endpoints = Endpoints(c);
  ProcessResult grant = RunClawctl(endpoints, {"lease", "grant", "30s", "-w", "json"});
  INFO(grant.out << grant.err);
  REQUIRE(grant.exit_code == 0);
  // {"id":"N","ttl_ms":"30000"}
  const size_t at = grant.out.find("\"id\":\"");
  REQUIRE(at != std::string::npos);
  const std::string id = grant.out.substr(at + 6, grant.out.find('"', at + 6) - at - 6);
  CHECK(grant.out.find("\"ttl_ms\":\"30000\"") != std::string::npos);

  ProcessResult put = RunClawctl(endpoints, {"put", "\x30lease-ctl", "v", "--lease", id});
  INFO(put.out << put.err);
  CHECK(put.exit_code == 0);
  ProcessResult ttl = RunClawctl(endpoints, {"lease", "ttl", id, "--keys"});
  INFO(ttl.out << ttl.err);
  CHECK(ttl.exit_code == 0);
  CHECK(ttl.out.find("ACTIVE") != std::string::npos);
  CHECK(ttl.out.find("0lease-ctl") != std::string::npos);
  ProcessResult list = RunClawctl(endpoints, {"lease", "list"});
  CHECK(list.exit_code == 0);
  CHECK(list.out.find(id) != std::string::npos);
  ProcessResult once = RunClawctl(endpoints, {"lease", "keep-alive", id, "--once"});
  INFO(once.out << once.err);
  CHECK(once.exit_code == 0);
  CHECK(once.out.find("TTL 30000 ms") != std::string::npos);
  ProcessResult revoke = RunClawctl(endpoints, {"lease", "revoke", id});
  INFO(revoke.out << revoke.err);
  CHECK(revoke.exit_code == 0);
  CHECK(revoke.out.find("1 keys deleted") != std::string::npos);
  ProcessResult get = RunClawctl(endpoints, {"get", "\x30lease-ctl"});
  CHECK(get.exit_code == 3);
  ProcessResult missing = RunClawctl(endpoints, {"lease", "ttl", id});
  CHECK(missing.exit_code == 3);
  CHECK(missing.err.find("LEASE_NOT_FOUND") != std::string::npos);
  ProcessResult bad = RunClawctl(endpoints, {"lease", "grant", "soon"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("positive duration") != std::string::npos);
  ProcessResult bad_put = RunClawctl(endpoints, {"put", "k", "v", "--lease", "x"});
  CHECK(bad_put.exit_code == 2);
  ProcessResult unknown_put = RunClawctl(endpoints, {"put", "\x30lease-ctl", "v", "--lease", "123456789"});
  CHECK(unknown_put.exit_code == 1);
  CHECK(unknown_put.err.find("LEASE_NOT_FOUND") != std::string::npos);
}

TEST_CASE("lease: attachments travel with a snapshot and a split; every replica deletes them", "[e2e][lease]") {
  std::vector<std::string> flags = LeaseFlags();
  flags.insert(flags.end(), {"--raft-snapshot-after-entries", "100"});
  TestCluster c({.nodes = 3, .shards = 2, .flags = flags});
  REQUIRE(c.StartAllAndWait());
  INFO(c.DumpLogs(60));
  auto kv = OpenClient(c, std::chrono::seconds(10));
  auto leases = OpenLeases(c);
  auto lease = leases->Grant(std::chrono::seconds(60));
  REQUIRE(lease.has_value());
  // Shard 2 holds the keys below 0x80. A follower of it misses every attaching put and catches
  // up by snapshot (the log is compacted past it): its lease index must be rebuilt from the
  // ingested values, or its replica would keep the keys after the revoke.
  const int leader = LeaderIndex(c, "s/000");
  REQUIRE(leader >= 0);
  const int lagging = (leader + 1) % 3;
  REQUIRE(c.Stop(lagging) == 0);
  for (int k = 0; k < 300; ++k) {
    char key[16];
    std::snprintf(key, sizeof key, "s/%03d", k);
    REQUIRE(kv->Put(key, "v", {.lease = lease->id}).has_value());
  }
  const uint64_t target = Applied(c, leader, 2);
  c.Start(lagging);
  REQUIRE(c.WaitServing(lagging));
  REQUIRE(Eventually([&] { return Applied(c, lagging, 2) >= target; }, std::chrono::seconds(20)));
  REQUIRE(Eventually([&] { return HeldAt(c, lagging, "s/299") == true; }, std::chrono::seconds(10)));

  // Split shard 2 between the keys: the revoke must reach the new shard too.
  v1::SplitShardResponse split;
  REQUIRE(Eventually(
      [&] {
        const int at = LeaderIndex(c, "s/000");
        if (at < 0) return false;
        v1::SplitShardRequest req;
        req.set_shard_id(2);
        req.set_split_key("s/150");
        return c.Admin(at)->SplitShard(Ctx(5000).get(), req, &split).ok();
      },
      std::chrono::seconds(10)));
  REQUIRE(Eventually([&] { return LeaderIndex(c, "s/200") >= 0; }, std::chrono::seconds(10)));

  auto deleted = leases->Revoke(lease->id);
  REQUIRE(deleted.has_value());
  CHECK(*deleted == 300);
  for (const char* k : {"s/000", "s/149", "s/150", "s/299"}) CHECK_FALSE(Exists(*kv, k));
  // Every replica applied the same deletes, the snapshot-fed one included.
  for (int i = 0; i < 3; ++i) {
    for (const char* k : {"s/000", "s/149", "s/150", "s/299"}) {
      INFO("node " << i << " key " << k);
      CHECK(Eventually([&] { return HeldAt(c, i, k) == false; }, std::chrono::seconds(10)));
    }
  }
}

}  // namespace claw::e2e
