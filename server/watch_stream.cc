#include "server/watch_stream.h"

#include <utility>

namespace claw::server {

WatchStream::WatchStream(Sink* sink, Options options, OnEnded on_ended)
    : sink_(sink), options_(std::move(options)), on_ended_(std::move(on_ended)) {}

uint64_t WatchStream::SizeOf(const v1::WatchResponse& r) {
  uint64_t bytes = 16;
  for (const v1::WatchEvent& e : r.events()) {
    bytes += 48 + e.kv().key().size() + e.kv().value().size() + e.prev_kv().key().size() +
             e.prev_kv().value().size();
  }
  return bytes;
}

void WatchStream::ToWire(const ChangeEvent& e, bool prev_kv, v1::WatchEvent* out) {
  if (e.value) {
    out->set_type(v1::WatchEvent::PUT);
    ToKeyValue(e.key, *e.value, false, out->mutable_kv());
  } else {
    out->set_type(v1::WatchEvent::DELETE);
    out->mutable_kv()->set_key(e.key);
    out->mutable_kv()->set_mod_ts(e.ts);
  }
  if (prev_kv && e.prev) ToKeyValue(e.key, *e.prev, false, out->mutable_prev_kv());
}

void WatchStream::Registered(uint64_t from, uint64_t snapshot_ts, std::string served_start,
                             std::string served_end, const v1::ResponseHeader& header) {
  Next next;
  {
    std::lock_guard lock(mu_);
    registered_ = true;
    served_start_ = std::move(served_start);
    served_end_ = std::move(served_end);
    sent_revision_ = from;
    queued_revision_ = std::max(from, snapshot_ts);
    if (ended_) return;
    v1::WatchResponse first;
    *first.mutable_header() = header;
    first.set_created(true);
    first.set_progress_revision(from);
    first.set_served_start_key(served_start_);
    first.set_served_end_key(served_end_);
    // The first response goes out before the catch-up (it is the catch-up's head).
    catch_up_.push_back(std::move(first));
    next = PickLocked();
  }
  Act(std::move(next));
}

void WatchStream::CatchUpReady(std::vector<v1::WatchResponse> responses) {
  Next next;
  {
    std::lock_guard lock(mu_);
    catching_up_ = false;
    if (!ended_) {
      for (v1::WatchResponse& r : responses) catch_up_.push_back(std::move(r));
    }
    next = PickLocked();
  }
  Act(std::move(next));
}

void WatchStream::Deliver(const std::vector<const ChangeEvent*>& events, uint64_t applied_ts,
                          const v1::ResponseHeader& header) {
  Next next;
  {
    std::lock_guard lock(mu_);
    if (ended_ || events.empty()) {
      // Without events, the revision still advances (a later progress note reports it).
      if (!ended_) queued_revision_ = std::max(queued_revision_, applied_ts);
      return;
    }
    v1::WatchResponse r;
    *r.mutable_header() = header;
    for (const ChangeEvent* e : events) ToWire(*e, options_.prev_kv, r.add_events());
    r.set_progress_revision(applied_ts);
    const uint64_t bytes = SizeOf(r);
    if (queue_events_ + events.size() > options_.limits.max_queue_events ||
        queue_bytes_ + bytes > options_.limits.max_queue_bytes) {
      EndLocked(MakeError(RpcCode::kResourceExhausted, v1::Error::WATCH_FELL_BEHIND, "watcher fell behind"),
                WatchEnd::kFellBehind);
    } else {
      queue_events_ += events.size();
      queue_bytes_ += bytes;
      queued_revision_ = std::max(queued_revision_, applied_ts);
      queue_.push_back(std::move(r));
    }
    next = PickLocked();
  }
  Act(std::move(next));
}

void WatchStream::MaybeProgress(uint64_t applied_ts, uint64_t now_ms, const v1::ResponseHeader& header) {
  Next next;
  {
    std::lock_guard lock(mu_);
    if (ended_ || options_.progress_interval_ms == 0 || catching_up_ || !queue_.empty() || writing_) return;
    if (now_ms - last_response_ms_ < options_.progress_interval_ms) return;
    const uint64_t at = std::max(applied_ts, queued_revision_);
    v1::WatchResponse r;
    *r.mutable_header() = header;
    r.set_progress_revision(at);
    queued_revision_ = at;
    last_response_ms_ = now_ms;
    queue_.push_back(std::move(r));
    next = PickLocked();
  }
  Act(std::move(next));
}

void WatchStream::EndLocked(RequestError error, WatchEnd why) {
  if (ended_) return;
  ended_ = true;
  // Invariant 3: what was not handed to gRPC is dropped; the client resumes after what was.
  queue_.clear();
  catch_up_.clear();
  queue_events_ = 0;
  queue_bytes_ = 0;
  if (registered_) {
    error.detail.set_resume_revision(sent_revision_);
    error.detail.set_message(error.detail.message() + " at revision " + std::to_string(sent_revision_) +
                             "; resume from revision " + std::to_string(sent_revision_));
  }
  end_error_ = std::move(error);
  if (on_ended_) on_ended_(why);
}

void WatchStream::End(RequestError error, WatchEnd why) {
  Next next;
  {
    std::lock_guard lock(mu_);
    EndLocked(std::move(error), why);
    next = PickLocked();
  }
  Act(std::move(next));
}

void WatchStream::Cancel() {
  Next next;
  {
    std::lock_guard lock(mu_);
    EndByClientLocked();
    next = PickLocked();
  }
  Act(std::move(next));
}

void WatchStream::SetCatchUp(WatchCatchUp c) {
  std::lock_guard lock(mu_);
  catch_up_point_ = std::move(c);
}

std::optional<WatchCatchUp> WatchStream::TakeCatchUp() {
  std::lock_guard lock(mu_);
  return std::exchange(catch_up_point_, std::nullopt);
}

bool WatchStream::done() const {
  std::lock_guard lock(mu_);
  return ended_;
}

void WatchStream::OnWriteDone(bool ok) {
  Next next;
  {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) EndByClientLocked();
    next = PickLocked();
  }
  Act(std::move(next));
}

void WatchStream::EndByClientLocked() {
  if (ended_) return;
  ended_ = true;
  queue_.clear();
  catch_up_.clear();
  end_error_.reset();
  if (on_ended_) on_ended_(WatchEnd::kClient);
}

WatchStream::Next WatchStream::PickLocked() {
  Next next;
  if (writing_ || finished_) return next;
  std::deque<v1::WatchResponse>* from = nullptr;
  if (!catch_up_.empty()) {
    from = &catch_up_;
  } else if (!catching_up_ && !queue_.empty()) {
    from = &queue_;
  }
  if (from != nullptr) {
    in_flight_ = std::move(from->front());
    from->pop_front();
    if (from == &queue_) {
      queue_events_ -= static_cast<uint64_t>(in_flight_.events_size());
      queue_bytes_ -= std::min(queue_bytes_, SizeOf(in_flight_));
    }
    sent_revision_ = std::max(sent_revision_, in_flight_.progress_revision());
    writing_ = true;
    next.write = &in_flight_;
    return next;
  }
  if (ended_) {
    finished_ = true;
    next.finish = true;
    next.error = end_error_;
  }
  return next;
}

void WatchStream::Act(Next next) {
  if (next.write != nullptr) {
    sink_->Write(next.write);
  } else if (next.finish) {
    sink_->Finish(std::move(next.error));
  }
}

}  // namespace claw::server
