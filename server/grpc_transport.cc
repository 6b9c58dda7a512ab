#include "server/grpc_transport.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "server/metrics.h"
#include "server/thread_name.h"
#include "storage/snapshot.h"

namespace claw::server {

using Clock = std::chrono::steady_clock;

struct GrpcTransport::Peer {
  uint64_t id = 0;
  std::string address;  // guarded by mu (AddPeer may change it)
  std::mutex mu;
  std::condition_variable cv;
  std::vector<GroupMessage> queue;  // guarded by mu
  grpc::ClientContext* context = nullptr;  // guarded by mu: the open stream, for cancellation
  // The latest batch received from this peer, to echo in the next batch sent to it (PeerBatch
  // sent_at_us): its sent_at_us (0 = echoed already) and when it arrived (our clock, us).
  uint64_t echo_sent_at_us = 0;  // guarded by mu
  uint64_t echo_received_us = 0;  // guarded by mu
  prometheus::Histogram* rtt = nullptr;  // set once, before the sender starts
  std::thread thread;
};

namespace {

uint64_t MonotonicMicros() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace

// Receiving side of RaftPeer. Sync API: one gRPC thread per inbound stream, i.e. per peer node.
class GrpcTransport::PeerService final : public v1::RaftPeer::Service {
 public:
  explicit PeerService(GrpcTransport* t) : t_(t) {}

  grpc::Status Send(grpc::ServerContext* /*context*/, grpc::ServerReader<v1::PeerBatch>* reader,
                    v1::PeerAck* /*ack*/) override {
    v1::PeerBatch batch;
    if (!reader->Read(&batch)) return grpc::Status::OK;
    const v1::Hello& h = batch.hello();
    if (h.cluster_id() != t_->options_.cluster_id) {
      SPDLOG_WARN("refusing a peer stream from node {} ({}) of another cluster: cluster id {:x}, ours {:x}",
                  h.from_node_id(), h.name(), h.cluster_id(), t_->options_.cluster_id);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "cluster id mismatch");
    }
    if (h.to_node_id() != t_->options_.self || h.from_node_id() == 0 || h.from_node_id() == t_->options_.self) {
      SPDLOG_WARN("refusing a peer stream from node {} ({}) addressed to node {}; this is node {}",
                  h.from_node_id(), h.name(), h.to_node_id(), t_->options_.self);
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "node id mismatch");
    }
    const uint64_t from = h.from_node_id();
    if (!h.peer_address().empty()) t_->AddPeer(from, h.peer_address());
    t_->router_->UpsertMember(MemberInfo{.id = from,
                                         .name = h.name(),
                                         .peer_address = h.peer_address(),
                                         .client_address = h.client_address(),
                                         .zone = h.zone(),
                                         .rack = h.rack(),
                                         .host = h.host()});
    do {
      if (t_->stopping_.load()) break;
      t_->OnBatch(from, batch);
    } while (reader->Read(&batch));
    return grpc::Status::OK;
  }

  grpc::Status Snapshot(grpc::ServerContext* /*context*/, grpc::ServerReader<v1::SnapshotChunk>* reader,
                        v1::SnapshotAck* ack) override {
    std::string error = t_->ReceiveSnapshot(reader);
    ack->set_accepted(error.empty());
    ack->set_error(error);
    if (!error.empty()) SPDLOG_WARN("refused a snapshot: {}", error);
    return grpc::Status::OK;
  }

 private:
  GrpcTransport* t_;
};

GrpcTransport::GrpcTransport(TransportOptions options, Router* router, Deliver deliver, SnapshotSink sink)
    : options_(std::move(options)),
      router_(router),
      deliver_(std::move(deliver)),
      sink_(std::move(sink)),
      service_(std::make_unique<PeerService>(this)) {
  for (const auto& [id, addr] : options_.peers) {
    auto p = std::make_unique<Peer>();
    p->id = id;
    p->address = addr;
    if (options_.metrics != nullptr) p->rtt = &options_.metrics->PeerRoundTrip(id);
    peers_[id] = std::move(p);
  }
}

GrpcTransport::~GrpcTransport() {
  stopping_.store(true);
  std::vector<Peer*> peers;
  {
    // AddPeer checks stopping_ under this lock: no peer appears after this copy.
    std::unique_lock peers_lock(peers_mu_);
    for (auto& [id, p] : peers_) peers.push_back(p.get());
  }
  for (Peer* p : peers) {
    std::lock_guard lock(p->mu);
    if (p->context) p->context->TryCancel();
    p->cv.notify_all();
  }
  for (Peer* p : peers) {
    if (p->thread.joinable()) p->thread.join();
  }
  snap_cv_.notify_all();
  if (snap_thread_.joinable()) snap_thread_.join();
  for (SnapshotJob& job : snap_queue_) job.done(false);
}

grpc::Service* GrpcTransport::service() { return service_.get(); }

void GrpcTransport::Start() {
  std::unique_lock peers_lock(peers_mu_);
  started_ = true;
  for (auto& [id, p] : peers_) {
    Peer* peer = p.get();
    p->thread = std::thread([this, peer] { RunSender(peer); });
  }
  snap_thread_ = std::thread([this] { RunSnapshotSender(); });
}

void GrpcTransport::AddPeer(uint64_t node, const std::string& address) {
  if (node == 0 || node == options_.self || address.empty()) return;
  {
    std::shared_lock lock(peers_mu_);
    if (auto it = peers_.find(node); it != peers_.end()) {
      Peer* p = it->second.get();
      std::lock_guard peer_lock(p->mu);
      if (p->address == address) return;
      SPDLOG_INFO("node {} moved from {} to {}", node, p->address, address);
      p->address = address;
      if (p->context) p->context->TryCancel();  // the sender reconnects to the new address
      return;
    }
  }
  std::unique_lock lock(peers_mu_);
  if (stopping_.load() || peers_.contains(node)) return;
  auto p = std::make_unique<Peer>();
  p->id = node;
  p->address = address;
  if (options_.metrics != nullptr) p->rtt = &options_.metrics->PeerRoundTrip(node);
  Peer* peer = p.get();
  peers_[node] = std::move(p);
  SPDLOG_INFO("new peer: node {} at {}", node, address);
  if (started_) peer->thread = std::thread([this, peer] { RunSender(peer); });
}

GrpcTransport::Peer* GrpcTransport::FindPeer(uint64_t node) const {
  std::shared_lock lock(peers_mu_);
  auto it = peers_.find(node);
  return it == peers_.end() ? nullptr : it->second.get();
}

void GrpcTransport::SendSnapshot(uint64_t node, GroupMessage message, std::string dir,
                                 std::function<void(bool ok)> done) {
  {
    std::lock_guard lock(snap_mu_);
    if (!stopping_.load()) {
      snap_queue_.push_back(SnapshotJob{.node = node, .message = std::move(message), .dir = std::move(dir), .done = done});
      done = nullptr;
    }
  }
  if (done) done(false);
  snap_cv_.notify_one();
}

void GrpcTransport::RunSnapshotSender() {
  NameThisThread("snap-send");
  while (true) {
    SnapshotJob job;
    {
      std::unique_lock lock(snap_mu_);
      snap_cv_.wait(lock, [this] { return stopping_.load() || !snap_queue_.empty(); });
      if (stopping_.load()) return;
      job = std::move(snap_queue_.front());
      snap_queue_.erase(snap_queue_.begin());
    }
    const bool ok = StreamSnapshot(job);
    job.done(ok);
  }
}

bool GrpcTransport::StreamSnapshot(const SnapshotJob& job) {
  Peer* peer = FindPeer(job.node);
  if (peer == nullptr) return false;
  std::string address;
  {
    std::lock_guard lock(peer->mu);
    address = peer->address;
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(4 << 20);
  auto stub = v1::RaftPeer::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  v1::SnapshotAck ack;
  auto writer = stub->Snapshot(&ctx, &ack);
  v1::SnapshotChunk first;
  *first.mutable_hello() = options_.hello;
  first.mutable_hello()->set_to_node_id(job.node);
  EncodeRaftMessage(job.message.group, job.message.message, first.mutable_message());
  bool ok = writer->Write(first);
  // Files in name order, MANIFEST last (the receiver verifies only once everything arrived).
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(job.dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
    const bool am = a.filename() == storage::kSnapshotManifestName;
    const bool bm = b.filename() == storage::kSnapshotManifestName;
    return am != bm ? bm : a < b;
  });
  uint64_t bytes = 0;
  const auto started = Clock::now();
  // Chunks of at most 1 MiB, smaller under a low rate limit so that pacing stays smooth.
  const uint64_t rate = options_.snapshot_bytes_per_second;
  const size_t chunk_bytes = rate == 0 ? size_t{1} << 20 : std::clamp<size_t>(rate / 8, 4096, size_t{1} << 20);
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    std::string buf(chunk_bytes, '\0');
    bool any = false;
    while (ok && in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      const auto n = in.gcount();
      if (n <= 0 && any) break;
      v1::SnapshotChunk chunk;
      chunk.set_file_name(path.filename().string());
      chunk.set_data(buf.data(), static_cast<size_t>(n));
      ok = writer->Write(chunk);
      bytes += static_cast<uint64_t>(n);
      any = true;
      if (rate != 0) {
        // Sent no faster than the rate since the start of this snapshot (one at a time per node).
        const auto due = started + std::chrono::microseconds(bytes * 1'000'000 / rate);
        while (ok && !stopping_.load() && Clock::now() < due) {
          std::this_thread::sleep_for(std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(100)));
        }
        if (stopping_.load()) ok = false;
      }
    }
  }
  writer->WritesDone();
  grpc::Status st = writer->Finish();
  if (!ok || !st.ok() || !ack.accepted()) {
    SPDLOG_WARN("snapshot of shard {} to node {} failed: {}", job.message.group, job.node,
                st.ok() ? ack.error() : st.error_message());
    if (options_.metrics != nullptr) options_.metrics->snapshot_send_failures.Increment();
    return false;
  }
  if (options_.metrics != nullptr) {
    options_.metrics->snapshot_sent.Increment();
    options_.metrics->snapshot_sent_bytes.Increment(static_cast<double>(bytes));
  }
  SPDLOG_INFO("snapshot of shard {} sent to node {}: {} files, {} bytes", job.message.group, job.node,
              files.size(), bytes);
  return true;
}

std::string GrpcTransport::ReceiveSnapshot(grpc::ServerReader<v1::SnapshotChunk>* reader) {
  v1::SnapshotChunk chunk;
  if (!reader->Read(&chunk)) return "empty snapshot stream";
  // Copied: `chunk` is read into again below, which frees its hello.
  const v1::Hello h = chunk.hello();
  if (h.cluster_id() != options_.cluster_id || h.to_node_id() != options_.self) return "cluster or node id mismatch";
  auto msg = DecodeRaftMessage(std::move(*chunk.mutable_message()));
  if (!msg || !std::holds_alternative<raft::InstallSnapshot>(msg->message.body)) return "the first chunk carries no InstallSnapshot message";
  const std::string dir = options_.snapshot_dir + "/in-" + std::to_string(msg->group) + "-" +
                          std::to_string(snap_seq_.fetch_add(1)) + "-" + std::to_string(::getpid());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  if (ec) return "cannot create " + dir + ": " + ec.message();
  std::ofstream out;
  std::string current;
  uint64_t received = 0;
  auto fail = [&](std::string why) {
    out.close();
    std::filesystem::remove_all(dir, ec);
    return why;
  };
  while (reader->Read(&chunk)) {
    const std::string& name = chunk.file_name();
    if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") return fail("bad file name in snapshot stream");
    if (name != current) {
      out.close();
      out.open(dir + "/" + name, std::ios::binary | std::ios::trunc);
      current = name;
    }
    out.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    if (!out) return fail("writing " + name + " failed");
    received += chunk.data().size();
  }
  out.close();
  auto manifest = storage::VerifyShardSnapshot(dir);
  if (!manifest) return fail("snapshot does not verify: " + manifest.error().message);
  const auto& meta = std::get<raft::InstallSnapshot>(msg->message.body).meta;
  if (manifest->group != msg->group || manifest->applied_index != meta.index || manifest->applied_term != meta.term) {
    return fail("snapshot files do not match their message");
  }
  Touch(h.from_node_id());
  if (options_.metrics != nullptr) {
    options_.metrics->snapshot_received.Increment();
    options_.metrics->snapshot_received_bytes.Increment(static_cast<double>(received));
  }
  sink_(std::move(*msg), dir);
  return {};
}

void GrpcTransport::Send(uint64_t node, std::vector<GroupMessage> messages) {
  Peer* p = FindPeer(node);
  if (p == nullptr) {
    messages_dropped_.fetch_add(messages.size());
    return;
  }
  {
    std::lock_guard lock(p->mu);
    if (p->queue.size() + messages.size() > options_.max_queued_messages) {
      messages_dropped_.fetch_add(messages.size());
      return;
    }
    if (p->queue.empty()) {
      p->queue = std::move(messages);
    } else {
      for (GroupMessage& m : messages) p->queue.push_back(std::move(m));
    }
  }
  p->cv.notify_one();
}

Clock::time_point GrpcTransport::LastHeard(uint64_t node) const {
  std::lock_guard lock(heard_mu_);
  auto it = last_heard_.find(node);
  return it == last_heard_.end() ? Clock::time_point{} : it->second;
}

bool GrpcTransport::Draining(uint64_t node) const {
  std::lock_guard lock(heard_mu_);
  auto it = peer_draining_.find(node);
  return it != peer_draining_.end() && it->second;
}

void GrpcTransport::Touch(uint64_t node) {
  std::lock_guard lock(heard_mu_);
  last_heard_[node] = Clock::now();
}

GrpcTransport::Stats GrpcTransport::stats() const {
  return Stats{.batches_sent = batches_sent_.load(),
               .messages_sent = messages_sent_.load(),
               .messages_dropped = messages_dropped_.load(),
               .reconnects = reconnects_.load()};
}

void GrpcTransport::OnBatch(uint64_t from, v1::PeerBatch& batch) {
  Touch(from);
  if (Peer* peer = FindPeer(from)) {
    const uint64_t now_us = MonotonicMicros();
    if (batch.echo_sent_at_us() != 0 && peer->rtt != nullptr &&
        now_us >= batch.echo_sent_at_us() + batch.echo_held_us()) {
      peer->rtt->Observe(static_cast<double>(now_us - batch.echo_sent_at_us() - batch.echo_held_us()) / 1e6);
    }
    if (batch.sent_at_us() != 0) {
      std::lock_guard lock(peer->mu);
      peer->echo_sent_at_us = batch.sent_at_us();
      peer->echo_received_us = now_us;
    }
  }
  {
    std::lock_guard lock(heard_mu_);
    peer_draining_[from] = batch.draining();
  }
  std::vector<GroupMessage> out;
  out.reserve(batch.messages_size() + batch.heartbeats_size() + batch.heartbeat_responses_size());
  for (v1::RaftMessage& m : *batch.mutable_messages()) {
    auto decoded = DecodeRaftMessage(std::move(m));
    if (!decoded) {
      SPDLOG_WARN("dropping a malformed raft message from node {}: {}", from, decoded.error());
      continue;
    }
    out.push_back(std::move(*decoded));
  }
  auto heartbeat = [&](const v1::CoalescedHeartbeat& h, bool response) {
    auto decoded = DecodeHeartbeat(h, response);
    if (!decoded) {
      SPDLOG_WARN("dropping a malformed heartbeat from node {}: {}", from, decoded.error());
      return;
    }
    out.push_back(std::move(*decoded));
  };
  for (const v1::CoalescedHeartbeat& h : batch.heartbeats()) heartbeat(h, false);
  for (const v1::CoalescedHeartbeat& h : batch.heartbeat_responses()) heartbeat(h, true);
  if (!out.empty()) deliver_(std::move(out));
}

// Writes batches until the stream breaks (false) or the transport stops (true).
bool GrpcTransport::SendLoop(Peer* peer, grpc::ClientWriter<v1::PeerBatch>* writer) {
  std::vector<GroupMessage> pending;
  size_t next = 0;
  while (!stopping_.load()) {
    if (next >= pending.size()) {
      pending.clear();
      next = 0;
      std::unique_lock lock(peer->mu);
      peer->cv.wait_for(lock, options_.keepalive, [&] { return stopping_.load() || !peer->queue.empty(); });
      if (stopping_.load()) return true;
      pending.swap(peer->queue);
    }
    v1::PeerBatch batch;
    batch.set_draining(draining_.load());
    uint64_t bytes = 0;
    size_t count = 0;
    for (; next < pending.size() && bytes < options_.max_batch_bytes; ++next, ++count) {
      GroupMessage& m = pending[next];
      if (!IsHostNotice(m) && IsCoalescible(m.message)) {
        auto* h = std::holds_alternative<raft::Heartbeat>(m.message.body) ? batch.add_heartbeats()
                                                                          : batch.add_heartbeat_responses();
        EncodeHeartbeat(m.group, m.message, h);
        bytes += 48;
      } else {
        v1::RaftMessage* rm = batch.add_messages();
        EncodeGroupMessage(m, rm);
        bytes += rm->ByteSizeLong();
      }
    }
    const uint64_t now_us = MonotonicMicros();
    batch.set_sent_at_us(now_us);
    {
      std::lock_guard lock(peer->mu);
      if (peer->echo_sent_at_us != 0) {
        batch.set_echo_sent_at_us(peer->echo_sent_at_us);
        batch.set_echo_held_us(now_us - peer->echo_received_us);
        peer->echo_sent_at_us = 0;
      }
    }
    if (!writer->Write(batch)) return false;
    batches_sent_.fetch_add(1);
    messages_sent_.fetch_add(count);
  }
  return true;
}

void GrpcTransport::RunSender(Peer* peer) {
  NameThisThread("peer-send-" + std::to_string(peer->id));
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(static_cast<int>(options_.max_message_bytes));
  args.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::string address;
  std::unique_ptr<v1::RaftPeer::Stub> stub;
  std::mt19937_64 rng(options_.self * 1000003 + peer->id);
  auto backoff = std::chrono::milliseconds(50);
  bool was_connected = false;
  while (!stopping_.load()) {
    grpc::ClientContext context;
    {
      std::lock_guard lock(peer->mu);
      if (stopping_.load()) break;
      peer->context = &context;
      if (!stub || address != peer->address) {
        address = peer->address;
        stub = v1::RaftPeer::NewStub(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
      }
    }
    v1::PeerAck ack;
    std::unique_ptr<grpc::ClientWriter<v1::PeerBatch>> writer = stub->Send(&context, &ack);
    v1::PeerBatch hello;
    *hello.mutable_hello() = options_.hello;
    hello.mutable_hello()->set_to_node_id(peer->id);
    hello.set_draining(draining_.load());
    bool clean = false;
    if (writer->Write(hello)) {
      if (!was_connected) SPDLOG_INFO("peer stream to node {} at {} open", peer->id, address);
      was_connected = true;
      backoff = std::chrono::milliseconds(50);
      clean = SendLoop(peer, writer.get());
    }
    writer->WritesDone();
    grpc::Status st = writer->Finish();
    if (!clean) {
      if (was_connected) {
        SPDLOG_WARN("peer stream to node {} at {} broke: {}", peer->id, address, st.error_message());
      }
      was_connected = false;
    }
    {
      std::lock_guard lock(peer->mu);
      peer->context = nullptr;
      // Messages queued for a dead stream are stale by the time it reopens: Raft resends.
      messages_dropped_.fetch_add(peer->queue.size());
      peer->queue.clear();
    }
    if (clean) break;
    reconnects_.fetch_add(1);
    std::unique_lock lock(peer->mu);
    const auto jittered = std::chrono::milliseconds(
        backoff.count() / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(backoff.count() / 2 + 1)));
    peer->cv.wait_for(lock, jittered, [&] { return stopping_.load(); });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace claw::server
