#include "client/multiplexer.h"

#include <algorithm>
#include <utility>

namespace claw::client {
namespace {

// One message carries at most about this many bytes of calls (a single call may be larger; the
// client sends calls over 256 KiB as unary RPCs).
constexpr size_t kMaxWriteBytes = 512 << 10;

grpc::Status Unavailable(const std::string& address, const std::string& why) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream to " + address + " ended: " + why);
}

}  // namespace

Multiplexer::Multiplexer(v1::KV::Stub* stub, std::string address) : stub_(stub), address_(std::move(address)) {}

Multiplexer::~Multiplexer() {
  Ready ready;
  std::unique_lock lock(mu_);
  closing_ = true;
  while (!waiting_.empty()) {
    CompleteLocked(waiting_.begin(), Unavailable(address_, "the client is closing"), {}, ready);
  }
  queued_.Clear();
  sweep_.notify_all();
  for (auto& s : streams_) s->ctx.TryCancel();  // blocking API: no callback runs on this thread
  lock.unlock();
  RunReady(ready);
  if (sweeper_.joinable()) sweeper_.join();
  lock.lock();
  changed_.wait(lock, [this] { return streams_.empty(); });
}

bool Multiplexer::unsupported() const {
  std::lock_guard lock(mu_);
  return unsupported_;
}

uint64_t Multiplexer::EnqueueLocked(v1::MultiplexCall& call, std::chrono::system_clock::time_point deadline,
                                    Pending pending) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::system_clock::now());
  const uint64_t tag = ++next_tag_;
  call.set_tag(tag);
  call.set_timeout_ms(static_cast<uint64_t>(std::max<int64_t>(left.count(), 1)));
  queued_.add_calls()->Swap(&call);
  if (pending.done) {
    pending.deadline = deadline;
    const bool earliest = deadlines_.empty() || deadline < deadlines_.begin()->first;
    deadlines_.emplace(deadline, tag);
    if (!sweeper_.joinable()) {
      sweeper_ = std::thread([this] { SweepLoop(); });
    } else if (earliest) {
      sweep_.notify_one();
    }
  }
  waiting_.emplace(tag, std::move(pending));
  OpenLocked();
  return tag;
}

void Multiplexer::CompleteLocked(std::unordered_map<uint64_t, Pending>::iterator it, grpc::Status status,
                                 v1::MultiplexAnswer answer, Ready& ready) {
  const uint64_t tag = it->first;
  Pending p = std::move(it->second);
  waiting_.erase(it);
  if (p.done) {
    deadlines_.erase({p.deadline, tag});
    ready.emplace_back(std::move(p.done), std::make_pair(std::move(status), std::move(answer)));
    return;
  }
  p.waiter->status = std::move(status);
  p.waiter->answer = std::move(answer);
  p.waiter->done = true;
  p.waiter->cv.notify_one();
}

grpc::Status Multiplexer::Call(v1::MultiplexCall call, std::chrono::system_clock::time_point deadline,
                               v1::MultiplexAnswer* answer) {
  if (deadline <= std::chrono::system_clock::now()) {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed before sending");
  }
  Waiter w;
  std::unique_lock lock(mu_);
  if (unsupported_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, address_ + " has no Multiplex");
  if (closing_) return Unavailable(address_, "the client is closing");
  const uint64_t tag = EnqueueLocked(call, deadline, Pending{.waiter = &w});
  DrainLocked(lock);
  if (!w.cv.wait_until(lock, deadline, [&] { return w.done; })) {
    // Not answered in time. If it was never written it never will be: a definite failure.
    waiting_.erase(tag);
    auto* calls = queued_.mutable_calls();
    auto it = std::find_if(calls->begin(), calls->end(), [&](const v1::MultiplexCall& c) { return c.tag() == tag; });
    if (it != calls->end()) {
      calls->erase(it);
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed before the call was sent to " + address_);
    }
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed waiting for " + address_);
  }
  *answer = std::move(w.answer);
  return std::move(w.status);
}

namespace {
// While a reader runs callbacks: the Multiplexers whose calls wait for it to write them.
thread_local std::vector<Multiplexer*>* deferred_drains = nullptr;
}  // namespace

bool Multiplexer::InCallback() { return deferred_drains != nullptr; }

void Multiplexer::CallAsync(v1::MultiplexCall call, std::chrono::system_clock::time_point deadline, Done done) {
  std::unique_lock lock(mu_);
  grpc::Status refused;
  if (unsupported_) {
    refused = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, address_ + " has no Multiplex");
  } else if (closing_) {
    refused = Unavailable(address_, "the client is closing");
  } else if (deadline <= std::chrono::system_clock::now()) {
    refused = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed before sending");
  }
  if (!refused.ok()) {
    lock.unlock();
    done(std::move(refused), {});
    return;
  }
  (void)EnqueueLocked(call, deadline, Pending{.done = std::move(done)});
  if (deferred_drains == nullptr) {
    DrainLocked(lock);
  } else if (std::find(deferred_drains->begin(), deferred_drains->end(), this) == deferred_drains->end()) {
    deferred_drains->push_back(this);
  }
}

void Multiplexer::RunReady(Ready& ready) {
  if (ready.empty()) return;
  std::vector<Multiplexer*> drains;
  std::vector<Multiplexer*>* outer = deferred_drains;
  deferred_drains = &drains;
  for (auto& [done, result] : ready) done(std::move(result.first), std::move(result.second));
  ready.clear();
  deferred_drains = outer;
  for (Multiplexer* m : drains) {
    std::unique_lock lock(m->mu_);
    m->DrainLocked(lock);
  }
}

void Multiplexer::SweepLoop() {
  std::unique_lock lock(mu_);
  while (!closing_) {
    if (deadlines_.empty()) {
      sweep_.wait(lock);
      continue;
    }
    const auto first = deadlines_.begin()->first;
    if (std::chrono::system_clock::now() < first) {
      sweep_.wait_until(lock, first);
      continue;
    }
    Ready ready;
    const auto now = std::chrono::system_clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      const uint64_t tag = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto it = waiting_.find(tag);
      if (it == waiting_.end()) continue;
      // Never written: it never will be, a definite failure; written: the outcome is unknown.
      auto* calls = queued_.mutable_calls();
      auto queued = std::find_if(calls->begin(), calls->end(), [&](const v1::MultiplexCall& c) { return c.tag() == tag; });
      grpc::Status status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed waiting for " + address_);
      if (queued != calls->end()) {
        calls->erase(queued);
        status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed before the call was sent to " + address_);
      }
      Pending p = std::move(it->second);
      waiting_.erase(it);
      ready.emplace_back(std::move(p.done), std::make_pair(std::move(status), v1::MultiplexAnswer()));
    }
    lock.unlock();
    RunReady(ready);
    lock.lock();
  }
}

void Multiplexer::OpenLocked() {
  if (stream_ != nullptr || closing_ || unsupported_ || queued_.calls_size() == 0) return;
  streams_.push_back(std::make_unique<Stream>());
  Stream* s = streams_.back().get();
  stream_ = s;
  s->reader = std::thread([this, s] { ReadLoop(s); });
  s->reader.detach();  // it removes its Stream and wakes the destructor as its last step
}

void Multiplexer::ReadLoop(Stream* s) {
  std::unique_ptr<ReaderWriter> rw = stub_->Multiplex(&s->ctx);
  {
    std::unique_lock lock(mu_);
    s->rw = rw.get();
    DrainLocked(lock);  // calls queued while the call was being opened
  }
  v1::MultiplexResponse response;
  while (rw->Read(&response)) {
    OnAnswers(response);
    response.Clear();
  }
  // The call is over (the node answered its status, or the connection broke): no more writes;
  // a write in progress fails at once.
  {
    std::unique_lock lock(mu_);
    s->dead = true;
    if (stream_ == s) stream_ = nullptr;
    changed_.wait(lock, [s] { return !s->writing; });
    s->rw = nullptr;
  }
  const grpc::Status status = rw->Finish();
  rw.reset();
  Ready ready;
  {
    std::unique_lock lock(mu_);
    OnStreamEnd(s, status, ready);
  }
  RunReady(ready);
  std::lock_guard lock(mu_);
  std::erase_if(streams_, [s](const std::unique_ptr<Stream>& p) { return p.get() == s; });
  changed_.notify_all();  // the destructor waits for streams_ to empty
}

void Multiplexer::DrainLocked(std::unique_lock<std::mutex>& lock) {
  Stream* s = stream_;
  if (s == nullptr || s->rw == nullptr || s->writing || s->dead) return;
  s->writing = true;
  v1::MultiplexRequest batch;
  while (!s->dead && !closing_ && queued_.calls_size() > 0) {
    // Everything queued, but not much more than kMaxWriteBytes in one message.
    int n = 0;
    size_t bytes = 0;
    for (; n < queued_.calls_size(); ++n) {
      const size_t b = queued_.calls(n).ByteSizeLong();
      if (n > 0 && bytes + b > kMaxWriteBytes) break;
      bytes += b;
    }
    if (n == queued_.calls_size()) {
      batch.Swap(&queued_);
    } else {
      for (int i = 0; i < n; ++i) batch.add_calls()->Swap(queued_.mutable_calls(i));
      queued_.mutable_calls()->DeleteSubrange(0, n);
    }
    for (const v1::MultiplexCall& c : batch.calls()) {
      if (auto it = waiting_.find(c.tag()); it != waiting_.end()) it->second.sent_on = s;
    }
    ReaderWriter* rw = s->rw;
    lock.unlock();
    const bool ok = rw->Write(batch);
    batch.Clear();
    lock.lock();
    if (!ok) {  // the call is over; its reader reports how it ended
      s->dead = true;
      if (stream_ == s) stream_ = nullptr;
    }
  }
  s->writing = false;
  changed_.notify_all();
}

void Multiplexer::OnAnswers(v1::MultiplexResponse& response) {
  Ready ready;
  {
    std::lock_guard lock(mu_);
    for (v1::MultiplexAnswer& a : *response.mutable_answers()) {
      auto it = waiting_.find(a.tag());
      if (it == waiting_.end()) continue;  // its caller gave up
      grpc::Status status = a.code() == 0 ? grpc::Status::OK
                                          : grpc::Status(static_cast<grpc::StatusCode>(a.code()), a.message(), a.details());
      v1::MultiplexAnswer answer;
      answer.Swap(&a);
      CompleteLocked(it, std::move(status), std::move(answer), ready);
    }
  }
  RunReady(ready);
}

void Multiplexer::OnStreamEnd(Stream* s, const grpc::Status& status, Ready& ready) {
  const bool missing = status.error_code() == grpc::StatusCode::UNIMPLEMENTED;
  if (missing) unsupported_ = true;
  // Calls written to this stream and not answered: indeterminate (UNAVAILABLE), or UNIMPLEMENTED
  // (never served) on a node without Multiplex, which also gets the calls still queued.
  const grpc::Status failed = missing ? grpc::Status(grpc::StatusCode::UNIMPLEMENTED, address_ + " has no Multiplex")
                                      : Unavailable(address_, status.error_message());
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    auto next = std::next(it);
    if (it->second.sent_on == s || (missing && it->second.sent_on == nullptr)) {
      CompleteLocked(it, failed, {}, ready);
    }
    it = next;
  }
  if (missing) queued_.Clear();
  OpenLocked();  // calls queued meanwhile get a new stream
}

}  // namespace claw::client
