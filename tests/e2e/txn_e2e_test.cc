// Transactions on a real cluster through the C++ client: every compare target and op, both
// branches and their results, atomicity of a branch, and compare-and-set increments from several
// threads that must add up exactly.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "e2e_util.h"

namespace claw::e2e {
namespace {

using client::Compare;
using client::Op;

Compare Cmp(std::string key, Compare::Target target, Compare::Op op) {
  Compare c;
  c.key = std::move(key);
  c.target = target;
  c.op = op;
  return c;
}
Compare ValueIs(std::string key, Compare::Op op, std::string value) {
  Compare c = Cmp(std::move(key), Compare::Target::kValue, op);
  c.value = std::move(value);
  return c;
}
Compare Number(std::string key, Compare::Target target, Compare::Op op, uint64_t n) {
  Compare c = Cmp(std::move(key), target, op);
  c.number = n;
  return c;
}
Compare Exists(std::string key, Compare::Op op, bool exists) {
  Compare c = Cmp(std::move(key), Compare::Target::kExists, op);
  c.exists = exists;
  return c;
}

// Whether a txn with the single compare `c` takes its success branch.
bool Holds(client::Client& client, const Compare& c) {
  auto r = client.Txn({c}, {}, {});
  REQUIRE(r.has_value());
  CHECK(r->results.empty());
  return r->succeeded;
}

}  // namespace

TEST_CASE("txn: compares on value, version, mod_ts and existence pick the branch", "[e2e]") {
  TestCluster& cluster = SharedCluster();
  auto c = OpenClient(cluster);
  const std::string k = K(0x50, "txn/k");
  const std::string other = K(0x50, "txn/other");
  const std::string missing = K(0x50, "txn/missing");
  REQUIRE(c->DeleteRange(K(0x50, "txn/"), client::PrefixEnd(K(0x50, "txn/"))).has_value());
  REQUIRE(c->Put(k, "a").has_value());

  // value(k) = a: the success branch runs, in order, and its results come back.
  auto t1 = c->Txn({ValueIs(k, Compare::Op::kEqual, "a")},
                   {Op::Put(k, "b"), Op::Get(k), Op::Put(other, "o"), Op::Delete(missing)},
                   {Op::Get(k)});
  REQUIRE(t1.has_value());
  CHECK(t1->succeeded);
  REQUIRE(t1->results.size() == 4);
  CHECK(t1->results[0].type == Op::Type::kPut);
  CHECK(t1->results[0].mod_ts > 0);
  REQUIRE(t1->results[1].kv.has_value());
  CHECK(t1->results[1].kv->value == "b");
  CHECK(t1->results[1].kv->version == 2);
  CHECK(t1->results[1].kv->mod_ts == t1->results[0].mod_ts);
  CHECK(t1->results[3].deleted == 0);

  // The same compare now fails: the else branch runs and nothing of the success branch does.
  auto t2 = c->Txn({ValueIs(k, Compare::Op::kEqual, "a")}, {Op::Put(k, "c"), Op::Delete(other)},
                   {Op::Get(k), Op::Get(other)});
  REQUIRE(t2.has_value());
  CHECK_FALSE(t2->succeeded);
  REQUIRE(t2->results.size() == 2);
  REQUIRE(t2->results[0].kv.has_value());
  CHECK(t2->results[0].kv->value == "b");
  REQUIRE(t2->results[1].kv.has_value());
  CHECK(t2->results[1].kv->value == "o");

  auto got = c->Get(k);
  REQUIRE(got.has_value());
  REQUIRE(got->has_value());
  const uint64_t mod = (*got)->mod_ts;
  CHECK((*got)->version == 2);

  // VALUE: bytewise order; a missing key only satisfies NOT_EQUAL.
  CHECK(Holds(*c, ValueIs(k, Compare::Op::kNotEqual, "a")));
  CHECK(Holds(*c, ValueIs(k, Compare::Op::kLess, "c")));
  CHECK_FALSE(Holds(*c, ValueIs(k, Compare::Op::kLess, "b")));
  CHECK(Holds(*c, ValueIs(k, Compare::Op::kGreater, "a")));
  CHECK(Holds(*c, ValueIs(k, Compare::Op::kGreater, "")));
  CHECK(Holds(*c, ValueIs(missing, Compare::Op::kNotEqual, "x")));
  CHECK_FALSE(Holds(*c, ValueIs(missing, Compare::Op::kEqual, "")));
  CHECK_FALSE(Holds(*c, ValueIs(missing, Compare::Op::kLess, "x")));
  // VERSION: 0 for a missing key.
  CHECK(Holds(*c, Number(k, Compare::Target::kVersion, Compare::Op::kEqual, 2)));
  CHECK_FALSE(Holds(*c, Number(k, Compare::Target::kVersion, Compare::Op::kEqual, 1)));
  CHECK(Holds(*c, Number(k, Compare::Target::kVersion, Compare::Op::kLess, 3)));
  CHECK(Holds(*c, Number(k, Compare::Target::kVersion, Compare::Op::kGreater, 1)));
  CHECK(Holds(*c, Number(missing, Compare::Target::kVersion, Compare::Op::kEqual, 0)));
  // MOD_TS: the key's revision.
  CHECK(Holds(*c, Number(k, Compare::Target::kModTs, Compare::Op::kEqual, mod)));
  CHECK_FALSE(Holds(*c, Number(k, Compare::Target::kModTs, Compare::Op::kEqual, mod - 1)));
  CHECK(Holds(*c, Number(k, Compare::Target::kModTs, Compare::Op::kLess, mod + 1)));
  CHECK(Holds(*c, Number(k, Compare::Target::kModTs, Compare::Op::kGreater, mod - 1)));
  CHECK(Holds(*c, Number(missing, Compare::Target::kModTs, Compare::Op::kEqual, 0)));
  // EXISTS.
  CHECK(Holds(*c, Exists(k, Compare::Op::kEqual, true)));
  CHECK_FALSE(Holds(*c, Exists(k, Compare::Op::kEqual, false)));
  CHECK(Holds(*c, Exists(missing, Compare::Op::kEqual, false)));
  CHECK_FALSE(Holds(*c, Exists(missing, Compare::Op::kEqual, true)));
  CHECK(Holds(*c, Exists(missing, Compare::Op::kNotEqual, true)));

  // Every compare must hold: one false one sends the txn to the else branch.
  auto t3 = c->Txn({Exists(k, Compare::Op::kEqual, true), ValueIs(other, Compare::Op::kEqual, "nope")},
                   {Op::Put(missing, "x")}, {Op::Put(other, "else-ran")});
  REQUIRE(t3.has_value());
  CHECK_FALSE(t3->succeeded);
  REQUIRE(t3->results.size() == 1);
  CHECK(t3->results[0].type == Op::Type::kPut);
  auto none = c->Get(missing);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  auto else_ran = c->Get(other);
  REQUIRE(else_ran.has_value());
  REQUIRE(else_ran->has_value());
  CHECK((*else_ran)->value == "else-ran");

  // A branch with a range delete and puts applies as one write: one mod_ts for all of them.
  auto t4 = c->Txn({Exists(k, Compare::Op::kEqual, true)},
                   {Op::DeleteRange(K(0x50, "txn/"), client::PrefixEnd(K(0x50, "txn/"))),
                    Op::Put(K(0x50, "txn/after1"), "1"), Op::Put(K(0x50, "txn/after2"), "2")},
                   {});
  REQUIRE(t4.has_value());
  CHECK(t4->succeeded);
  REQUIRE(t4->results.size() == 3);
  CHECK(t4->results[0].deleted == 2);  // k and other
  CHECK(t4->results[1].mod_ts == t4->results[2].mod_ts);
  auto rest = c->Scan(K(0x50, "txn/"), client::PrefixEnd(K(0x50, "txn/")));
  REQUIRE(rest.has_value());
  REQUIRE(rest->kvs.size() == 2);
  CHECK(rest->kvs[0].key == K(0x50, "txn/after1"));
  CHECK(rest->kvs[1].key == K(0x50, "txn/after2"));
  CHECK(rest->kvs[0].mod_ts == rest->kvs[1].mod_ts);
}

TEST_CASE("txn: compare-and-set increments from several threads add up exactly", "[e2e]") {
  TestCluster& cluster = SharedCluster();
  auto c = OpenClient(cluster);
  const std::string counter = K(0xa0, "txn/counter");
  REQUIRE(c->Put(counter, "0").has_value());
  auto start = c->Get(counter);
  REQUIRE(start.has_value());
  REQUIRE(start->has_value());
  const uint64_t start_version = (*start)->version;

  constexpr int kThreads = 4;
  constexpr int kIncrements = 20;
  std::atomic<int> conflicts{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kIncrements;) {
        auto cur = c->Get(counter);
        if (!cur || !cur->has_value()) {
          ++errors;
          return;
        }
        const int n = std::stoi((*cur)->value);
        auto r = c->Txn({Number(counter, Compare::Target::kVersion, Compare::Op::kEqual, (*cur)->version)},
                        {Op::Put(counter, std::to_string(n + 1))}, {});
        if (!r) {
          ++errors;
          return;
        }
        if (r->succeeded) {
          ++done;
        } else {
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(errors.load() == 0);
  auto end = c->Get(counter);
  REQUIRE(end.has_value());
  REQUIRE(end->has_value());
  CHECK((*end)->value == std::to_string(kThreads * kIncrements));
  CHECK((*end)->version == start_version + kThreads * kIncrements);
  // Not a correctness condition, but with 4 threads some attempts must have raced.
  WARN("CAS conflicts: " << conflicts.load());
}

}  // namespace claw::e2e
