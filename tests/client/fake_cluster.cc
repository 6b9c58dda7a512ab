#include "tests/client/fake_cluster.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "client/errors.h"

namespace claw::client::testing {
namespace {

bool Contains(const v1::ShardDescriptor& shard, const std::string& key) {
  return shard.start_key() <= key && (shard.end_key().empty() || key < shard.end_key());
}

bool SameEpoch(const v1::Epoch& a, const v1::Epoch& b) {
  return a.conf_version() == b.conf_version() && a.range_version() == b.range_version();
}

grpc::Status MakeStatus(grpc::StatusCode code, const v1::Error& error) {
  return grpc::Status(code, error.message(),
                      EncodeErrorDetail(static_cast<int>(code), error.message(), error));
}

// The status an injection answers with.
grpc::Status InjectedStatus(const FakeCluster::Injection& injection) {
  if (injection.no_detail) return grpc::Status(injection.grpc_code, "injected");
  return MakeStatus(injection.grpc_code, injection.error);
}

}  // namespace

struct FakeCluster::State {
  // What Check decided: answer `status` now, or serve and then answer `after` if set.
  struct Verdict {
    grpc::Status status = grpc::Status::OK;
    std::optional<grpc::Status> after{};
    v1::ShardDescriptor shard{};
  };

  mutable std::mutex mu;
  // Batch calls wait (outside mu) until this many are in flight, at most 2 s; 0 = no wait.
  std::condition_variable batch_cv;
  int batch_barrier = 0;      // guarded by mu
  int batches_in_flight = 0;  // guarded by mu
  int max_batches_in_flight = 0;  // guarded by mu
  std::vector<v1::ShardDescriptor> shards;  // ordered by start key
  std::map<uint64_t, uint64_t> leaders;     // shard id -> node id
  std::map<uint64_t, std::string> addresses;
  std::set<uint64_t> stopped;
  std::map<std::string, v1::KeyValue> data;
  std::map<std::string, int> applied;  // request id -> deliveries to a serving leader
  std::vector<Received> received;
  std::deque<Injection> injections;
  bool report_leaders = true;
  bool multiplex = false;
  std::set<uint64_t> stalled;
  int multiplexed_calls = 0;
  int page_size = 2;
  int list_shards_calls = 0;
  uint64_t clock = 0;

  const v1::ShardDescriptor* ShardFor(const std::string& key) const {
    for (const auto& shard : shards) {
      if (Contains(shard, key)) return &shard;
    }
    return nullptr;
  }
  const v1::ShardDescriptor* ShardById(uint64_t id) const {
    for (const auto& shard : shards) {
      if (shard.id() == id) return &shard;
    }
    return nullptr;
  }
  // The shard holding the keys just below `end` (empty = the last shard).
  const v1::ShardDescriptor* ShardBefore(const std::string& end) const {
    for (const auto& shard : shards) {
      if ((end.empty() && shard.end_key().empty()) ||
          (!end.empty() && shard.start_key() < end &&
           (shard.end_key().empty() || end <= shard.end_key()))) {
        return &shard;
      }
    }
    return nullptr;
  }

  std::optional<Injection> TakeInjection(uint64_t node_id, const std::string& method) {
    for (auto it = injections.begin(); it != injections.end(); ++it) {
      if ((it->node_id == 0 || it->node_id == node_id) &&
          (it->method.empty() || it->method == method)) {
        Injection hit = *it;
        if (--it->count <= 0) injections.erase(it);
        return hit;
      }
    }
    return std::nullopt;
  }

  // Routing checks of clawd: injections, shard and epoch, key range, leadership.
  Verdict Check(uint64_t node_id, const std::string& method, const v1::RequestHeader& header,
                const std::string& key, const v1::ShardDescriptor* truth,
                const std::function<bool(const v1::ShardDescriptor&)>& fits) {
    received.push_back(Received{method, node_id, key, header});
    Verdict verdict;
    if (auto injection = TakeInjection(node_id, method)) {
      if (!injection->apply_first) {
        verdict.status = InjectedStatus(*injection);
        return verdict;
      }
      verdict.after = InjectedStatus(*injection);
    }
    v1::Error error;
    const v1::ShardDescriptor* named = header.shard_id() != 0 ? ShardById(header.shard_id()) : truth;
    if (named == nullptr || truth == nullptr || !SameEpoch(named->epoch(), header.epoch())) {
      error.set_code(v1::Error::EPOCH_MISMATCH);
      error.set_message("stale epoch");
      if (truth != nullptr) *error.add_shards() = *truth;
      if (named != nullptr && named != truth) *error.add_shards() = *named;
      verdict.status = MakeStatus(grpc::StatusCode::FAILED_PRECONDITION, error);
      return verdict;
    }
    if (!fits(*named)) {
      error.set_code(v1::Error::KEY_OUT_OF_RANGE);
      error.set_message("key out of range");
      *error.add_shards() = *truth;
      verdict.status = MakeStatus(grpc::StatusCode::OUT_OF_RANGE, error);
      return verdict;
    }
    const uint64_t leader = leaders[named->id()];
    if (header.consistency() != v1::STALE && leader != node_id) {
      error.set_code(v1::Error::NOT_LEADER);
      error.set_message("not the leader");
      error.mutable_leader()->set_node_id(leader);
      error.mutable_leader()->set_address(addresses[leader]);
      verdict.status = MakeStatus(grpc::StatusCode::FAILED_PRECONDITION, error);
      return verdict;
    }
    verdict.shard = *named;
    return verdict;
  }

  // Whether a write with this request id must be applied (and counts it).
  bool FirstTime(const v1::RequestHeader& header) {
    if (header.request_id().empty()) return true;
    return applied[header.request_id()]++ == 0;
  }

  void ApplyPut(const v1::PutRequest& request, v1::PutResponse* response) {
    auto it = data.find(request.key());
    if (it != data.end() && request.prev_kv()) *response->mutable_prev() = it->second;
    v1::KeyValue& kv = data[request.key()];
    kv.set_key(request.key());
    kv.set_value(request.value());
    kv.set_version(kv.version() + 1);
    kv.set_mod_ts(++clock);
    if (kv.version() == 1) kv.set_create_ts(kv.mod_ts());
    response->set_mod_ts(kv.mod_ts());
  }

  void ApplyDelete(const v1::DeleteRequest& request, v1::DeleteResponse* response) {
    auto it = data.find(request.key());
    if (it == data.end()) return;
    if (request.prev_kv()) *response->mutable_prev() = it->second;
    data.erase(it);
    response->set_deleted(1);
  }

  void ApplyDeleteRange(const v1::DeleteRangeRequest& request, const v1::ShardDescriptor& shard,
                        v1::DeleteRangeResponse* response) {
    const std::string& end = request.end_key().empty() ? shard.end_key() : request.end_key();
    auto it = data.lower_bound(request.start_key());
    while (it != data.end() && (end.empty() || it->first < end)) {
      it = data.erase(it);
      response->set_deleted(response->deleted() + 1);
    }
  }

  void ApplyOp(const v1::Op& op, const v1::ShardDescriptor& shard, v1::OpResult* result) {
    switch (op.op_case()) {
      case v1::Op::kGet: {
        auto it = data.find(op.get().key());
        result->mutable_get()->set_found(it != data.end());
        if (it != data.end()) *result->mutable_get()->mutable_kv() = it->second;
        break;
      }
      case v1::Op::kPut: ApplyPut(op.put(), result->mutable_put()); break;
      case v1::Op::kDelete: ApplyDelete(op.delete_(), result->mutable_delete_()); break;
      case v1::Op::kDeleteRange:
        ApplyDeleteRange(op.delete_range(), shard, result->mutable_delete_range());
        break;
      case v1::Op::OP_NOT_SET: break;
    }
  }

  bool CompareHolds(const v1::Compare& compare) const {
    auto it = data.find(compare.key());
    const bool exists = it != data.end();
    switch (compare.target()) {
      case v1::Compare::VALUE: {
        if (!exists) return compare.op() == v1::Compare::NOT_EQUAL;
        const std::string& value = it->second.value();
        switch (compare.op()) {
          case v1::Compare::EQUAL: return value == compare.value();
          case v1::Compare::NOT_EQUAL: return value != compare.value();
          case v1::Compare::LESS: return value < compare.value();
          case v1::Compare::GREATER: return value > compare.value();
          default: return false;
        }
      }
      case v1::Compare::VERSION: {
        const uint64_t version = exists ? it->second.version() : 0;
        switch (compare.op()) {
          case v1::Compare::EQUAL: return version == compare.version();
          case v1::Compare::NOT_EQUAL: return version != compare.version();
          case v1::Compare::LESS: return version < compare.version();
          case v1::Compare::GREATER: return version > compare.version();
          default: return false;
        }
      }
      case v1::Compare::EXISTS:
        return (exists == compare.exists()) == (compare.op() == v1::Compare::EQUAL);
      default:
        return false;
    }
  }
};

// Serves claw.v1.KV for one node over the shared state.
class FakeCluster::KvService final : public v1::KV::Service {
 public:
  KvService(State* state, uint64_t node_id) : state_(state), node_id_(node_id) {}

  grpc::Status Get(grpc::ServerContext*, const v1::GetRequest* request,
                   v1::GetResponse* response) override {
    std::lock_guard lock(state_->mu);
    auto verdict = CheckKey("Get", request->header(), request->key());
    if (!verdict.status.ok()) return verdict.status;
    auto it = state_->data.find(request->key());
    response->set_found(it != state_->data.end());
    if (it != state_->data.end()) *response->mutable_kv() = it->second;
    return verdict.after.value_or(grpc::Status::OK);
  }

  grpc::Status Multiplex(grpc::ServerContext* context,
                         grpc::ServerReaderWriter<v1::MultiplexResponse, v1::MultiplexRequest>* stream) override {
    {
      std::lock_guard lock(state_->mu);
      if (!state_->multiplex) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no Multiplex here");
    }
    v1::MultiplexRequest request;
    while (stream->Read(&request)) {
      bool stalled = false;
      {
        std::lock_guard lock(state_->mu);
        state_->multiplexed_calls += request.calls_size();
        stalled = state_->stalled.contains(node_id_);
      }
      if (stalled) continue;
      v1::MultiplexResponse response;
      for (const v1::MultiplexCall& call : request.calls()) {
        v1::MultiplexAnswer* answer = response.add_answers();
        answer->set_tag(call.tag());
        grpc::Status status(grpc::StatusCode::INVALID_ARGUMENT, "a call with no request");
        switch (call.request_case()) {
          case v1::MultiplexCall::kGet: status = Get(context, &call.get(), answer->mutable_get()); break;
          case v1::MultiplexCall::kPut: status = Put(context, &call.put(), answer->mutable_put()); break;
          case v1::MultiplexCall::kDelete:
            status = Delete(context, &call.delete_(), answer->mutable_delete_());
            break;
          case v1::MultiplexCall::kBatch: status = Batch(context, &call.batch(), answer->mutable_batch()); break;
          case v1::MultiplexCall::kTxn: status = Txn(context, &call.txn(), answer->mutable_txn()); break;
          case v1::MultiplexCall::REQUEST_NOT_SET: break;
        }
        if (!status.ok()) {
          const uint64_t tag = answer->tag();
          answer->Clear();
          answer->set_tag(tag);
          answer->set_code(static_cast<int32_t>(status.error_code()));
          answer->set_message(status.error_message());
          answer->set_details(status.error_details());
        }
      }
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status Put(grpc::ServerContext*, const v1::PutRequest* request,
                   v1::PutResponse* response) override {
    std::lock_guard lock(state_->mu);
    auto verdict = CheckKey("Put", request->header(), request->key());
    if (!verdict.status.ok()) return verdict.status;
    if (state_->FirstTime(request->header())) state_->ApplyPut(*request, response);
    return verdict.after.value_or(grpc::Status::OK);
  }

  grpc::Status Delete(grpc::ServerContext*, const v1::DeleteRequest* request,
                      v1::DeleteResponse* response) override {
    std::lock_guard lock(state_->mu);
    auto verdict = CheckKey("Delete", request->header(), request->key());
    if (!verdict.status.ok()) return verdict.status;
    if (state_->FirstTime(request->header())) state_->ApplyDelete(*request, response);
    return verdict.after.value_or(grpc::Status::OK);
  }

  grpc::Status DeleteRange(grpc::ServerContext*, const v1::DeleteRangeRequest* request,
                           v1::DeleteRangeResponse* response) override {
    std::lock_guard lock(state_->mu);
    const std::string start = request->start_key();
    const std::string end = request->end_key();
    auto verdict = state_->Check(
        node_id_, "DeleteRange", request->header(), start, state_->ShardFor(start),
        [&](const v1::ShardDescriptor& shard) {
          return Contains(shard, start) &&
                 (end.empty() || shard.end_key().empty() || end <= shard.end_key());
        });
    if (!verdict.status.ok()) return verdict.status;
    if (state_->FirstTime(request->header())) {
      state_->ApplyDeleteRange(*request, verdict.shard, response);
    }
    return verdict.after.value_or(grpc::Status::OK);
  }

  grpc::Status Scan(grpc::ServerContext*, const v1::ScanRequest* request,
                    grpc::ServerWriter<v1::ScanResponse>* writer) override;

  grpc::Status Batch(grpc::ServerContext*, const v1::BatchRequest* request,
                     v1::BatchResponse* response) override {
    std::unique_lock lock(state_->mu);
    ++state_->batches_in_flight;
    state_->max_batches_in_flight = std::max(state_->max_batches_in_flight, state_->batches_in_flight);
    state_->batch_cv.notify_all();
    state_->batch_cv.wait_for(lock, std::chrono::seconds(2), [this] {
      return state_->batches_in_flight >= state_->batch_barrier;
    });
    struct Leave {
      State* s;
      ~Leave() { --s->batches_in_flight; }
    } leave{state_};
    std::vector<std::string> keys;
    for (const v1::Op& op : request->ops()) keys.push_back(OpKey(op));
    auto verdict = CheckKeys("Batch", request->header(), keys);
    if (!verdict.status.ok()) return verdict.status;
    if (state_->FirstTime(request->header())) {
      for (const v1::Op& op : request->ops()) state_->ApplyOp(op, verdict.shard, response->add_results());
    }
    return verdict.after.value_or(grpc::Status::OK);
  }

  grpc::Status Txn(grpc::ServerContext*, const v1::TxnRequest* request,
                   v1::TxnResponse* response) override {
    std::lock_guard lock(state_->mu);
    std::vector<std::string> keys;
    for (const v1::Compare& compare : request->compare()) keys.push_back(compare.key());
    for (const v1::Op& op : request->success()) keys.push_back(OpKey(op));
    for (const v1::Op& op : request->failure()) keys.push_back(OpKey(op));
    auto verdict = CheckKeys("Txn", request->header(), keys);
    if (!verdict.status.ok()) return verdict.status;
    if (state_->FirstTime(request->header())) {
      const bool holds = std::all_of(request->compare().begin(), request->compare().end(),
                                     [&](const v1::Compare& c) { return state_->CompareHolds(c); });
      response->set_succeeded(holds);
      for (const v1::Op& op : holds ? request->success() : request->failure()) {
        state_->ApplyOp(op, verdict.shard, response->add_results());
      }
    }
    return verdict.after.value_or(grpc::Status::OK);
  }

 private:
  static std::string OpKey(const v1::Op& op) {
    switch (op.op_case()) {
      case v1::Op::kGet: return op.get().key();
      case v1::Op::kPut: return op.put().key();
      case v1::Op::kDelete: return op.delete_().key();
      case v1::Op::kDeleteRange: return op.delete_range().start_key();
      case v1::Op::OP_NOT_SET: break;
    }
    return "";
  }

  State::Verdict CheckKey(const std::string& method, const v1::RequestHeader& header,
                          const std::string& key) {
    return CheckKeys(method, header, {key});
  }

  State::Verdict CheckKeys(const std::string& method, const v1::RequestHeader& header,
                           const std::vector<std::string>& keys) {
    const std::string first = keys.empty() ? std::string() : keys.front();
    return state_->Check(node_id_, method, header, first, state_->ShardFor(first),
                         [&](const v1::ShardDescriptor& shard) {
                           return std::all_of(keys.begin(), keys.end(), [&](const std::string& k) {
                             return Contains(shard, k);
                           });
                         });
  }

  State* state_;
  uint64_t node_id_;
};

grpc::Status FakeCluster::KvService::Scan(grpc::ServerContext*, const v1::ScanRequest* request,
                                          grpc::ServerWriter<v1::ScanResponse>* writer) {
  std::vector<v1::ScanResponse> pages;
  {
    std::lock_guard lock(state_->mu);
    const bool reverse = request->reverse();
    const std::string& start = request->start_key();
    const std::string& end = request->end_key();
    const v1::ShardDescriptor* truth =
        reverse ? state_->ShardBefore(end) : state_->ShardFor(start);
    auto verdict = state_->Check(
        node_id_, "Scan", request->header(), reverse ? end : start, truth,
        [&](const v1::ShardDescriptor& shard) { return truth != nullptr && shard.id() == truth->id(); });
    if (!verdict.status.ok()) return verdict.status;
    const v1::ShardDescriptor& shard = verdict.shard;
    std::vector<v1::KeyValue> kvs;
    for (const auto& [key, kv] : state_->data) {
      if (key >= start && (end.empty() || key < end) && Contains(shard, key)) kvs.push_back(kv);
    }
    if (reverse) std::reverse(kvs.begin(), kvs.end());
    v1::ScanResponse last;
    if (request->limit() != 0 && kvs.size() > request->limit()) {
      kvs.resize(request->limit());
      last.set_more(true);
      last.set_resume_key(reverse ? kvs.back().key() : kvs.back().key() + std::string(1, '\0'));
    } else if (!reverse && !shard.end_key().empty() && (end.empty() || end > shard.end_key())) {
      last.set_next_shard(true);
      last.set_next_key(shard.end_key());
    } else if (reverse && !shard.start_key().empty() && start < shard.start_key()) {
      last.set_next_shard(true);
      last.set_next_key(shard.start_key());
    }
    const size_t page = static_cast<size_t>(std::max(1, state_->page_size));
    for (size_t i = 0; i < kvs.size(); i += page) {
      v1::ScanResponse response;
      for (size_t j = i; j < std::min(kvs.size(), i + page); ++j) *response.add_kvs() = kvs[j];
      pages.push_back(std::move(response));
    }
    if (pages.empty()) pages.emplace_back();
    pages.back().set_more(last.more());
    pages.back().set_resume_key(last.resume_key());
    pages.back().set_next_shard(last.next_shard());
    pages.back().set_next_key(last.next_key());
    if (verdict.after) return *verdict.after;
  }
  for (const v1::ScanResponse& page : pages) {
    if (!writer->Write(page)) break;
  }
  return grpc::Status::OK;
}

// Serves claw.v1.Cluster for one node.
class FakeCluster::ClusterService final : public v1::Cluster::Service {
 public:
  ClusterService(State* state, uint64_t node_id) : state_(state), node_id_(node_id) {}

  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse* response) override {
    std::lock_guard lock(state_->mu);
    response->set_node_id(node_id_);
    response->set_name("node-" + std::to_string(node_id_));
    response->set_version("0.0.0-fake");
    for (const auto& shard : state_->shards) {
      v1::ReplicaStatus* replica = response->add_replicas();
      *replica->mutable_shard() = shard;
      replica->set_leader_node_id(state_->leaders[shard.id()]);
      replica->set_is_leader(state_->leaders[shard.id()] == node_id_);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListShards(grpc::ServerContext*, const v1::ListShardsRequest*,
                          v1::ListShardsResponse* response) override {
    std::lock_guard lock(state_->mu);
    ++state_->list_shards_calls;
    for (const auto& shard : state_->shards) {
      v1::ShardRoute* route = response->add_shards();
      *route->mutable_shard() = shard;
      if (state_->report_leaders) {
        const uint64_t leader = state_->leaders[shard.id()];
        route->set_leader_node_id(leader);
        route->set_leader_address(state_->addresses[leader]);
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ListMembers(grpc::ServerContext*, const v1::ListMembersRequest*,
                           v1::ListMembersResponse* response) override {
    std::lock_guard lock(state_->mu);
    for (const auto& [node_id, address] : state_->addresses) {
      v1::Member* member = response->add_members();
      member->set_node_id(node_id);
      member->set_name("node-" + std::to_string(node_id));
      member->set_client_address(address);
      member->set_zone("z" + std::to_string(node_id));
      member->set_reachable(!state_->stopped.contains(node_id));
    }
    response->set_self_node_id(node_id_);
    return grpc::Status::OK;
  }

 private:
  State* state_;
  uint64_t node_id_;
};

struct FakeCluster::Node {
  uint64_t id = 0;
  std::string address{};
  std::unique_ptr<KvService> kv{};
  std::unique_ptr<ClusterService> cluster{};
  std::unique_ptr<grpc::Server> server{};
};

FakeCluster::FakeCluster(int nodes) : state_(std::make_unique<State>()) {
  v1::ShardDescriptor shard;
  shard.set_id(1);
  shard.mutable_epoch()->set_conf_version(1);
  shard.mutable_epoch()->set_range_version(1);
  for (int i = 1; i <= nodes; ++i) {
    auto node = std::make_unique<Node>();
    node->id = static_cast<uint64_t>(i);
    node->kv = std::make_unique<KvService>(state_.get(), node->id);
    node->cluster = std::make_unique<ClusterService>(state_.get(), node->id);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(node->kv.get());
    builder.RegisterService(node->cluster.get());
    node->server = builder.BuildAndStart();
    node->address = "127.0.0.1:" + std::to_string(port);
    state_->addresses[node->id] = node->address;
    v1::Replica* replica = shard.add_replicas();
    replica->set_node_id(node->id);
    replica->set_replica_id(node->id);
    replica->set_role(v1::Replica::VOTER);
    nodes_.push_back(std::move(node));
  }
  state_->shards.push_back(shard);
  state_->leaders[1] = 1;
}

FakeCluster::~FakeCluster() {
  for (auto& node : nodes_) {
    if (node->server) node->server->Shutdown(std::chrono::system_clock::now());
  }
}

std::string FakeCluster::address(uint64_t node_id) const { return nodes_.at(node_id - 1)->address; }

std::vector<std::string> FakeCluster::addresses() const {
  std::vector<std::string> all;
  for (const auto& node : nodes_) all.push_back(node->address);
  return all;
}

void FakeCluster::Split(const std::string& key, uint64_t new_id, uint64_t leader) {
  std::lock_guard lock(state_->mu);
  auto it = std::find_if(state_->shards.begin(), state_->shards.end(),
                         [&](const v1::ShardDescriptor& s) { return Contains(s, key); });
  v1::ShardDescriptor right = *it;
  right.set_id(new_id);
  right.set_start_key(key);
  right.mutable_epoch()->set_range_version(it->epoch().range_version() + 1);
  it->set_end_key(key);
  it->mutable_epoch()->set_range_version(it->epoch().range_version() + 1);
  state_->leaders[new_id] = leader != 0 ? leader : state_->leaders[it->id()];
  state_->shards.insert(it + 1, right);
}

void FakeCluster::SetLeader(uint64_t shard_id, uint64_t node_id) {
  std::lock_guard lock(state_->mu);
  state_->leaders[shard_id] = node_id;
}

void FakeCluster::StopNode(uint64_t node_id) {
  nodes_.at(node_id - 1)->server->Shutdown(std::chrono::system_clock::now());
  std::lock_guard lock(state_->mu);
  state_->stopped.insert(node_id);
}

void FakeCluster::set_report_leaders(bool report) {
  std::lock_guard lock(state_->mu);
  state_->report_leaders = report;
}

void FakeCluster::set_multiplex(bool serve) {
  std::lock_guard lock(state_->mu);
  state_->multiplex = serve;
}

void FakeCluster::set_stalled(uint64_t node_id, bool stalled) {
  std::lock_guard lock(state_->mu);
  if (stalled) {
    state_->stalled.insert(node_id);
  } else {
    state_->stalled.erase(node_id);
  }
}

int FakeCluster::multiplexed_calls() const {
  std::lock_guard lock(state_->mu);
  return state_->multiplexed_calls;
}

void FakeCluster::set_batch_barrier(int calls) {
  std::lock_guard lock(state_->mu);
  state_->batch_barrier = calls;
}

int FakeCluster::max_batches_in_flight() const {
  std::lock_guard lock(state_->mu);
  return state_->max_batches_in_flight;
}

void FakeCluster::set_page_size(int keys) {
  std::lock_guard lock(state_->mu);
  state_->page_size = keys;
}

void FakeCluster::Inject(Injection injection) {
  std::lock_guard lock(state_->mu);
  state_->injections.push_back(std::move(injection));
}

std::vector<FakeCluster::Received> FakeCluster::received() const {
  std::lock_guard lock(state_->mu);
  return state_->received;
}

void FakeCluster::ClearReceived() {
  std::lock_guard lock(state_->mu);
  state_->received.clear();
}

uint64_t FakeCluster::version(const std::string& key) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->data.find(key);
  return it == state_->data.end() ? 0 : it->second.version();
}

int FakeCluster::deliveries(const std::string& request_id) const {
  std::lock_guard lock(state_->mu);
  auto it = state_->applied.find(request_id);
  return it == state_->applied.end() ? 0 : it->second;
}

std::map<std::string, std::string> FakeCluster::data() const {
  std::lock_guard lock(state_->mu);
  std::map<std::string, std::string> out;
  for (const auto& [key, kv] : state_->data) out[key] = kv.value();
  return out;
}

int FakeCluster::list_shards_calls() const {
  std::lock_guard lock(state_->mu);
  return state_->list_shards_calls;
}

}  // namespace claw::client::testing
