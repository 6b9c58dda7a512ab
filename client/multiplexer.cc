#include "client/multiplexer.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace claw::client {

// One Multiplex call. It holds itself open (AddHold) until the Multiplexer knows it will start no
// more operations on it (ReleaseHold), so OnDone, which deletes it, never races a StartWrite.
// It owns itself (`self`) until OnDone; the Multiplexer takes a reference while it cancels one.
class Multiplexer::Stream final : public grpc::ClientBidiReactor<v1::MultiplexRequest, v1::MultiplexResponse>,
                                  public std::enable_shared_from_this<Multiplexer::Stream> {
 public:
  static std::shared_ptr<Stream> Make(Multiplexer* m) {
    std::shared_ptr<Stream> s(new Stream(m));
    s->self = s;
    return s;
  }
  void Start() { StartCall(); }
  void Write() { StartWrite(&out); }
  void Cancel() { ctx_.TryCancel(); }
  void ReleaseHold() { RemoveHold(); }

  void OnReadDone(bool ok) override {
    if (!ok) {
      m_->OnReadEnd(this);
      return;
    }
    m_->OnAnswers(in_);
    in_.Clear();
    StartRead(&in_);
  }
  void OnWriteDone(bool ok) override { m_->OnWriteDone(this, ok); }
  void OnDone(const grpc::Status& status) override {
    m_->OnStreamDone(this, status);
    std::shared_ptr<Stream> last = std::move(self);  // may destroy this on return
  }

  std::shared_ptr<Stream> self;  // until OnDone
  v1::MultiplexRequest out;      // the write in flight; touched only by the thread that set `writing`
  bool writing = false;          // GUARDED_BY(m_->mu_): a write is being started or in flight
  bool dead = false;             // GUARDED_BY(m_->mu_): no more writes
  bool hold_released = false;    // GUARDED_BY(m_->mu_)

 private:
  explicit Stream(Multiplexer* m) : m_(m) {
    m->stub_->async()->Multiplex(&ctx_, this);
    AddHold();
    StartRead(&in_);
  }

  Multiplexer* m_;
  grpc::ClientContext ctx_;
  v1::MultiplexResponse in_;
};

namespace {

// One message carries at most about this many bytes of calls.
constexpr size_t kMaxWriteBytes = 512 << 10;

grpc::Status Unavailable(const std::string& address, const std::string& why) {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream to " + address + " ended: " + why);
}

}  // namespace

Multiplexer::Multiplexer(v1::KV::Stub* stub, std::string address) : stub_(stub), address_(std::move(address)) {}

Multiplexer::~Multiplexer() {
  std::shared_ptr<Stream> open;
  std::unique_lock lock(mu_);
  closing_ = true;
  for (auto& [tag, w] : waiting_) {
    w.waiter->status = Unavailable(address_, "the client is closing");
    w.waiter->done = true;
    w.waiter->cv.notify_one();
  }
  waiting_.clear();
  queued_.Clear();
  if (stream_ != nullptr) open = stream_->shared_from_this();  // alive: OnStreamDone clears stream_
  if (open != nullptr) {
    lock.unlock();
    open->Cancel();
    lock.lock();
  }
  stream_gone_.wait(lock, [this] { return live_streams_ == 0; });
  lock.unlock();
  open.reset();
}

bool Multiplexer::unsupported() const {
  std::lock_guard lock(mu_);
  return unsupported_;
}

grpc::Status Multiplexer::Call(v1::MultiplexCall call, std::chrono::system_clock::time_point deadline,
                               v1::MultiplexAnswer* answer) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::system_clock::now());
  if (left.count() <= 0) return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline passed before sending");
  Waiter w;
  std::unique_lock lock(mu_);
  if (unsupported_) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, address_ + " has no Multiplex");
  if (closing_) return Unavailable(address_, "the client is closing");
  const uint64_t tag = ++next_tag_;
  call.set_tag(tag);
  call.set_timeout_ms(static_cast<uint64_t>(left.count()));
  queued_.add_calls()->Swap(&call);
  waiting_.emplace(tag, Pending{.waiter = &w});
  std::shared_ptr<Stream> fresh = OpenLocked();
  MaybeWrite(lock);  // unlocks
  if (fresh != nullptr) fresh->Start();
  lock.lock();
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

std::shared_ptr<Multiplexer::Stream> Multiplexer::OpenLocked() {
  if (stream_ != nullptr || closing_ || unsupported_ || queued_.calls_size() == 0) return nullptr;
  std::shared_ptr<Stream> s = Stream::Make(this);
  stream_ = s.get();
  ++live_streams_;
  return s;
}

void Multiplexer::MaybeWrite(std::unique_lock<std::mutex>& lock) {
  Stream* s = stream_;
  if (s == nullptr || s->dead || s->writing || queued_.calls_size() == 0) {
    lock.unlock();
    return;
  }
  s->writing = true;  // keeps the hold (and so the call) until this write completes
  // Everything queued, but not much more than kMaxWriteBytes in one message (a call on its own
  // may be larger; the client sends calls over 256 KiB as unary RPCs).
  int n = 0;
  size_t bytes = 0;
  for (; n < queued_.calls_size(); ++n) {
    const size_t b = queued_.calls(n).ByteSizeLong();
    if (n > 0 && bytes + b > kMaxWriteBytes) break;
    bytes += b;
  }
  s->out.Clear();
  if (n == queued_.calls_size()) {
    s->out.Swap(&queued_);
  } else {
    for (int i = 0; i < n; ++i) s->out.add_calls()->Swap(queued_.mutable_calls(i));
    queued_.mutable_calls()->DeleteSubrange(0, n);
  }
  for (const v1::MultiplexCall& c : s->out.calls()) {
    if (auto it = waiting_.find(c.tag()); it != waiting_.end()) it->second.sent_on = s;
  }
  lock.unlock();
  s->Write();
}

void Multiplexer::OnAnswers(v1::MultiplexResponse& response) {
  std::lock_guard lock(mu_);
  for (v1::MultiplexAnswer& a : *response.mutable_answers()) {
    auto it = waiting_.find(a.tag());
    if (it == waiting_.end()) continue;  // its caller gave up
    Waiter* w = it->second.waiter;
    waiting_.erase(it);
    w->status = a.code() == 0 ? grpc::Status::OK
                              : grpc::Status(static_cast<grpc::StatusCode>(a.code()), a.message(), a.details());
    w->answer.Swap(&a);
    w->done = true;
    w->cv.notify_one();
  }
}

void Multiplexer::OnWriteDone(Stream* stream, bool ok) {
  std::unique_lock lock(mu_);
  stream->writing = false;
  if (ok && !stream->dead) {
    MaybeWrite(lock);
    return;
  }
  EndLocked(stream, lock);
}

void Multiplexer::OnReadEnd(Stream* stream) {
  std::unique_lock lock(mu_);
  EndLocked(stream, lock);
}

void Multiplexer::EndLocked(Stream* stream, std::unique_lock<std::mutex>& lock) {
  // The stream takes no more writes: new calls go to a new one. Its hold goes once no write is
  // being started or in flight on it; then gRPC may end it (OnDone).
  stream->dead = true;
  if (stream_ == stream) stream_ = nullptr;
  const bool release = !stream->writing && !stream->hold_released;
  if (release) stream->hold_released = true;
  std::shared_ptr<Stream> fresh = OpenLocked();
  MaybeWrite(lock);  // unlocks
  if (fresh != nullptr) fresh->Start();
  if (release) stream->ReleaseHold();
}

void Multiplexer::OnStreamDone(Stream* stream, const grpc::Status& status) {
  std::unique_lock lock(mu_);
  if (stream_ == stream) stream_ = nullptr;
  const bool missing = status.error_code() == grpc::StatusCode::UNIMPLEMENTED;
  if (missing) unsupported_ = true;
  // Calls written to this stream and not answered: indeterminate (UNAVAILABLE), or UNIMPLEMENTED
  // (never served) on a node without Multiplex, which also gets the calls still queued.
  const grpc::Status failed = missing ? grpc::Status(grpc::StatusCode::UNIMPLEMENTED, address_ + " has no Multiplex")
                                      : Unavailable(address_, status.error_message());
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->second.sent_on == stream || (missing && it->second.sent_on == nullptr)) {
      it->second.waiter->status = failed;
      it->second.waiter->done = true;
      it->second.waiter->cv.notify_one();
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  if (missing) queued_.Clear();
  --live_streams_;
  stream_gone_.notify_all();
  std::shared_ptr<Stream> fresh = OpenLocked();  // calls queued meanwhile get a new stream
  MaybeWrite(lock);  // unlocks
  if (fresh != nullptr) fresh->Start();
}

}  // namespace claw::client
