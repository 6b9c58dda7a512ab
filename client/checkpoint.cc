#include "client/checkpoint.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "claw/v1/checkpoint.grpc.pb.h"
#include "client/dispatcher.h"

namespace claw::client {
namespace {

using Kind = Dispatcher::Kind;

std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{.code = code, .message = std::move(message)});
}

v1::CheckpointReplication ToProto(CheckpointReplication r) {
  switch (r) {
    case CheckpointReplication::kDefault: return v1::REPLICATION_UNSPECIFIED;
    case CheckpointReplication::kSynchronous: return v1::SYNCHRONOUS;
    case CheckpointReplication::kAsynchronous: return v1::ASYNCHRONOUS;
  }
  return v1::REPLICATION_UNSPECIFIED;
}

CheckpointReplication FromProto(v1::CheckpointReplication r) {
  switch (r) {
    case v1::SYNCHRONOUS: return CheckpointReplication::kSynchronous;
    case v1::ASYNCHRONOUS: return CheckpointReplication::kAsynchronous;
    default: return CheckpointReplication::kDefault;
  }
}

void ToProto(const CheckpointAttributes& a, v1::CheckpointAttributes* out) {
  out->set_replication(ToProto(a.replication));
  out->set_collocated(a.collocated);
  out->set_retention_ms(a.retention_ms);
  out->set_max_size(a.max_size);
  out->set_max_sections(a.max_sections);
  out->set_max_section_size(a.max_section_size);
  out->set_max_section_id_size(a.max_section_id_size);
}

CheckpointAttributes FromProto(const v1::CheckpointAttributes& a) {
  return CheckpointAttributes{.replication = FromProto(a.replication()),
                              .collocated = a.collocated(),
                              .retention_ms = a.retention_ms(),
                              .max_size = a.max_size(),
                              .max_sections = a.max_sections(),
                              .max_section_size = a.max_section_size(),
                              .max_section_id_size = a.max_section_id_size()};
}

CheckpointStatus FromProto(const v1::CheckpointStatus& s) {
  CheckpointStatus out;
  out.name = s.name();
  out.attributes = FromProto(s.attributes());
  out.created_unix_ms = s.created_unix_ms();
  out.size = s.size();
  out.sections = s.sections();
  out.sequence = s.sequence();
  for (const v1::CheckpointHandleInfo& h : s.handles()) {
    out.handles.push_back(CheckpointHandleInfo{.handle = h.handle(),
                                               .session = h.session(),
                                               .read = h.read(),
                                               .write = h.write(),
                                               .opened_unix_ms = h.opened_unix_ms()});
  }
  out.unlinked = s.unlinked();
  out.closed_unix_ms = s.closed_unix_ms();
  out.delete_at_unix_ms = s.delete_at_unix_ms();
  out.active_node_id = s.active_node_id();
  out.replica_node_ids.assign(s.replica_node_ids().begin(), s.replica_node_ids().end());
  out.preferred_active_node_id = s.preferred_active_node_id();
  out.shard_id = s.shard_id();
  return out;
}

CheckpointWriteAck FromProto(const v1::SectionWriteResponse& r) {
  return CheckpointWriteAck{.sequence = r.sequence(), .revision = r.revision()};
}

uint64_t HandleIdOfKey(std::string_view suffix) {  // suffix = "o" + 8 bytes big-endian
  uint64_t id = 0;
  for (size_t i = 1; i < suffix.size() && i <= 8; ++i) id = (id << 8) | static_cast<unsigned char>(suffix[i]);
  return id;
}

}  // namespace

// Shared by the client, its handles and followers.
class CheckpointHandle::Impl {
 public:
  Impl(Client& c, std::unique_ptr<LeaseClient> l) : client(c), dispatcher(c.dispatcher()), leases(std::move(l)) {}

  template <typename Request, typename Response>
  using Rpc = grpc::Status (v1::Checkpoint::Stub::*)(grpc::ClientContext*, const Request&, Response*);

  // Runs one RPC of checkpoint `name` through the dispatcher: each attempt sends `request` with
  // the header the dispatcher made for it (shard, epoch, request id) to the routed node.
  template <typename Request, typename Response>
  Result<Response> Call(std::string_view name, Kind kind, const CallOptions& options, Request request,
                        Rpc<Request, Response> rpc) {
    if (std::string bad = CheckpointNameError(name); !bad.empty()) return Fail(ErrorCode::kInvalidArgument, bad);
    Dispatcher::Call call;
    call.route_key = CheckpointHeaderKey(name);
    call.kind = kind;
    call.options = options;
    call.deadline = dispatcher.DeadlineOf(options);
    if (kind == Kind::kWrite) call.request_id = dispatcher.NewRequestId();
    Response response;
    auto done = dispatcher.Run(call, [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
      response.Clear();
      *request.mutable_header() = target.header;
      return (dispatcher.CheckpointStub(target.address).*rpc)(&context, request, &response);
    });
    if (!done) return std::unexpected(done.error());
    return response;
  }

  Client& client;
  Dispatcher& dispatcher;
  std::unique_ptr<LeaseClient> leases;
};

// --- CheckpointSession ---------------------------------------------------------------------

CheckpointSession::CheckpointSession(std::shared_ptr<CheckpointHandle::Impl> impl, uint64_t lease,
                                     std::unique_ptr<LeaseKeepAlive> keeper)
    : impl_(std::move(impl)), lease_(lease), keeper_(std::move(keeper)) {}

CheckpointSession::~CheckpointSession() { Abandon(); }

void CheckpointSession::Abandon() {
  if (keeper_) keeper_->Stop();
}

Result<void> CheckpointSession::End(const CallOptions& options) {
  Abandon();
  auto revoked = impl_->leases->Revoke(lease_, options);
  if (!revoked && revoked.error().code != ErrorCode::kLeaseNotFound) return std::unexpected(revoked.error());
  return {};
}

// --- CheckpointHandle ----------------------------------------------------------------------

CheckpointHandle::CheckpointHandle(std::shared_ptr<Impl> impl, std::string name, uint64_t id, bool created,
                                   CheckpointStatus status)
    : impl_(std::move(impl)), name_(std::move(name)), id_(id), created_(created), status_(std::move(status)) {}

template <typename Request>
Request CheckpointHandle::Named() const {
  Request request;
  request.set_name(name_);
  request.set_handle(id_);
  return request;
}

Result<SectionCreated> CheckpointHandle::CreateSection(const SectionCreate& section, const CallOptions& options) const {
  auto request = Named<v1::SectionCreateRequest>();
  request.set_section_id(section.section_id);
  request.set_generate(section.generate);
  request.set_data(section.data);
  request.set_expiration_unix_ms(section.expiration_unix_ms);
  auto r = impl_->Call(name_, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::CreateSection);
  if (!r) return std::unexpected(r.error());
  return SectionCreated{.section_id = r->section_id(), .sequence = r->sequence()};
}

Result<CheckpointWriteAck> CheckpointHandle::DeleteSection(std::string_view section_id,
                                                           const CallOptions& options) const {
  auto request = Named<v1::SectionDeleteRequest>();
  request.set_section_id(std::string(section_id));
  auto r = impl_->Call(name_, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::DeleteSection);
  if (!r) return std::unexpected(r.error());
  return FromProto(*r);
}

Result<CheckpointWriteAck> CheckpointHandle::Overwrite(std::string_view section_id, std::string_view data,
                                                       const CallOptions& options) const {
  auto request = Named<v1::SectionOverwriteRequest>();
  request.set_section_id(std::string(section_id));
  request.set_data(std::string(data));
  auto r = impl_->Call(name_, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::Overwrite);
  if (!r) return std::unexpected(r.error());
  return FromProto(*r);
}

Result<CheckpointWriteAck> CheckpointHandle::Write(const std::vector<SectionWrite>& writes,
                                                   const CallOptions& options) const {
  auto request = Named<v1::CheckpointWriteRequest>();
  for (const SectionWrite& w : writes) {
    v1::WriteElement* e = request.add_elements();
    e->set_section_id(w.section_id);
    e->set_offset(w.offset);
    e->set_data(w.data);
  }
  auto r = impl_->Call(name_, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::Write);
  if (!r) return std::unexpected(r.error());
  return FromProto(*r);
}

Result<CheckpointReadResult> CheckpointHandle::Read(const std::vector<SectionReadRequest>& reads,
                                                    const CallOptions& options) const {
  auto request = Named<v1::CheckpointReadRequest>();
  for (const SectionReadRequest& read : reads) {
    v1::ReadElement* e = request.add_elements();
    e->set_section_id(read.section_id);
    e->set_offset(read.offset);
    e->set_length(read.length);
  }
  auto r = impl_->Call(name_, Kind::kRead, options, std::move(request), &v1::Checkpoint::Stub::Read);
  if (!r) return std::unexpected(r.error());
  CheckpointReadResult out;
  out.sequence = r->sequence();
  for (const v1::ReadResult& result : r->results()) {
    out.sections.push_back(SectionData{.section_id = result.section_id(),
                                       .data = result.data(),
                                       .section_size = result.section_size()});
  }
  return out;
}

Result<std::vector<SectionInfo>> CheckpointHandle::Iterate(SectionFilter filter, uint64_t expiration_unix_ms,
                                                           const CallOptions& options) const {
  auto request = Named<v1::SectionIterateRequest>();
  switch (filter) {
    case SectionFilter::kAny: request.set_filter(v1::SectionIterateRequest::ANY); break;
    case SectionFilter::kForever: request.set_filter(v1::SectionIterateRequest::FOREVER); break;
    case SectionFilter::kLeqExpiration: request.set_filter(v1::SectionIterateRequest::LEQ_EXPIRATION); break;
    case SectionFilter::kGeqExpiration: request.set_filter(v1::SectionIterateRequest::GEQ_EXPIRATION); break;
  }
  request.set_expiration_unix_ms(expiration_unix_ms);
  auto r = impl_->Call(name_, Kind::kRead, options, std::move(request), &v1::Checkpoint::Stub::Iterate);
  if (!r) return std::unexpected(r.error());
  std::vector<SectionInfo> out;
  for (const v1::SectionInfo& s : r->sections()) {
    out.push_back(SectionInfo{.section_id = s.section_id(),
                              .size = s.size(),
                              .expiration_unix_ms = s.expiration_unix_ms(),
                              .last_update_unix_ms = s.last_update_unix_ms()});
  }
  return out;
}

Result<CheckpointWriteAck> CheckpointHandle::SetSectionExpiration(std::string_view section_id,
                                                                  uint64_t expiration_unix_ms,
                                                                  const CallOptions& options) const {
  auto request = Named<v1::SectionExpirationRequest>();
  request.set_section_id(std::string(section_id));
  request.set_expiration_unix_ms(expiration_unix_ms);
  auto r = impl_->Call(name_, Kind::kWrite, options, std::move(request),
                       &v1::Checkpoint::Stub::SetSectionExpiration);
  if (!r) return std::unexpected(r.error());
  return FromProto(*r);
}

Result<CheckpointWriteAck> CheckpointHandle::Synchronize(const CallOptions& options) const {
  auto r = impl_->Call(name_, Kind::kWrite, options, Named<v1::CheckpointSynchronizeRequest>(),
                       &v1::Checkpoint::Stub::Synchronize);
  if (!r) return std::unexpected(r.error());
  return FromProto(*r);
}

Result<void> CheckpointHandle::Close(const CallOptions& options) const {
  auto r = impl_->Call(name_, Kind::kWrite, options, Named<v1::CheckpointCloseRequest>(),
                       &v1::Checkpoint::Stub::Close);
  if (!r) return std::unexpected(r.error());
  return {};
}

// --- CheckpointFollower --------------------------------------------------------------------

// The stream's state, shared with the watch callback.
struct CheckpointFollower::State {
  std::string start;  // CheckpointStart(name)
  std::function<void(const CheckpointUpdate&)> on_update;
  std::atomic<uint64_t> last_sequence{0};
  uint64_t delivered_revision = 0;  // the watch thread's only

  void Deliver(const CheckpointUpdate& update) {
    if (update.sequence > last_sequence.load()) last_sequence.store(update.sequence);
    on_update(update);
  }

  // Turns one watch update (whole revisions, in revision order) into checkpoint updates.
  void OnWatch(const WatchUpdate& u) {
    // `current` collects one revision; `open` says whether it holds one (no std::optional: GCC 12
    // warns maybe-uninitialized on its vectors at -O2).
    CheckpointUpdate current;
    bool open = false;
    auto flush = [&] {
      if (open) {
        delivered_revision = current.revision;
        Deliver(current);
      }
      current = CheckpointUpdate{};
      open = false;
    };
    for (const WatchEvent& e : u.events) {
      const uint64_t revision = e.kv.mod_ts;
      if (revision <= delivered_revision) continue;
      if (open && current.revision != revision) flush();
      if (!open) {
        open = true;
        current.revision = revision;
        current.sequence = last_sequence.load();
      }
      if (!e.kv.key.starts_with(start) || e.kv.key.size() == start.size()) continue;
      const std::string_view suffix = std::string_view(e.kv.key).substr(start.size());
      const bool put = e.type == WatchEvent::Type::kPut;
      switch (suffix[0]) {
        case 'h': {
          if (!put) {
            current.deleted = true;
            break;
          }
          v1::CheckpointHeader header;
          if (header.ParseFromString(e.kv.value)) current.sequence = header.sequence();
          break;
        }
        case 'o':
          (put ? current.handles_opened : current.handles_closed).push_back(HandleIdOfKey(suffix));
          break;
        case 's': {
          SectionChange change;
          change.section_id = std::string(suffix.substr(1));
          change.deleted = !put;
          if (put) {
            v1::CheckpointSectionRecord record;
            if (record.ParseFromString(e.kv.value)) {
              change.data = record.data();
              change.expiration_unix_ms = record.expiration_unix_ms();
              change.sequence = record.sequence();
            }
          }
          current.sections.push_back(std::move(change));
          break;
        }
        default:
          break;
      }
    }
    flush();
  }
};

CheckpointFollower::CheckpointFollower(std::shared_ptr<State> state, std::unique_ptr<Watcher> watcher)
    : state_(std::move(state)), watcher_(std::move(watcher)) {}
CheckpointFollower::~CheckpointFollower() { watcher_.reset(); }
void CheckpointFollower::Cancel() { watcher_->Cancel(); }
Error CheckpointFollower::Wait() { return watcher_->Wait(); }
std::optional<Error> CheckpointFollower::WaitFor(std::chrono::milliseconds timeout) {
  return watcher_->WaitFor(timeout);
}
bool CheckpointFollower::Done() const { return watcher_->Done(); }
uint64_t CheckpointFollower::last_sequence() const { return state_->last_sequence.load(); }
uint64_t CheckpointFollower::resumes() const { return watcher_->resumes(); }

// --- CheckpointClient ----------------------------------------------------------------------

CheckpointClient::CheckpointClient(Client& client) {
  auto leases = LeaseClient::Open(client.options());
  // Open fails only without endpoints, which Client::Open refused already.
  impl_ = std::make_shared<CheckpointHandle::Impl>(client, leases ? std::move(*leases) : nullptr);
}

CheckpointClient::~CheckpointClient() = default;

LeaseClient& CheckpointClient::leases() { return *impl_->leases; }

Result<std::unique_ptr<CheckpointSession>> CheckpointClient::StartSession(std::chrono::milliseconds ttl,
                                                                          const CallOptions& options) {
  auto granted = impl_->leases->Grant(ttl, 0, options);
  if (!granted) return std::unexpected(granted.error());
  auto keeper = impl_->leases->KeepAlive(granted->id);
  return std::unique_ptr<CheckpointSession>(new CheckpointSession(impl_, granted->id, std::move(keeper)));
}

Result<CheckpointHandle> CheckpointClient::Open(const CheckpointSession& session, std::string_view name,
                                                const CheckpointOpenOptions& open, const CallOptions& options) {
  return Open(session.lease(), name, open, options);
}

Result<CheckpointHandle> CheckpointClient::Open(uint64_t session_lease, std::string_view name,
                                                const CheckpointOpenOptions& open, const CallOptions& options) {
  v1::CheckpointOpenRequest request;
  request.set_name(std::string(name));
  request.set_read(open.read);
  request.set_write(open.write);
  request.set_create(open.create);
  ToProto(open.attributes, request.mutable_attributes());
  request.set_session(session_lease);
  request.set_active_node(open.active_node);
  auto r = impl_->Call(name, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::Open);
  if (!r) return std::unexpected(r.error());
  return CheckpointHandle(impl_, std::string(name), r->handle(), r->created(), FromProto(r->status()));
}

Result<bool> CheckpointClient::Unlink(std::string_view name, const CallOptions& options) {
  v1::CheckpointUnlinkRequest request;
  request.set_name(std::string(name));
  auto r = impl_->Call(name, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::Unlink);
  if (!r) return std::unexpected(r.error());
  return r->deleted();
}

Result<CheckpointStatus> CheckpointClient::Status(std::string_view name, const CallOptions& options) {
  v1::CheckpointStatusRequest request;
  request.set_name(std::string(name));
  auto r = impl_->Call(name, Kind::kRead, options, std::move(request), &v1::Checkpoint::Stub::Status);
  if (!r) return std::unexpected(r.error());
  return FromProto(*r);
}

Result<std::vector<CheckpointStatus>> CheckpointClient::List(const CallOptions& options) {
  Dispatcher& d = impl_->dispatcher;
  const Dispatcher::Clock::time_point deadline = d.DeadlineOf(options);
  std::vector<CheckpointStatus> out;
  // One shard per call, routed by its start key; the answer's next_key continues (in the next
  // shard, or in the same one after its limit).
  std::string start_key;
  for (;;) {
    Dispatcher::Call call;
    call.route_key = start_key.empty() ? std::string(kCheckpointPrefix) : start_key;
    call.kind = Kind::kRead;
    call.options = options;
    call.deadline = deadline;
    v1::CheckpointListResponse response;
    auto done = d.Run(call, [&](const Dispatcher::Target& target, grpc::ClientContext& context) {
      response.Clear();
      v1::CheckpointListRequest request;
      *request.mutable_header() = target.header;
      request.set_start_key(start_key);
      return d.CheckpointStub(target.address).List(&context, request, &response);
    });
    if (!done) return std::unexpected(done.error());
    for (const v1::CheckpointStatus& s : response.checkpoints()) out.push_back(FromProto(s));
    if (response.next_key().empty()) return out;
    if (response.next_key() <= start_key) {
      return Fail(ErrorCode::kInternal, "checkpoint listing did not advance past its start key");
    }
    start_key = response.next_key();
  }
}

Result<CheckpointStatus> CheckpointClient::SetRetention(std::string_view name, uint64_t retention_ms,
                                                        const CallOptions& options) {
  v1::CheckpointSetRetentionRequest request;
  request.set_name(std::string(name));
  request.set_retention_ms(retention_ms);
  auto r = impl_->Call(name, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::SetRetention);
  if (!r) return std::unexpected(r.error());
  return FromProto(*r);
}

Result<CheckpointStatus> CheckpointClient::SetActiveReplica(std::string_view name, std::string_view node,
                                                            const CallOptions& options) {
  v1::CheckpointSetActiveReplicaRequest request;
  request.set_name(std::string(name));
  request.set_node(std::string(node));
  const Dispatcher::Clock::time_point deadline = impl_->dispatcher.DeadlineOf(options);
  auto r = impl_->Call(name, Kind::kWrite, options, std::move(request), &v1::Checkpoint::Stub::SetActiveReplica);
  if (!r) return std::unexpected(r.error());
  // The service records the choice; the placement service then moves the leadership (adding a
  // voter there first if needed). Wait until the chosen node leads, within the deadline.
  CheckpointStatus status = FromProto(*r);
  for (;;) {
    if (status.active_node_id != 0 && status.active_node_id == status.preferred_active_node_id) return status;
    if (Dispatcher::Clock::now() + std::chrono::milliseconds(100) >= deadline) {
      Error e;
      e.code = ErrorCode::kDeadlineExceeded;
      e.definite = false;
      e.message = "node " + std::to_string(status.preferred_active_node_id) + " is recorded as the active replica of '" +
                  std::string(name) + "' but did not lead it by the deadline (node " + std::to_string(status.active_node_id) +
                  " does); the placement service keeps moving it: Status shows when it is there";
      return std::unexpected(e);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CallOptions poll = options;
    poll.deadline = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Dispatcher::Clock::now());
    if (poll.deadline.count() <= 0) continue;
    auto now = Status(name, poll);
    if (now) status = std::move(*now);
  }
}

Result<uint64_t> CheckpointClient::ResolveSequence(std::string_view name, uint64_t sequence,
                                                   const CallOptions& options) {
  v1::ResolveSequenceRequest request;
  request.set_name(std::string(name));
  request.set_sequence(sequence);
  auto r = impl_->Call(name, Kind::kRead, options, std::move(request), &v1::Checkpoint::Stub::ResolveSequence);
  if (!r) return std::unexpected(r.error());
  return r->revision();
}

Result<std::unique_ptr<CheckpointFollower>> CheckpointClient::Follow(
    std::string_view name, const FollowOptions& follow, std::function<void(const CheckpointUpdate&)> on_update,
    const CallOptions& options) {
  if (std::string bad = CheckpointNameError(name); !bad.empty()) return Fail(ErrorCode::kInvalidArgument, bad);
  if (!on_update) return Fail(ErrorCode::kInvalidArgument, "no update callback");
  auto state = std::make_shared<CheckpointFollower::State>();
  state->start = CheckpointStart(name);
  state->on_update = std::move(on_update);
  uint64_t start_revision = 0;
  if (follow.from_sequence == 0) {
    // The current state from one scan. Every change writes the header with its sequence and
    // every section record carries the sequence that wrote it, so a scan whose pages saw a later
    // change than the header it started with is detected and repeated. Changes that only delete
    // (expiry, a session's end) after the header's revision are replayed by the watch: deleting
    // an absent section or closing a closed handle again is harmless to a standby.
    std::optional<CheckpointUpdate> snapshot;
    for (int attempt = 0; attempt < 5 && !snapshot; ++attempt) {
      auto scan = impl_->client.Scan(CheckpointStart(name), CheckpointEnd(name), {}, options);
      if (!scan) return std::unexpected(scan.error());
      CheckpointUpdate update;
      update.snapshot = true;
      bool have_header = false;
      bool consistent = true;
      for (const KeyValue& kv : scan->kvs) {
        const std::string_view suffix = std::string_view(kv.key).substr(state->start.size());
        if (suffix.empty()) continue;
        if (suffix[0] == 'h') {
          v1::CheckpointHeader header;
          if (!header.ParseFromString(kv.value)) return Fail(ErrorCode::kInternal, "unreadable checkpoint header");
          have_header = true;
          update.sequence = header.sequence();
          update.revision = kv.mod_ts;
        } else if (suffix[0] == 'o') {
          update.handles_opened.push_back(HandleIdOfKey(suffix));
        } else if (suffix[0] == 's') {
          v1::CheckpointSectionRecord record;
          if (!record.ParseFromString(kv.value)) return Fail(ErrorCode::kInternal, "unreadable checkpoint section");
          if (record.sequence() > update.sequence || kv.mod_ts > update.revision) consistent = false;
          update.sections.push_back(SectionChange{.section_id = std::string(suffix.substr(1)),
                                                  .deleted = false,
                                                  .data = record.data(),
                                                  .expiration_unix_ms = record.expiration_unix_ms(),
                                                  .sequence = record.sequence()});
        }
      }
      if (!have_header) {
        return Fail(ErrorCode::kCheckpointNotFound, "no checkpoint named '" + std::string(name) + "'");
      }
      if (consistent) snapshot = std::move(update);
    }
    if (!snapshot) {
      return Fail(ErrorCode::kUnavailable, "checkpoint '" + std::string(name) +
                                               "' changed during every snapshot read; retry Follow");
    }
    start_revision = snapshot->revision;
    state->delivered_revision = start_revision;
    state->Deliver(*snapshot);
  } else {
    // Resolve the change before the first one wanted and watch after it: this also works when
    // from_sequence is the next change, not yet made (a standby resuming with last + 1).
    const uint64_t anchor = follow.from_sequence == 1 ? 1 : follow.from_sequence - 1;
    auto revision = ResolveSequence(name, anchor, options);
    if (!revision) return std::unexpected(revision.error());
    start_revision = follow.from_sequence == 1 ? *revision - 1 : *revision;
    state->last_sequence.store(follow.from_sequence - 1);
  }
  auto watcher = impl_->client.Watch(CheckpointStart(name), CheckpointEnd(name),
                                     WatchOptions{.start_revision = start_revision},
                                     [state](const WatchUpdate& u) { state->OnWatch(u); });
  if (!watcher) return std::unexpected(watcher.error());
  return std::make_unique<CheckpointFollower>(state, std::move(*watcher));
}

}  // namespace claw::client
