#include "server/checkpoint_service.h"

#include <algorithm>
#include <future>
#include <map>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "client/checkpoint_layout.h"
#include "server/kv_service.h"
#include "server/kv_state_machine.h"
#include "server/metrics.h"
#include "server/rpc_status.h"
#include "storage/mvcc.h"

namespace claw::server {

using client::CheckpointEnd;
using client::CheckpointHandleKey;
using client::CheckpointHandlesEnd;
using client::CheckpointHandlesStart;
using client::CheckpointHeaderKey;
using client::CheckpointSectionKey;
using client::CheckpointSectionsEnd;
using client::CheckpointSectionsStart;
using client::CheckpointStart;
using client::kCheckpointPrefix;

namespace {

constexpr uint64_t kMaxSectionIdBytes = 256;
// Request ids get "/<attempt>" appended; keep room for it within the KV limit of 64 bytes.
constexpr size_t kMaxCallRequestIdBytes = 60;
constexpr uint32_t kDefaultListLimit = 1000;
constexpr uint32_t kMaxListLimit = 10'000;

RequestError Invalid(std::string m) { return MakeError(RpcCode::kInvalidArgument, v1::Error::INVALID_ARGUMENT, std::move(m)); }
RequestError TooLarge(std::string m) { return MakeError(RpcCode::kInvalidArgument, v1::Error::TOO_LARGE, std::move(m)); }
RequestError NoSpace(std::string m) {
  return MakeError(RpcCode::kResourceExhausted, v1::Error::CHECKPOINT_NO_SPACE, std::move(m));
}
RequestError NotFound(const std::string& name, const std::string& why = "") {
  return MakeError(RpcCode::kNotFound, v1::Error::CHECKPOINT_NOT_FOUND,
                   "no checkpoint named '" + name + "'" + (why.empty() ? "" : " (" + why + ")"));
}
RequestError HandleNotFound(const std::string& name, uint64_t handle) {
  return MakeError(RpcCode::kNotFound, v1::Error::CHECKPOINT_HANDLE_NOT_FOUND,
                   "handle " + std::to_string(handle) + " of checkpoint '" + name +
                       "' is not open (closed, or its session lease ended); open the checkpoint again");
}
RequestError SectionNotFound(const std::string& name, const std::string& id, bool expired) {
  return MakeError(RpcCode::kNotFound, v1::Error::CHECKPOINT_SECTION_NOT_FOUND,
                   "checkpoint '" + name + "' has no section '" + id + "'" + (expired ? " (it expired)" : ""));
}
RequestError Internal(std::string m) { return MakeError(RpcCode::kInternal, v1::Error::UNAVAILABLE, std::move(m)); }

// When a wait must give up so that its error still reaches the caller before the caller's own
// deadline fires (which would leave it with a bare DEADLINE_EXCEEDED and no lagging nodes named).
std::chrono::steady_clock::time_point AnswerBy(std::chrono::steady_clock::time_point deadline) {
  const auto now = std::chrono::steady_clock::now();
  if (deadline <= now) return now;
  // The worker judges waits on its ticks (100 ms by default): leave two of them, or a tenth of
  // the time, but never more than half of it.
  const auto left = deadline - now;
  const auto margin = std::min<std::chrono::steady_clock::duration>(
      std::max<std::chrono::steady_clock::duration>(std::chrono::milliseconds(250), left / 10), left / 2);
  return deadline - margin;
}

uint64_t NowUnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// A section id for messages (binary ids hex-escaped).
std::string Printable(std::string_view id) {
  if (id.empty()) return "(default)";
  std::string out;
  for (unsigned char c : id) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Handles of one checkpoint: the low 40 bits of its creation time (ms) above a 24-bit counter,
// so that a handle of an earlier checkpoint of the same name never names one of a later one.
uint64_t HandleId(uint64_t created_ms, uint64_t counter) {
  return ((created_ms & ((uint64_t{1} << 40) - 1)) << 24) | (counter & ((uint64_t{1} << 24) - 1));
}

bool Expired(const v1::CheckpointSectionRecord& s, uint64_t now_ms) {
  return s.expiration_unix_ms() != 0 && s.expiration_unix_ms() <= now_ms;
}

void AddCompareModTs(v1::TxnRequest& txn, const std::string& key, uint64_t mod_ts) {
  v1::Compare* c = txn.add_compare();
  c->set_key(key);
  c->set_target(v1::Compare::MOD_TS);
  c->set_op(v1::Compare::EQUAL);
  c->set_mod_ts(mod_ts);
}
void AddPut(v1::TxnRequest& txn, const std::string& key, const google::protobuf::Message& value, uint64_t lease = 0) {
  v1::PutRequest* p = txn.add_success()->mutable_put();
  p->set_key(key);
  p->set_value(value.SerializeAsString());
  p->set_lease(lease);
}
void AddDelete(v1::TxnRequest& txn, const std::string& key) { txn.add_success()->mutable_delete_()->set_key(key); }

}  // namespace

// The state one attempt of a call reads: a RocksDB snapshot of the leader's applied state at a
// linearizable read point, with the shard's descriptor at that point.
struct CheckpointService::View {
  std::shared_ptr<storage::MvccReader> reader;
  v1::ShardDescriptor shard;
  v1::ResponseHeader header;
  uint64_t now_ms = 0;
  uint64_t self = 0;

  struct Value {
    uint64_t mod_ts = 0;
    std::string value;
  };
  std::expected<std::optional<Value>, RequestError> Get(const std::string& key) const {
    auto got = reader->Get(key, storage::Timestamp::Max());
    if (!got) return std::unexpected(Internal("checkpoint read failed: " + got.error().message));
    if (!got->has_value()) return std::optional<Value>();
    auto sv = DecodeStoredValue(**got);
    if (!sv) return std::unexpected(Internal("stored value of a checkpoint key is corrupt: " + sv.error()));
    return std::optional<Value>(Value{.mod_ts = sv->mod_ts, .value = std::move(sv->value)});
  }
  // Every live key of [start, end) with its value.
  std::expected<void, RequestError> Each(const std::string& start, const std::string& end,
                                         const std::function<bool(std::string_view, const Value&)>& visit) const {
    std::optional<RequestError> bad;
    auto r = reader->ForEach(start, end, storage::Timestamp::Max(), storage::ScanDirection::kForward,
                             [&](std::string_view k, std::string_view payload) {
                               auto sv = DecodeStoredValue(payload);
                               if (!sv) {
                                 bad = Internal("stored value of a checkpoint key is corrupt: " + sv.error());
                                 return false;
                               }
                               return visit(k, Value{.mod_ts = sv->mod_ts, .value = std::move(sv->value)});
                             });
    if (!r) return std::unexpected(Internal("checkpoint scan failed: " + r.error().message));
    if (bad) return std::unexpected(*bad);
    return {};
  }
  // Where this shard's part of the checkpoint key space ends.
  std::string CheckpointSpaceEnd() const {
    const std::string prefix_end = client::CheckpointPrefixEnd();
    return shard.end_key().empty() || shard.end_key() > prefix_end ? prefix_end : shard.end_key();
  }
  // The names of the shard's checkpoints whose keys lie at or after `from`, in order, until
  // `visit` returns false (one seek per checkpoint).
  std::expected<void, RequestError> EachCheckpoint(std::string from,
                                                   const std::function<bool(const std::string& name)>& visit) const {
    const std::string end = CheckpointSpaceEnd();
    while (from < end) {
      // The first key at or after `from` names the next checkpoint.
      std::optional<std::string> next;
      auto each = Each(from, end, [&](std::string_view key, const Value&) {
        next = client::CheckpointOfKey(key);
        return false;
      });
      if (!each) return std::unexpected(each.error());
      if (!next || !visit(*next)) break;
      from = CheckpointEnd(*next);
    }
    return {};
  }
};

// What one attempt decided: an error, an answer made from the read alone, or a transaction.
struct CheckpointService::Plan {
  std::optional<RequestError> error{};
  bool read_only = false;
  v1::TxnRequest txn{};
  // The keys the transaction touches (range check), and whether it ends with a get of the
  // header (every change but a deletion of the checkpoint).
  std::vector<std::string> keys{};
  bool get_header = true;
  std::string header_key{};
  // Wait until every voter stored the change (SYNCHRONOUS), or (wait_applied) everything applied
  // so far (Synchronize).
  bool wait_all = false;
  bool wait_applied = false;
  // Fills the response from the committed result (the header after the change, when fetched).
  std::function<void(const v1::TxnResponse&, const v1::CheckpointHeader*, uint64_t revision)> after{};

  static Plan Fail(RequestError e) {
    Plan p;
    p.error = std::move(e);
    return p;
  }
  static Plan Answered() {
    Plan p;
    p.read_only = true;
    return p;
  }
};

struct CheckpointService::Call {
  std::string route_key;
  v1::RequestHeader header;
  Clock::time_point deadline{};
  int attempt = 0;
  uint64_t shard = 0;
  std::function<Plan(View&)> plan;
  std::function<void(std::optional<RequestError>, const v1::ResponseHeader&)> finish;
};

namespace {

template <class Resp>
std::function<void(std::optional<RequestError>, const v1::ResponseHeader&)> Finisher(grpc::ServerUnaryReactor* r,
                                                                                      Resp* resp) {
  return [r, resp](std::optional<RequestError> e, const v1::ResponseHeader& h) {
    if (e) {
      r->Finish(ToGrpcStatus(*e));
      return;
    }
    *resp->mutable_header() = h;
    r->Finish(grpc::Status::OK);
  };
}

// The header of `name`, parsed, with its mod_ts; nullopt when the checkpoint does not exist.
struct HeaderState {
  v1::CheckpointHeader header;
  uint64_t mod_ts = 0;
};
std::expected<std::optional<HeaderState>, RequestError> LoadHeader(const CheckpointService::View& v,
                                                                   const std::string& name);

std::optional<RequestError> ValidName(const std::string& name) {
  std::string why = client::CheckpointNameError(name);
  if (why.empty()) return std::nullopt;
  return Invalid(why);
}

std::optional<RequestError> ValidHeader(const v1::RequestHeader& h) {
  if (h.request_id().size() > kMaxCallRequestIdBytes) {
    return Invalid("request_id has " + std::to_string(h.request_id().size()) + " bytes; checkpoint calls allow at most 60");
  }
  return std::nullopt;
}

}  // namespace

struct CheckpointServiceInternals {
  // Fills a CheckpointStatus from the header and the handles (not the ResponseHeader).
  static std::optional<RequestError> FillStatus(const CheckpointService::View& v, const std::string& name,
                                                const HeaderState& h, v1::CheckpointStatus* out) {
    out->set_name(name);
    *out->mutable_attributes() = h.header.attributes();
    out->set_created_unix_ms(h.header.created_unix_ms());
    out->set_size(h.header.size());
    out->set_sections(h.header.sections());
    out->set_sequence(h.header.sequence());
    out->set_unlinked(h.header.unlinked());
    out->set_closed_unix_ms(h.header.closed_unix_ms());
    if (h.header.closed_unix_ms() != 0 && !h.header.unlinked()) {
      out->set_delete_at_unix_ms(h.header.closed_unix_ms() + h.header.attributes().retention_ms());
    }
    out->set_preferred_active_node_id(h.header.preferred_active_node_id());
    out->set_shard_id(v.shard.id());
    out->set_active_node_id(v.self);
    for (const v1::Replica& r : v.shard.replicas()) {
      if (r.role() == v1::Replica::VOTER) out->add_replica_node_ids(r.node_id());
    }
    auto each = v.Each(CheckpointHandlesStart(name), CheckpointHandlesEnd(name),
                       [&](std::string_view key, const CheckpointService::View::Value& val) {
                         v1::CheckpointHandleRecord rec;
                         if (!rec.ParseFromString(val.value)) return true;
                         v1::CheckpointHandleInfo* hi = out->add_handles();
                         uint64_t id = 0;
                         for (unsigned char c : key.substr(key.size() - 8)) id = id << 8 | c;
                         hi->set_handle(id);
                         hi->set_session(rec.session());
                         hi->set_read(rec.read());
                         hi->set_write(rec.write());
                         hi->set_opened_unix_ms(rec.opened_unix_ms());
                         return true;
                       });
    if (!each) return each.error();
    return std::nullopt;
  }
};

namespace {

std::expected<std::optional<HeaderState>, RequestError> LoadHeader(const CheckpointService::View& v,
                                                                   const std::string& name) {
  auto got = v.Get(CheckpointHeaderKey(name));
  if (!got) return std::unexpected(got.error());
  if (!got->has_value()) return std::optional<HeaderState>();
  HeaderState h;
  if (!h.header.ParseFromString((*got)->value)) {
    return std::unexpected(Internal("the header of checkpoint '" + name + "' does not parse"));
  }
  h.mod_ts = (*got)->mod_ts;
  return std::optional<HeaderState>(std::move(h));
}

// An open handle of the checkpoint, with its record and mod_ts.
struct HandleState {
  v1::CheckpointHandleRecord record;
  uint64_t mod_ts = 0;
};

// Everything a handle call needs: the header (which must exist) and the handle (which must be
// open, with the mode asked for).
struct Opened {
  HeaderState h;
  HandleState handle;
};
enum class Need { kRead, kWrite };
std::expected<Opened, RequestError> LoadOpened(const CheckpointService::View& v, const std::string& name,
                                               uint64_t handle, Need need) {
  auto h = LoadHeader(v, name);
  if (!h) return std::unexpected(h.error());
  if (!h->has_value()) return std::unexpected(NotFound(name));
  auto got = v.Get(CheckpointHandleKey(name, handle));
  if (!got) return std::unexpected(got.error());
  if (!got->has_value()) return std::unexpected(HandleNotFound(name, handle));
  Opened o{.h = std::move(**h), .handle = {}};
  if (!o.handle.record.ParseFromString((*got)->value)) {
    return std::unexpected(Internal("the record of handle " + std::to_string(handle) + " does not parse"));
  }
  o.handle.mod_ts = (*got)->mod_ts;
  if (need == Need::kWrite && !o.handle.record.write()) {
    return std::unexpected(MakeError(RpcCode::kFailedPrecondition, v1::Error::CHECKPOINT_ACCESS_DENIED,
                                     "handle " + std::to_string(handle) + " of checkpoint '" + name +
                                         "' was opened without write access; open it for writing"));
  }
  if (need == Need::kRead && !o.handle.record.read()) {
    return std::unexpected(MakeError(RpcCode::kFailedPrecondition, v1::Error::CHECKPOINT_ACCESS_DENIED,
                                     "handle " + std::to_string(handle) + " of checkpoint '" + name +
                                         "' was opened without read access; open it for reading"));
  }
  return o;
}

// A section as stored (present = the key exists, expired or not).
struct SectionState {
  bool present = false;
  v1::CheckpointSectionRecord record;
};
std::expected<SectionState, RequestError> LoadSection(const CheckpointService::View& v, const std::string& name,
                                                      const std::string& id) {
  auto got = v.Get(CheckpointSectionKey(name, id));
  if (!got) return std::unexpected(got.error());
  SectionState s;
  if (!got->has_value()) return s;
  s.present = true;
  if (!s.record.ParseFromString((*got)->value)) {
    return std::unexpected(Internal("section '" + Printable(id) + "' of checkpoint '" + name + "' does not parse"));
  }
  return s;
}

// The start of every change: compares on the header (and the handle when there is one), the
// header key in the range check, the new header's sequence.
void BeginChange(CheckpointService::Plan& p, const std::string& name, const HeaderState& h, const HandleState* handle,
                 uint64_t handle_id) {
  p.header_key = CheckpointHeaderKey(name);
  AddCompareModTs(p.txn, p.header_key, h.mod_ts);
  p.keys.push_back(p.header_key);
  if (handle != nullptr) {
    const std::string hk = CheckpointHandleKey(name, handle_id);
    AddCompareModTs(p.txn, hk, handle->mod_ts);
    p.keys.push_back(hk);
  }
}
void PutHeader(CheckpointService::Plan& p, v1::CheckpointHeader header) {
  header.set_sequence(header.sequence() + 1);
  AddPut(p.txn, p.header_key, header);
}

// Checks the attributes of a create and fills in the defaults.
std::expected<v1::CheckpointAttributes, RequestError> Normalize(v1::CheckpointAttributes a, const CheckpointOptions& o) {
  if (a.replication() == v1::REPLICATION_UNSPECIFIED) a.set_replication(v1::ASYNCHRONOUS);
  if (a.replication() != v1::SYNCHRONOUS && a.replication() != v1::ASYNCHRONOUS) {
    return std::unexpected(Invalid("unknown replication mode " + std::to_string(a.replication())));
  }
  if (a.retention_ms() == 0) a.set_retention_ms(o.default_retention_ms);
  if (a.retention_ms() > o.max_retention_ms) {
    return std::unexpected(Invalid("retention of " + std::to_string(a.retention_ms()) + " ms is over checkpoint.max_retention_ms (" +
                                   std::to_string(o.max_retention_ms) + ")"));
  }
  if (a.max_size() == 0) a.set_max_size(o.max_checkpoint_bytes);
  if (a.max_size() > o.max_checkpoint_bytes) {
    return std::unexpected(TooLarge("max_size " + std::to_string(a.max_size()) + " is over checkpoint.max_checkpoint_bytes (" +
                                    std::to_string(o.max_checkpoint_bytes) + ")"));
  }
  if (a.max_sections() == 0) a.set_max_sections(1);
  if (a.max_sections() > o.max_sections) {
    return std::unexpected(TooLarge("max_sections " + std::to_string(a.max_sections()) + " is over checkpoint.max_sections (" +
                                    std::to_string(o.max_sections) + ")"));
  }
  if (a.max_section_size() == 0) a.set_max_section_size(std::min(o.max_section_bytes, a.max_size()));
  if (a.max_section_size() > o.max_section_bytes) {
    return std::unexpected(TooLarge("max_section_size " + std::to_string(a.max_section_size()) +
                                    " is over checkpoint.max_section_bytes (" + std::to_string(o.max_section_bytes) + ")"));
  }
  if (a.max_section_id_size() == 0) a.set_max_section_id_size(kMaxSectionIdBytes);
  if (a.max_section_id_size() > kMaxSectionIdBytes) {
    return std::unexpected(Invalid("max_section_id_size " + std::to_string(a.max_section_id_size()) + " is over 256"));
  }
  return a;
}

// The size check of a section id for a checkpoint with attributes `a`.
std::optional<RequestError> ValidSectionId(const std::string& name, const v1::CheckpointAttributes& a,
                                           const std::string& id, bool allow_default) {
  if (id.empty()) {
    if (allow_default && a.max_sections() == 1) return std::nullopt;
    return Invalid(a.max_sections() == 1
                       ? "checkpoint '" + name + "' has only its default section (empty id)"
                       : "an empty section id names the default section, which only checkpoints with max_sections 1 have");
  }
  if (a.max_sections() == 1 && allow_default) {
    return SectionNotFound(name, id, false);
  }
  if (id.size() > a.max_section_id_size()) {
    return TooLarge("section id of " + std::to_string(id.size()) + " bytes is over the checkpoint's max_section_id_size (" +
                    std::to_string(a.max_section_id_size()) + ")");
  }
  return std::nullopt;
}

// Lowers the header's earliest expiration to include `expiration` (0 = none).
void NoteExpiration(v1::CheckpointHeader& h, uint64_t expiration) {
  if (expiration == 0) return;
  if (h.earliest_expiration_unix_ms() == 0 || expiration < h.earliest_expiration_unix_ms()) {
    h.set_earliest_expiration_unix_ms(expiration);
  }
}

}  // namespace

CheckpointService::CheckpointService(CheckpointOptions options, Store* store, Router* router, KvService* kv)
    : options_(options), store_(store), router_(router), kv_(kv) {
  if (options_.metrics != nullptr) {
    prometheus::Registry& r = options_.metrics->registry();
    checkpoints_ = &prometheus::BuildGauge()
                        .Name("clawd_checkpoints")
                        .Help("Named checkpoints in the shards this node leads, as of its last cleanup pass.")
                        .Register(r)
                        .Add({});
    replans_ = &prometheus::BuildCounter()
                    .Name("clawd_checkpoint_replans_total")
                    .Help("Checkpoint calls planned again because the checkpoint changed between their read and "
                          "their write.")
                    .Register(r)
                    .Add({});
    auto& deleted = prometheus::BuildCounter()
                        .Name("clawd_checkpoints_deleted_total")
                        .Help("Checkpoints deleted by this node's cleanup, by reason (retention ran out with no "
                              "handle open; unlinked and the last handle closed by its session's end).")
                        .Register(r);
    deleted_retention_ = &deleted.Add({{"reason", "retention"}});
    deleted_unlinked_ = &deleted.Add({{"reason", "unlinked"}});
    sections_expired_ = &prometheus::BuildCounter()
                             .Name("clawd_checkpoint_sections_expired_total")
                             .Help("Checkpoint sections deleted by this node's cleanup because their expiration time "
                                   "passed.")
                             .Register(r)
                             .Add({});
    session_closes_ = &prometheus::BuildCounter()
                           .Name("clawd_checkpoint_session_closes_total")
                           .Help("Checkpoints whose last handle went with its session's end (the owner stopped "
                                 "keeping its lease alive), as noticed by this node's cleanup.")
                           .Register(r)
                           .Add({});
  }
  executor_ = std::thread([this] { ExecutorLoop(); });
  sweeper_ = std::thread([this] { SweepLoop(); });
}

CheckpointService::~CheckpointService() { Stop(); }

void CheckpointService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  // The cleanup loop first (its calls still need the executor), then the executor.
  if (sweeper_.joinable()) sweeper_.join();
  {
    std::lock_guard lock(mu_);
    executor_stopping_ = true;
  }
  cv_.notify_all();
  if (executor_.joinable()) executor_.join();
}

void CheckpointService::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (!executor_stopped_) {
      tasks_.push_back(std::move(task));
      cv_.notify_all();
      return;
    }
  }
  task();  // after Stop: run here, so that the call still gets its answer
}

void CheckpointService::ExecutorLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return executor_stopping_ || !tasks_.empty(); });
    // Tasks posted before Stop still run: each finishes its call.
    if (tasks_.empty()) {
      executor_stopped_ = true;
      return;
    }
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

CheckpointService::Clock::time_point CheckpointService::Deadline(const grpc::CallbackServerContext* ctx) const {
  const auto now_sys = std::chrono::system_clock::now();
  const auto now = Clock::now();
  const auto dl = ctx->deadline();
  if (dl - now_sys > std::chrono::hours(24 * 365)) return now + std::chrono::milliseconds(options_.default_deadline_ms);
  return now + std::chrono::duration_cast<Clock::duration>(dl - now_sys);
}

void CheckpointService::Start(std::shared_ptr<Call> call) {
  if (auto e = ValidHeader(call->header)) return call->finish(*e, {});
  KvService::Target t = kv_->Route(call->header, {call->route_key}, nullptr);
  if (t.refuse) return call->finish(*t.refuse, {});
  call->shard = t.shard;
  Attempt(std::move(call));
}

void CheckpointService::Attempt(std::shared_ptr<Call> call) {
  if (Clock::now() >= call->deadline) {
    return call->finish(MakeError(RpcCode::kDeadlineExceeded, v1::Error::UNAVAILABLE,
                                  "deadline passed (after " + std::to_string(call->attempt) + " attempts)", false),
                        {});
  }
  auto route = router_->Get(call->shard);
  if (!route) {
    return call->finish(MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND,
                                  "shard " + std::to_string(call->shard) + " is not known here"),
                        {});
  }
  ReadRequest r{.shard = call->shard, .check_epoch = true, .epoch = route->shard.epoch(), .keys = {call->route_key}};
  r.consistency = v1::LINEARIZABLE;
  r.deadline = call->deadline;
  r.done = [this, call](std::expected<ReadContext, RequestError> ready) {
    if (!ready) return call->finish(ready.error(), {});
    auto view = std::make_shared<View>();
    view->reader = std::make_shared<storage::MvccReader>(*ready->engine);  // the snapshot, taken now
    view->shard = ready->shard;
    view->header = ready->header;
    view->self = options_.node_id;
    Post([this, call, view] {
      view->now_ms = NowUnixMs();
      auto plan = std::make_shared<Plan>(call->plan(*view));
      if (plan->error) return call->finish(*plan->error, {});
      if (plan->read_only && !plan->wait_applied) return call->finish(std::nullopt, view->header);
      if (plan->wait_applied) {
        const v1::ResponseHeader header = view->header;
        store_->WaitReplicated(call->shard, header.applied_index(), AnswerBy(call->deadline),
                               [call, header](std::expected<void, RequestError> w) {
                                 call->finish(w ? std::nullopt : std::optional<RequestError>(w.error()), header);
                               });
        return;
      }
      plan->txn.clear_header();
      plan->keys.insert(plan->keys.begin(), call->route_key);
      Propose(call, std::move(plan));
    });
  };
  store_->Read(std::move(r));
}

void CheckpointService::Propose(std::shared_ptr<Call> call, std::shared_ptr<Plan> plan) {
  if (plan->get_header) plan->txn.add_success()->mutable_get()->set_key(plan->header_key);
  if (static_cast<uint64_t>(std::max(plan->txn.compare_size(), plan->txn.success_size())) > options_.max_txn_ops) {
    return call->finish(TooLarge("the change needs " + std::to_string(plan->txn.success_size()) +
                                 " operations in one transaction; the limit is " + std::to_string(options_.max_txn_ops) +
                                 " (limits.max_txn_ops): change fewer sections per call"),
                        {});
  }
  if (plan->txn.ByteSizeLong() > options_.max_request_bytes) {
    return call->finish(TooLarge("the change rewrites " + std::to_string(plan->txn.ByteSizeLong()) +
                                 " bytes of sections in one transaction; the limit is " +
                                 std::to_string(options_.max_request_bytes) +
                                 " (limits.max_request_bytes): change fewer or smaller sections per call"),
                        {});
  }
  auto route = router_->Get(call->shard);
  if (!route) return call->finish(MakeError(RpcCode::kNotFound, v1::Error::SHARD_NOT_FOUND, "shard left this node"), {});
  ProposalRequest p{.shard = call->shard, .check_epoch = true, .epoch = route->shard.epoch(), .keys = plan->keys};
  *p.command.mutable_txn() = plan->txn;
  *p.command.mutable_epoch() = route->shard.epoch();
  if (!call->header.request_id().empty()) {
    p.command.set_request_id(call->header.request_id() + "/" + std::to_string(call->attempt));
  }
  p.durability = v1::QUORUM;
  p.deadline = call->deadline;
  p.done = [this, call, plan](std::expected<ProposalResult, RequestError> r) {
    if (!r) return call->finish(r.error(), {});
    if (!r->result.succeeded()) {
      // Another change came between the read and this one: plan again from a fresh read.
      Inc(replans_);
      if (++call->attempt >= kMaxAttempts) {
        return call->finish(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE,
                                      "checkpoint changed concurrently " + std::to_string(kMaxAttempts) +
                                          " times while this call was planned; retry"),
                            {});
      }
      return Attempt(call);
    }
    v1::CheckpointHeader after;
    uint64_t revision = 0;
    const v1::CheckpointHeader* after_ptr = nullptr;
    if (plan->get_header && r->result.results_size() > 0) {
      const v1::OpResult& last = r->result.results(r->result.results_size() - 1);
      if (last.has_get() && last.get().found() && after.ParseFromString(last.get().kv().value())) {
        after_ptr = &after;
        revision = last.get().kv().mod_ts();
      }
    }
    if (plan->after) plan->after(r->result, after_ptr, revision);
    if (plan->wait_all) {
      const v1::ResponseHeader header = r->header;
      store_->WaitReplicated(call->shard, header.applied_index(), AnswerBy(call->deadline),
                             [call, header](std::expected<void, RequestError> w) {
                               call->finish(w ? std::nullopt : std::optional<RequestError>(w.error()), header);
                             });
      return;
    }
    call->finish(std::nullopt, r->header);
  };
  store_->Propose(std::move(p));
}

// The id of the member named `node` (its name, or its id in decimal); 0 when none is.
static uint64_t MemberId(const Router& router, const std::string& node) {
  for (const MemberInfo& m : router.Members()) {
    if (m.name == node || std::to_string(m.id) == node) return m.id;
  }
  return 0;
}

// The call of a request naming a checkpoint, routed by its header key; nullptr when the name is
// invalid (the call is answered then).
template <class Req, class Resp>
static std::shared_ptr<CheckpointService::Call> NewCall(const Req& req, Resp* resp, grpc::ServerUnaryReactor* reactor,
                                                        CheckpointService::Clock::time_point deadline) {
  auto call = std::make_shared<CheckpointService::Call>();
  call->route_key = CheckpointHeaderKey(req.name());
  call->header = req.header();
  call->deadline = deadline;
  call->finish = Finisher(reactor, resp);
  if (auto e = ValidName(req.name())) {
    call->finish(*e, {});
    return nullptr;
  }
  return call;
}

// ---------------------------------------------------------------------------------------------
// Open / Close / Unlink / Status / List / SetRetention / SetActiveReplica

grpc::ServerUnaryReactor* CheckpointService::Open(grpc::CallbackServerContext* ctx, const v1::CheckpointOpenRequest* req,
                                                  v1::CheckpointOpenResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (!req->read() && !req->write()) {
    return call->finish(Invalid("open checkpoint '" + name + "' for read, write or both (create alone opens nothing)"), {}), reactor;
  }
  if (req->session() == 0) {
    return call->finish(Invalid("a session lease is required: grant a lease (claw.v1.Lease/Grant), keep it alive, and pass "
                          "its id; the handle closes when it ends"),
                  {}),
           reactor;
  }
  std::optional<v1::CheckpointAttributes> attrs;
  if (req->create()) {
    auto a = Normalize(req->attributes(), options_);
    if (!a) return call->finish(a.error(), {}), reactor;
    attrs = *a;
  }
  // A collocated checkpoint's active node: by name or id among the cluster's members.
  uint64_t preferred = 0;
  if (req->create() && attrs->collocated()) {
    if (req->active_node().empty()) {
      preferred = options_.node_id;
    } else {
      preferred = MemberId(*router_, req->active_node());
      if (preferred == 0) return call->finish(Invalid("no node named '" + req->active_node() + "' is a member"), {}), reactor;
    }
  } else if (!req->active_node().empty()) {
    return call->finish(Invalid("active_node applies to the creation of a collocated checkpoint only"), {}), reactor;
  }
  const bool read = req->read(), write = req->write(), create = req->create();
  const uint64_t session = req->session();
  call->plan = [name, read, write, create, session, attrs, preferred, resp](View& v) -> Plan {
    auto h = LoadHeader(v, name);
    if (!h) return Plan::Fail(h.error());
    Plan p;
    HeaderState state;
    bool created = false;
    if (!h->has_value()) {
      if (!create) return Plan::Fail(NotFound(name));
      created = true;
      v1::CheckpointHeader& nh = state.header;
      *nh.mutable_attributes() = *attrs;
      nh.set_created_unix_ms(v.now_ms);
      nh.set_next_handle(1);
      nh.set_next_section(1);
      nh.set_preferred_active_node_id(preferred);
      if (attrs->max_sections() == 1) nh.set_sections(1);  // the default section
    } else {
      state = std::move(**h);
      if (state.header.unlinked()) {
        return create ? Plan::Fail(MakeError(RpcCode::kAlreadyExists, v1::Error::CHECKPOINT_EXISTS,
                                             "checkpoint '" + name +
                                                 "' was unlinked and still has open handles; the name is free once "
                                                 "they close"))
                      : Plan::Fail(NotFound(name, "unlinked"));
      }
      if (create) {
        const v1::CheckpointAttributes& mine = *attrs;
        const v1::CheckpointAttributes& theirs = state.header.attributes();
        if (mine.SerializeAsString() != theirs.SerializeAsString()) {
          return Plan::Fail(MakeError(RpcCode::kAlreadyExists, v1::Error::CHECKPOINT_EXISTS,
                                      "checkpoint '" + name + "' exists with other creation attributes (" +
                                          theirs.ShortDebugString() + "); open it without create, or with those"));
        }
      }
    }
    BeginChange(p, name, state, nullptr, 0);
    v1::CheckpointHeader nh = state.header;
    // A free handle id: the counter's next value whose key does not exist (it wraps after 2^24).
    uint64_t counter = nh.next_handle();
    uint64_t handle = 0;
    for (int tries = 0; tries < 64; ++tries, ++counter) {
      handle = HandleId(nh.created_unix_ms(), counter);
      auto exists = v.Get(CheckpointHandleKey(name, handle));
      if (!exists) return Plan::Fail(exists.error());
      if (!exists->has_value()) break;
      handle = 0;
    }
    if (handle == 0) return Plan::Fail(NoSpace("no free handle id for checkpoint '" + name + "'"));
    nh.set_next_handle(counter + 1);
    nh.set_closed_unix_ms(0);
    const std::string hk = CheckpointHandleKey(name, handle);
    AddCompareModTs(p.txn, hk, 0);
    p.keys.push_back(hk);
    PutHeader(p, nh);
    v1::CheckpointHandleRecord rec;
    rec.set_session(session);
    rec.set_read(read);
    rec.set_write(write);
    rec.set_opened_unix_ms(v.now_ms);
    AddPut(p.txn, hk, rec, session);
    if (created && attrs->max_sections() == 1) {
      v1::CheckpointSectionRecord def;
      def.set_last_update_unix_ms(v.now_ms);
      def.set_sequence(1);
      const std::string sk = CheckpointSectionKey(name, "");
      AddPut(p.txn, sk, def);
      p.keys.push_back(sk);
    }
    const v1::ShardDescriptor shard = v.shard;
    const uint64_t self = v.self;
    p.after = [resp, name, shard, self](const v1::TxnResponse&, const v1::CheckpointHeader* after, uint64_t) {
      if (after == nullptr) return;
      // From the header as this change left it (a retried call gets its first attempt's answer
      // from the dedup record): the handle it allocated is the one below the counter, and the
      // change that creates a checkpoint is its first.
      resp->set_handle(HandleId(after->created_unix_ms(), after->next_handle() - 1));
      resp->set_created(after->sequence() == 1);
      v1::CheckpointStatus* st = resp->mutable_status();
      st->set_name(name);
      *st->mutable_attributes() = after->attributes();
      st->set_created_unix_ms(after->created_unix_ms());
      st->set_size(after->size());
      st->set_sections(after->sections());
      st->set_sequence(after->sequence());
      st->set_preferred_active_node_id(after->preferred_active_node_id());
      st->set_shard_id(shard.id());
      st->set_active_node_id(self);
      for (const v1::Replica& r : shard.replicas()) {
        if (r.role() == v1::Replica::VOTER) st->add_replica_node_ids(r.node_id());
      }
    };
    return p;
  };
  auto start = [this, call, session]() {
    const auto& check = kv_->lease_check();
    if (!check) {
      return call->finish(MakeError(RpcCode::kUnavailable, v1::Error::UNAVAILABLE, "leases are not served yet"), {});
    }
    check(session, call->deadline, [this, call](std::optional<RequestError> err) {
      if (err) return call->finish(*err, {});
      Start(call);
    });
  };
  start();
  return reactor;
}

namespace {

// A change of the header alone (`change` edits it, or refuses), answered with the status as the
// change leaves it.
CheckpointService::Plan HeaderChange(const CheckpointService::View& v, const std::string& name, v1::CheckpointStatus* resp,
                                     const std::function<std::optional<RequestError>(v1::CheckpointHeader&)>& change) {
  using Plan = CheckpointService::Plan;
  auto h = LoadHeader(v, name);
  if (!h) return Plan::Fail(h.error());
  if (!h->has_value() || (*h)->header.unlinked()) return Plan::Fail(NotFound(name));
  Plan p;
  BeginChange(p, name, **h, nullptr, 0);
  v1::CheckpointHeader nh = (*h)->header;
  if (auto e = change(nh)) return Plan::Fail(*e);
  PutHeader(p, nh);
  HeaderState after = **h;
  after.header = nh;
  after.header.set_sequence(nh.sequence() + 1);
  resp->Clear();
  if (auto e = CheckpointServiceInternals::FillStatus(v, name, after, resp)) return Plan::Fail(*e);
  return p;
}

// Section `id` unless it is missing or expired (CHECKPOINT_SECTION_NOT_FOUND).
std::expected<v1::CheckpointSectionRecord, RequestError> LoadLiveSection(const CheckpointService::View& v,
                                                                         const std::string& name, const std::string& id) {
  auto s = LoadSection(v, name, id);
  if (!s) return std::unexpected(s.error());
  if (!s->present || Expired(s->record, v.now_ms)) return std::unexpected(SectionNotFound(name, Printable(id), s->present));
  return std::move(s->record);
}

// Writes `rec` as section `id` in the planned change; `stamp`: as written by this change (the
// header's sequence after it, `header` being the header before PutHeader's increment).
void PutSection(CheckpointService::Plan& p, const CheckpointService::View& v, const std::string& name,
                const std::string& id, v1::CheckpointSectionRecord rec, const v1::CheckpointHeader& header, bool stamp) {
  if (stamp) rec.set_last_update_unix_ms(v.now_ms);
  rec.set_sequence(header.sequence() + 1);
  const std::string sk = CheckpointSectionKey(name, id);
  AddPut(p.txn, sk, rec);
  p.keys.push_back(sk);
}

// Deletes the whole checkpoint (every key of its range) in the plan's transaction.
void DeleteAll(CheckpointService::Plan& p, const std::string& name) {
  v1::DeleteRangeRequest* d = p.txn.add_success()->mutable_delete_range();
  d->set_start_key(CheckpointStart(name));
  d->set_end_key(CheckpointEnd(name));
  p.keys.push_back(CheckpointStart(name));
  p.get_header = false;
}

// How many handles the checkpoint has open, other than `except`.
std::expected<uint64_t, RequestError> CountHandles(const CheckpointService::View& v, const std::string& name,
                                                   uint64_t except) {
  uint64_t n = 0;
  const std::string skip = except == 0 ? std::string() : CheckpointHandleKey(name, except);
  auto each = v.Each(CheckpointHandlesStart(name), CheckpointHandlesEnd(name),
                     [&](std::string_view key, const CheckpointService::View::Value&) {
                       if (key != skip) ++n;
                       return true;
                     });
  if (!each) return std::unexpected(each.error());
  return n;
}

}  // namespace

grpc::ServerUnaryReactor* CheckpointService::Close(grpc::CallbackServerContext* ctx, const v1::CheckpointCloseRequest* req,
                                                   v1::CheckpointCloseResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  const uint64_t handle = req->handle();
  call->plan = [name, handle](View& v) -> Plan {
    auto h = LoadHeader(v, name);
    if (!h) return Plan::Fail(h.error());
    if (!h->has_value()) return Plan::Fail(HandleNotFound(name, handle));
    auto got = v.Get(CheckpointHandleKey(name, handle));
    if (!got) return Plan::Fail(got.error());
    if (!got->has_value()) return Plan::Fail(HandleNotFound(name, handle));
    auto others = CountHandles(v, name, handle);
    if (!others) return Plan::Fail(others.error());
    Plan p;
    HandleState hs{.record = {}, .mod_ts = (*got)->mod_ts};
    BeginChange(p, name, **h, &hs, handle);
    if (*others == 0 && (*h)->header.unlinked()) {
      DeleteAll(p, name);  // the last handle of an unlinked checkpoint: it goes now
      return p;
    }
    AddDelete(p.txn, CheckpointHandleKey(name, handle));
    v1::CheckpointHeader nh = (*h)->header;
    if (*others == 0) nh.set_closed_unix_ms(v.now_ms);  // the retention timer starts
    PutHeader(p, nh);
    return p;
  };
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::Unlink(grpc::CallbackServerContext* ctx, const v1::CheckpointUnlinkRequest* req,
                                                    v1::CheckpointUnlinkResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  call->plan = [name, resp](View& v) -> Plan {
    auto h = LoadHeader(v, name);
    if (!h) return Plan::Fail(h.error());
    if (!h->has_value() || (*h)->header.unlinked()) return Plan::Fail(NotFound(name));
    auto open = CountHandles(v, name, 0);
    if (!open) return Plan::Fail(open.error());
    Plan p;
    BeginChange(p, name, **h, nullptr, 0);
    if (*open == 0) {
      DeleteAll(p, name);
      p.after = [resp](const v1::TxnResponse&, const v1::CheckpointHeader*, uint64_t) { resp->set_deleted(true); };
      return p;
    }
    v1::CheckpointHeader nh = (*h)->header;
    nh.set_unlinked(true);
    PutHeader(p, nh);
    return p;
  };
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::Status(grpc::CallbackServerContext* ctx, const v1::CheckpointStatusRequest* req,
                                                    v1::CheckpointStatus* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  call->plan = [name, resp](View& v) -> Plan {
    auto h = LoadHeader(v, name);
    if (!h) return Plan::Fail(h.error());
    if (!h->has_value()) return Plan::Fail(NotFound(name));
    resp->Clear();
    if (auto e = CheckpointServiceInternals::FillStatus(v, name, **h, resp)) return Plan::Fail(*e);
    return Plan::Answered();
  };
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::List(grpc::CallbackServerContext* ctx, const v1::CheckpointListRequest* req,
                                                  v1::CheckpointListResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto finish = Finisher(reactor, resp);
  std::string start = req->start_key().empty() ? std::string(kCheckpointPrefix) : req->start_key();
  const std::string prefix_end = client::CheckpointPrefixEnd();
  if (start < kCheckpointPrefix || start >= prefix_end) {
    return finish(Invalid("start_key must lie in the checkpoint key space (a previous answer's next_key)"), {}), reactor;
  }
  if (req->limit() > kMaxListLimit) return finish(Invalid("limit is at most 10000"), {}), reactor;
  const uint32_t limit = req->limit() == 0 ? kDefaultListLimit : req->limit();
  auto call = std::make_shared<Call>();
  call->route_key = start;
  call->header = req->header();
  call->deadline = Deadline(ctx);
  call->finish = finish;
  call->plan = [start, prefix_end, limit, resp](View& v) -> Plan {
    resp->Clear();
    std::optional<RequestError> bad;
    bool full = false;
    auto each = v.EachCheckpoint(start, [&](const std::string& name) {
      if (static_cast<uint32_t>(resp->checkpoints_size()) >= limit) {
        resp->set_next_key(CheckpointStart(name));
        full = true;
        return false;
      }
      auto h = LoadHeader(v, name);
      if (!h) bad = h.error();
      if (h && h->has_value()) bad = CheckpointServiceInternals::FillStatus(v, name, **h, resp->add_checkpoints());
      return !bad;
    });
    if (!each) return Plan::Fail(each.error());
    if (bad) return Plan::Fail(*bad);
    const std::string end = v.CheckpointSpaceEnd();
    if (!full && end != prefix_end) resp->set_next_key(end);  // the listing goes on in the next shard
    return Plan::Answered();
  };
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::SetRetention(grpc::CallbackServerContext* ctx,
                                                          const v1::CheckpointSetRetentionRequest* req,
                                                          v1::CheckpointStatus* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (req->retention_ms() > options_.max_retention_ms) {
    return call->finish(Invalid("retention of " + std::to_string(req->retention_ms()) + " ms is over checkpoint.max_retention_ms (" +
                          std::to_string(options_.max_retention_ms) + ")"),
                  {}),
           reactor;
  }
  const uint64_t retention = req->retention_ms();
  call->plan = [name, retention, resp](View& v) -> Plan {
    return HeaderChange(v, name, resp, [&](v1::CheckpointHeader& h) -> std::optional<RequestError> {
      h.mutable_attributes()->set_retention_ms(retention);
      return std::nullopt;
    });
  };
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::SetActiveReplica(grpc::CallbackServerContext* ctx,
                                                              const v1::CheckpointSetActiveReplicaRequest* req,
                                                              v1::CheckpointStatus* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  const uint64_t node = MemberId(*router_, req->node());
  if (node == 0) return call->finish(Invalid("no node named '" + req->node() + "' is a member"), {}), reactor;
  call->plan = [name, node, resp](View& v) -> Plan {
    return HeaderChange(v, name, resp, [&](v1::CheckpointHeader& h) -> std::optional<RequestError> {
      if (!h.attributes().collocated()) {
        return MakeError(RpcCode::kFailedPrecondition, v1::Error::INVALID_ARGUMENT,
                         "checkpoint '" + name + "' is not collocated: its active replica is placed by the cluster");
      }
      h.set_preferred_active_node_id(node);
      return std::nullopt;
    });
  };
  Start(call);
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Sections

namespace {

// Shared shape of the section calls: load header + handle with the access needed, then `body`.
using SectionBody = std::function<CheckpointService::Plan(CheckpointService::View&, Opened&, CheckpointService::Plan&)>;
std::function<CheckpointService::Plan(CheckpointService::View&)> WithHandle(std::string name, uint64_t handle, Need need,
                                                                             bool change, SectionBody body) {
  return [name = std::move(name), handle, need, change, body = std::move(body)](CheckpointService::View& v) {
    auto o = LoadOpened(v, name, handle, need);
    if (!o) return CheckpointService::Plan::Fail(o.error());
    CheckpointService::Plan p;
    if (change) {
      BeginChange(p, name, o->h, &o->handle, handle);
      p.wait_all = o->h.header.attributes().replication() == v1::SYNCHRONOUS;
    }
    return body(v, *o, p);
  };
}

void FillWrite(v1::SectionWriteResponse* resp, CheckpointService::Plan& p) {
  p.after = [resp](const v1::TxnResponse&, const v1::CheckpointHeader* after, uint64_t revision) {
    if (after != nullptr) resp->set_sequence(after->sequence());
    resp->set_revision(revision);
  };
}

}  // namespace


grpc::ServerUnaryReactor* CheckpointService::CreateSection(grpc::CallbackServerContext* ctx,
                                                           const v1::SectionCreateRequest* req,
                                                           v1::SectionCreateResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (req->generate() && !req->section_id().empty()) {
    return call->finish(Invalid("give a section id or ask for a generated one, not both"), {}), reactor;
  }
  if (!req->generate() && req->section_id().empty()) {
    return call->finish(Invalid("the default section (empty id) is created with the checkpoint; name the section or "
                                "ask for a generated id"),
                        {}),
           reactor;
  }
  if (req->data().size() > options_.max_section_bytes) {
    return call->finish(TooLarge("section data of " + std::to_string(req->data().size()) +
                                 " bytes is over checkpoint.max_section_bytes (" + std::to_string(options_.max_section_bytes) + ")"),
                        {}),
           reactor;
  }
  const v1::SectionCreateRequest r = *req;
  call->plan = WithHandle(name, req->handle(), Need::kWrite, true, [r, resp, name](View& v, Opened& o, Plan& p) -> Plan {
    const v1::CheckpointAttributes& a = o.h.header.attributes();
    if (a.max_sections() == 1) {
      return Plan::Fail(NoSpace("checkpoint '" + name + "' has max_sections 1: only its default section; write that"));
    }
    v1::CheckpointHeader nh = o.h.header;
    std::string id = r.section_id();
    if (r.generate()) {
      uint64_t n = nh.next_section();
      for (int tries = 0; tries < 64; ++tries, ++n) {
        id = "@" + std::to_string(n);
        auto s = LoadSection(v, name, id);
        if (!s) return Plan::Fail(s.error());
        if (!s->present) break;
        id.clear();
      }
      if (id.empty()) return Plan::Fail(NoSpace("no free generated section id"));
      nh.set_next_section(n + 1);
    } else if (auto e = ValidSectionId(name, a, id, false)) {
      return Plan::Fail(*e);
    }
    auto s = LoadSection(v, name, id);
    if (!s) return Plan::Fail(s.error());
    uint64_t sections = nh.sections();
    uint64_t size = nh.size();
    if (s->present) {
      if (!Expired(s->record, v.now_ms)) {
        return Plan::Fail(MakeError(RpcCode::kAlreadyExists, v1::Error::CHECKPOINT_EXISTS,
                                    "checkpoint '" + name + "' has a section '" + Printable(id) + "' already"));
      }
      sections -= 1;  // an expired one not yet removed: replaced
      size -= s->record.data().size();
    }
    if (sections + 1 > a.max_sections()) {
      return Plan::Fail(NoSpace("checkpoint '" + name + "' has " + std::to_string(sections) +
                                " sections, its max_sections; delete one first"));
    }
    if (r.data().size() > a.max_section_size()) {
      return Plan::Fail(TooLarge("section data of " + std::to_string(r.data().size()) +
                                 " bytes is over the checkpoint's max_section_size (" + std::to_string(a.max_section_size()) + ")"));
    }
    if (size + r.data().size() > a.max_size()) {
      return Plan::Fail(NoSpace("checkpoint '" + name + "' would hold " + std::to_string(size + r.data().size()) +
                                " bytes, over its max_size (" + std::to_string(a.max_size()) + ")"));
    }
    if (r.expiration_unix_ms() != 0 && r.expiration_unix_ms() <= v.now_ms) {
      return Plan::Fail(Invalid("expiration time " + std::to_string(r.expiration_unix_ms()) + " has passed already"));
    }
    nh.set_sections(sections + 1);
    nh.set_size(size + r.data().size());
    NoteExpiration(nh, r.expiration_unix_ms());
    PutHeader(p, nh);
    v1::CheckpointSectionRecord rec;
    rec.set_data(r.data());
    rec.set_expiration_unix_ms(r.expiration_unix_ms());
    PutSection(p, v, name, id, std::move(rec), nh, /*stamp=*/true);
    resp->set_section_id(id);
    const bool generated = r.generate();
    p.after = [resp, generated](const v1::TxnResponse&, const v1::CheckpointHeader* after, uint64_t) {
      if (after == nullptr) return;
      resp->set_sequence(after->sequence());
      // A retried call answered from its first attempt's record: the id that attempt generated.
      if (generated) resp->set_section_id("@" + std::to_string(after->next_section() - 1));
    };
    return p;
  });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::DeleteSection(grpc::CallbackServerContext* ctx,
                                                           const v1::SectionDeleteRequest* req,
                                                           v1::SectionWriteResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  const std::string id = req->section_id();
  call->plan = WithHandle(name, req->handle(), Need::kWrite, true, [id, resp, name](View& v, Opened& o, Plan& p) -> Plan {
    if (id.empty()) return Plan::Fail(Invalid("the default section cannot be deleted"));
    auto s = LoadLiveSection(v, name, id);
    if (!s) return Plan::Fail(s.error());
    v1::CheckpointHeader nh = o.h.header;
    nh.set_sections(nh.sections() - 1);
    nh.set_size(nh.size() - s->data().size());
    PutHeader(p, nh);
    const std::string sk = CheckpointSectionKey(name, id);
    AddDelete(p.txn, sk);
    p.keys.push_back(sk);
    FillWrite(resp, p);
    return p;
  });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::Overwrite(grpc::CallbackServerContext* ctx,
                                                       const v1::SectionOverwriteRequest* req,
                                                       v1::SectionWriteResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (req->data().size() > options_.max_section_bytes) {
    return call->finish(TooLarge("section data of " + std::to_string(req->data().size()) +
                                 " bytes is over checkpoint.max_section_bytes (" + std::to_string(options_.max_section_bytes) + ")"),
                        {}),
           reactor;
  }
  // The section's whole data replaced (a Write at offset 0 would keep what lies past its end).
  const std::string id = req->section_id();
  const std::string data = req->data();
  call->plan = WithHandle(name, req->handle(), Need::kWrite, true, [id, data, resp, name](View& v, Opened& o, Plan& p) -> Plan {
    const v1::CheckpointAttributes& a = o.h.header.attributes();
    if (auto err = ValidSectionId(name, a, id, true)) return Plan::Fail(*err);
    auto s = LoadLiveSection(v, name, id);
    if (!s) return Plan::Fail(s.error());
    if (data.size() > a.max_section_size()) {
      return Plan::Fail(TooLarge("section data of " + std::to_string(data.size()) +
                                 " bytes is over the checkpoint's max_section_size (" + std::to_string(a.max_section_size()) + ")"));
    }
    v1::CheckpointHeader nh = o.h.header;
    const uint64_t size = nh.size() - s->data().size() + data.size();
    if (size > a.max_size()) {
      return Plan::Fail(NoSpace("checkpoint '" + name + "' would hold " + std::to_string(size) + " bytes, over its max_size (" +
                                std::to_string(a.max_size()) + ")"));
    }
    nh.set_size(size);
    PutHeader(p, nh);
    s->set_data(data);
    PutSection(p, v, name, id, std::move(*s), nh, /*stamp=*/true);
    FillWrite(resp, p);
    return p;
  });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::Write(grpc::CallbackServerContext* ctx, const v1::CheckpointWriteRequest* req,
                                                   v1::SectionWriteResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (req->elements_size() == 0) return call->finish(Invalid("a write needs at least one element"), {}), reactor;
  if (req->ByteSizeLong() > options_.max_request_bytes) {
    return call->finish(TooLarge("write request of " + std::to_string(req->ByteSizeLong()) +
                                 " bytes is over limits.max_request_bytes (" + std::to_string(options_.max_request_bytes) + ")"),
                        {}),
           reactor;
  }
  const v1::CheckpointWriteRequest w = *req;
  call->plan = WithHandle(name, req->handle(), Need::kWrite, true, [w, resp, name](View& v, Opened& o, Plan& p) -> Plan {
    const v1::CheckpointAttributes& a = o.h.header.attributes();
    v1::CheckpointHeader nh = o.h.header;
    uint64_t size = nh.size();
    // The sections as this write leaves them, in id order (an id may appear more than once).
    std::map<std::string, v1::CheckpointSectionRecord> touched;
    for (int i = 0; i < w.elements_size(); ++i) {
      const v1::WriteElement& e = w.elements(i);
      const std::string where = "element " + std::to_string(i) + " (section '" + Printable(e.section_id()) + "')";
      if (auto err = ValidSectionId(name, a, e.section_id(), true)) {
        err->detail.set_message(where + ": " + err->detail.message());
        return Plan::Fail(*err);
      }
      auto it = touched.find(e.section_id());
      if (it == touched.end()) {
        auto s = LoadLiveSection(v, name, e.section_id());
        if (!s) {
          s.error().detail.set_message(where + ": " + s.error().detail.message() + "; nothing was written");
          return Plan::Fail(s.error());
        }
        it = touched.emplace(e.section_id(), std::move(*s)).first;
      }
      std::string data = it->second.data();
      if (e.offset() > data.size()) {
        return Plan::Fail(Invalid(where + ": offset " + std::to_string(e.offset()) + " is beyond the section's " +
                                  std::to_string(data.size()) + " bytes (a write may extend a section, not leave a hole); "
                                  "nothing was written"));
      }
      const uint64_t old_size = data.size();
      const size_t end = static_cast<size_t>(e.offset()) + e.data().size();
      if (end > data.size()) data.resize(end);
      data.replace(static_cast<size_t>(e.offset()), e.data().size(), e.data());
      if (data.size() > a.max_section_size()) {
        return Plan::Fail(TooLarge(where + ": the section would have " + std::to_string(data.size()) +
                                   " bytes, over the checkpoint's max_section_size (" + std::to_string(a.max_section_size()) +
                                   "); nothing was written"));
      }
      size = size - old_size + data.size();
      it->second.set_data(std::move(data));
    }
    if (size > a.max_size()) {
      return Plan::Fail(NoSpace("checkpoint '" + name + "' would hold " + std::to_string(size) + " bytes, over its max_size (" +
                                std::to_string(a.max_size()) + "); nothing was written"));
    }
    nh.set_size(size);
    PutHeader(p, nh);
    for (auto& [id, rec] : touched) PutSection(p, v, name, id, std::move(rec), nh, /*stamp=*/true);
    FillWrite(resp, p);
    return p;
  });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::Read(grpc::CallbackServerContext* ctx, const v1::CheckpointReadRequest* req,
                                                  v1::CheckpointReadResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (req->elements_size() == 0) return call->finish(Invalid("a read needs at least one element"), {}), reactor;
  const v1::CheckpointReadRequest r = *req;
  const uint64_t max_bytes = options_.max_request_bytes;
  call->plan = WithHandle(name, req->handle(), Need::kRead, false,
                          [r, resp, name, max_bytes](View& v, Opened& o, Plan&) -> Plan {
                            resp->Clear();
                            uint64_t total = 0;
                            for (int i = 0; i < r.elements_size(); ++i) {
                              const v1::ReadElement& e = r.elements(i);
                              if (auto err = ValidSectionId(name, o.h.header.attributes(), e.section_id(), true)) {
                                return Plan::Fail(*err);
                              }
                              auto s = LoadLiveSection(v, name, e.section_id());
                              if (!s) return Plan::Fail(s.error());
                              const std::string& data = s->data();
                              if (e.offset() > data.size()) {
                                return Plan::Fail(Invalid("element " + std::to_string(i) + ": offset " + std::to_string(e.offset()) +
                                                          " is beyond the section's " + std::to_string(data.size()) + " bytes"));
                              }
                              const uint64_t left = data.size() - e.offset();
                              const uint64_t n = e.length() == 0 ? left : std::min(left, e.length());
                              total += n;
                              if (total > max_bytes) {
                                return Plan::Fail(TooLarge("the read returns over " + std::to_string(max_bytes) +
                                                           " bytes (limits.max_request_bytes): read fewer sections or "
                                                           "smaller parts (offset, length) per call"));
                              }
                              v1::ReadResult* out = resp->add_results();
                              out->set_section_id(e.section_id());
                              out->set_data(data.substr(static_cast<size_t>(e.offset()), static_cast<size_t>(n)));
                              out->set_section_size(data.size());
                            }
                            resp->set_sequence(o.h.header.sequence());
                            return Plan::Answered();
                          });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::Iterate(grpc::CallbackServerContext* ctx, const v1::SectionIterateRequest* req,
                                                     v1::SectionIterateResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (!v1::SectionIterateRequest::Filter_IsValid(req->filter())) {
    return call->finish(Invalid("unknown section filter " + std::to_string(req->filter())), {}), reactor;
  }
  const auto filter = req->filter();
  const uint64_t at = req->expiration_unix_ms();
  call->plan = WithHandle(name, req->handle(), Need::kRead, false, [filter, at, resp, name](View& v, Opened&, Plan&) -> Plan {
    resp->Clear();
    const size_t skip = CheckpointSectionsStart(name).size();
    auto each = v.Each(CheckpointSectionsStart(name), CheckpointSectionsEnd(name), [&](std::string_view key, const View::Value& val) {
      v1::CheckpointSectionRecord rec;
      if (!rec.ParseFromString(val.value) || Expired(rec, v.now_ms)) return true;
      const uint64_t exp = rec.expiration_unix_ms();
      bool keep = true;
      switch (filter) {
        case v1::SectionIterateRequest::FOREVER: keep = exp == 0; break;
        case v1::SectionIterateRequest::LEQ_EXPIRATION: keep = exp != 0 && exp <= at; break;
        case v1::SectionIterateRequest::GEQ_EXPIRATION: keep = exp != 0 && exp >= at; break;
        default: break;
      }
      if (!keep) return true;
      v1::SectionInfo* s = resp->add_sections();
      s->set_section_id(std::string(key.substr(skip)));
      s->set_size(rec.data().size());
      s->set_expiration_unix_ms(exp);
      s->set_last_update_unix_ms(rec.last_update_unix_ms());
      return true;
    });
    if (!each) return Plan::Fail(each.error());
    return Plan::Answered();
  });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::SetSectionExpiration(grpc::CallbackServerContext* ctx,
                                                                  const v1::SectionExpirationRequest* req,
                                                                  v1::SectionWriteResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  const std::string id = req->section_id();
  const uint64_t exp = req->expiration_unix_ms();
  call->plan = WithHandle(name, req->handle(), Need::kWrite, true, [id, exp, resp, name](View& v, Opened& o, Plan& p) -> Plan {
    if (id.empty()) return Plan::Fail(Invalid("the default section never expires"));
    auto s = LoadLiveSection(v, name, id);
    if (!s) return Plan::Fail(s.error());
    if (exp != 0 && exp <= v.now_ms) return Plan::Fail(Invalid("expiration time " + std::to_string(exp) + " has passed already"));
    v1::CheckpointHeader nh = o.h.header;
    NoteExpiration(nh, exp);
    PutHeader(p, nh);
    s->set_expiration_unix_ms(exp);
    PutSection(p, v, name, id, std::move(*s), nh, /*stamp=*/false);
    FillWrite(resp, p);
    return p;
  });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::Synchronize(grpc::CallbackServerContext* ctx,
                                                         const v1::CheckpointSynchronizeRequest* req,
                                                         v1::SectionWriteResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  call->plan = WithHandle(name, req->handle(), Need::kWrite, false, [resp](View&, Opened& o, Plan&) -> Plan {
    Plan p = Plan::Answered();
    p.wait_applied = true;
    resp->set_sequence(o.h.header.sequence());
    resp->set_revision(o.h.mod_ts);
    return p;
  });
  Start(call);
  return reactor;
}

grpc::ServerUnaryReactor* CheckpointService::ResolveSequence(grpc::CallbackServerContext* ctx,
                                                             const v1::ResolveSequenceRequest* req,
                                                             v1::ResolveSequenceResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  auto call = NewCall(*req, resp, reactor, Deadline(ctx));
  if (!call) return reactor;
  const std::string name = req->name();
  if (req->sequence() == 0) return call->finish(Invalid("sequence numbers start at 1"), {}), reactor;
  const uint64_t want = req->sequence();
  call->plan = [name, want, resp](View& v) -> Plan {
    storage::VersionScanRequest scan;
    scan.start = CheckpointHeaderKey(name);
    scan.end = scan.start + '\0';
    uint64_t oldest = 0, current = 0, found = 0;
    bool first = true;
    std::optional<RequestError> bad;
    // Newest first; the checkpoint as it is now begins after the newest deletion.
    auto r = storage::ForEachVersion(*v.reader, scan, [&](const storage::MvccVersion& ver) {
      if (ver.type != storage::MvccValueType::kPut) return false;
      auto sv = DecodeStoredValue(ver.payload);
      v1::CheckpointHeader h;
      if (!sv || !h.ParseFromString(sv->value)) {
        bad = Internal("a stored header version of checkpoint '" + name + "' does not parse");
        return false;
      }
      if (first) current = h.sequence();
      first = false;
      oldest = h.sequence();
      if (h.sequence() == want) {
        found = ver.ts.value();
        return false;
      }
      return h.sequence() > want;
    });
    if (!r) return Plan::Fail(Internal("history read failed: " + r.error().message));
    if (bad) return Plan::Fail(*bad);
    if (first) return Plan::Fail(NotFound(name));
    if (found != 0) {
      resp->set_revision(found);
      return Plan::Answered();
    }
    if (want > current) {
      return Plan::Fail(Invalid("checkpoint '" + name + "' is at sequence " + std::to_string(current) + "; " +
                                std::to_string(want) + " has not happened"));
    }
    RequestError e = MakeError(RpcCode::kOutOfRange, v1::Error::COMPACTED,
                               "sequence " + std::to_string(want) + " of checkpoint '" + name +
                                   "' is no longer in the kept history (storage.mvcc_retention_ms); the oldest kept is " +
                                   std::to_string(oldest) + ": start from a full read");
    return Plan::Fail(e);
  };
  Start(call);
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Cleanup loop

void CheckpointService::SweepLoop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(options_.sweep_interval_ms), [this] { return stopping_; });
      if (stopping_) return;
    }
    SweepOnce();
  }
}

namespace {

// Runs a call and waits for its answer (the cleanup loop's thread only).
std::optional<RequestError> Await(const std::function<void(std::shared_ptr<CheckpointService::Call>)>& start,
                                  std::shared_ptr<CheckpointService::Call> call) {
  auto promise = std::make_shared<std::promise<std::optional<RequestError>>>();
  auto fut = promise->get_future();
  call->finish = [promise](std::optional<RequestError> e, const v1::ResponseHeader&) { promise->set_value(std::move(e)); };
  const auto wait = call->deadline - CheckpointService::Clock::now() + std::chrono::seconds(2);
  start(call);
  if (fut.wait_for(wait) != std::future_status::ready) {
    return MakeError(RpcCode::kDeadlineExceeded, v1::Error::UNAVAILABLE, "no answer within the deadline");
  }
  return fut.get();
}

}  // namespace

namespace {

// What one cleanup change does (counted and logged once it committed).
struct Maintenance {
  bool retention = false, unlinked = false, session_close = false;
  uint64_t expired = 0;
};

// The cleanup change the checkpoint needs now, if any (Plan::Answered when none).
CheckpointService::Plan MaintainPlan(const CheckpointService::View& v, const std::string& name, Maintenance* did) {
  using Plan = CheckpointService::Plan;
  *did = Maintenance{};
  auto h = LoadHeader(v, name);
  if (!h) return Plan::Fail(h.error());
  if (!h->has_value()) return Plan::Answered();
  const v1::CheckpointHeader& hd = (*h)->header;
  auto open = CountHandles(v, name, 0);
  if (!open) return Plan::Fail(open.error());
  Plan p;
  BeginChange(p, name, **h, nullptr, 0);
  if (*open == 0 &&
      (hd.unlinked() || (hd.closed_unix_ms() != 0 && v.now_ms >= hd.closed_unix_ms() + hd.attributes().retention_ms()))) {
    DeleteAll(p, name);
    (hd.unlinked() ? did->unlinked : did->retention) = true;
    return p;
  }
  v1::CheckpointHeader nh = hd;
  bool changed = false;
  if (*open == 0 && hd.closed_unix_ms() == 0) {
    // The last handle went with its session (lease expiry deletes handle keys): the retention
    // timer starts now.
    nh.set_closed_unix_ms(v.now_ms);
    did->session_close = true;
    changed = true;
  }
  if (hd.earliest_expiration_unix_ms() != 0 && hd.earliest_expiration_unix_ms() <= v.now_ms) {
    // At most this many deletions per change; the rest go in the next pass.
    constexpr int kMaxDeletes = 100;
    uint64_t earliest = 0;
    bool partial = false;
    auto each = v.Each(CheckpointSectionsStart(name), CheckpointSectionsEnd(name),
                       [&](std::string_view key, const CheckpointService::View::Value& val) {
                         v1::CheckpointSectionRecord rec;
                         if (!rec.ParseFromString(val.value)) return true;
                         if (Expired(rec, v.now_ms)) {
                           if (p.txn.success_size() >= kMaxDeletes) {
                             partial = true;
                             return false;
                           }
                           const std::string sk(key);
                           AddDelete(p.txn, sk);
                           p.keys.push_back(sk);
                           nh.set_sections(nh.sections() - 1);
                           nh.set_size(nh.size() - rec.data().size());
                           ++did->expired;
                         } else if (rec.expiration_unix_ms() != 0 && (earliest == 0 || rec.expiration_unix_ms() < earliest)) {
                           earliest = rec.expiration_unix_ms();
                         }
                         return true;
                       });
    if (!each) return Plan::Fail(each.error());
    nh.set_earliest_expiration_unix_ms(partial ? hd.earliest_expiration_unix_ms() : earliest);
    changed = true;
  }
  if (!changed) return Plan::Answered();
  PutHeader(p, nh);
  return p;
}

}  // namespace

void CheckpointService::SweepOnce() {
  const std::string prefix_end = client::CheckpointPrefixEnd();
  auto start = [this](std::shared_ptr<Call> c) { Start(std::move(c)); };
  uint64_t seen = 0;
  for (const v1::ReplicaStatus& rs : store_->Status(/*leaders_only=*/true)) {
    const v1::ShardDescriptor& d = rs.shard();
    if (d.id() == kMetaShard) continue;
    if (!d.end_key().empty() && d.end_key() <= kCheckpointPrefix) continue;
    if (d.start_key() >= prefix_end) continue;
    // One read of the shard's checkpoints decides which need a change (most need none), so a
    // pass costs a few seeks per checkpoint and a transaction only where something is due.
    std::vector<std::string> due;
    std::vector<std::pair<std::string, uint64_t>> collocated;  // name, chosen node
    uint64_t names = 0;
    auto list = std::make_shared<Call>();
    list->route_key = std::max(d.start_key(), std::string(kCheckpointPrefix));
    list->deadline = Clock::now() + std::chrono::seconds(5);
    list->plan = [&](View& v) -> Plan {
      auto each = v.EachCheckpoint(std::max(v.shard.start_key(), std::string(kCheckpointPrefix)), [&](const std::string& name) {
        ++names;
        Maintenance scratch;
        Plan p = MaintainPlan(v, name, &scratch);
        if (!p.error && !p.read_only) due.push_back(name);
        auto h = LoadHeader(v, name);
        if (h && h->has_value() && (*h)->header.attributes().collocated() && (*h)->header.preferred_active_node_id() != 0) {
          collocated.emplace_back(name, (*h)->header.preferred_active_node_id());
        }
        return true;
      });
      if (!each) return Plan::Fail(each.error());
      return Plan::Answered();
    };
    if (Await(start, list)) continue;  // not leading any more, or busy: next pass
    seen += names;
    for (const std::string& name : due) {
      auto maintain = std::make_shared<Call>();
      maintain->route_key = CheckpointHeaderKey(name);
      maintain->deadline = Clock::now() + std::chrono::seconds(5);
      auto did = std::make_shared<Maintenance>();
      maintain->plan = [name, did](View& v) -> Plan { return MaintainPlan(v, name, did.get()); };
      if (auto e = Await(start, maintain)) {
        SPDLOG_DEBUG("checkpoint '{}': cleanup deferred: {}", name, e->detail.message());
        continue;
      }
      if (did->retention) SPDLOG_INFO("checkpoint '{}': deleted: its retention ran out with no handle open", name);
      if (did->unlinked) SPDLOG_INFO("checkpoint '{}': deleted: unlinked, and its last handle closed", name);
      if (did->session_close) SPDLOG_INFO("checkpoint '{}': its last handle went with its session; retention starts", name);
      Inc(deleted_retention_, did->retention ? 1 : 0);
      Inc(deleted_unlinked_, did->unlinked ? 1 : 0);
      Inc(session_closes_, did->session_close ? 1 : 0);
      Inc(sections_expired_, static_cast<double>(did->expired));
    }
    // A collocated checkpoint gets a shard of its own: split at its range's end, then at its
    // start (both on this shard, which this node leads).
    for (const auto& [name, node] : collocated) {
      for (const std::string& at : {CheckpointEnd(name), CheckpointStart(name)}) {
        auto route = router_->Lookup(at);
        if (!route) break;
        const v1::ShardDescriptor& cur = route->shard;
        if (at <= cur.start_key() || (!cur.end_key().empty() && at >= cur.end_key())) continue;
        v1::SplitShardRequest split;
        split.set_shard_id(cur.id());
        split.set_split_key(at);
        auto promise = std::make_shared<std::promise<void>>();
        store_->SplitShard(split, Clock::now() + std::chrono::seconds(5),
                           [promise, name = name](std::expected<v1::SplitShardResponse, RequestError> r) {
                             if (r) {
                               SPDLOG_INFO("checkpoint '{}' (collocated): split off into a shard of its own", name);
                             } else {
                               SPDLOG_INFO("checkpoint '{}' (collocated): split for a shard of its own failed: {}", name,
                                           r.error().detail.message());
                             }
                             promise->set_value();
                           });
        promise->get_future().wait_for(std::chrono::seconds(7));
      }
      // Once the checkpoint owns a whole shard, that shard's leader should live on the chosen node
      // (the placement service moves a voter there and the leadership; server/README.md
      // "Preferred (pinned) leaders").
      if (auto own = router_->Lookup(CheckpointStart(name));
          own && own->shard.start_key() == CheckpointStart(name) && own->shard.end_key() == CheckpointEnd(name)) {
        store_->SetPreferredLeader(own->shard.id(), node);
      }
    }
    // A shard no collocated checkpoint owns (any more: deleted, or split) has no preferred leader.
    const bool owned = std::any_of(collocated.begin(), collocated.end(), [&](const auto& named) {
      return d.start_key() == CheckpointStart(named.first) && d.end_key() == CheckpointEnd(named.first);
    });
    if (!owned && store_->PreferredLeader(d.id()) != 0) store_->ClearPreferredLeader(d.id());
  }
  if (checkpoints_ != nullptr) checkpoints_->Set(static_cast<double>(seen));
}

}  // namespace claw::server
