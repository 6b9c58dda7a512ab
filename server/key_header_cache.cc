#include "server/key_header_cache.h"

#include <utility>

namespace claw::server {

std::optional<KeyHeader> KeyHeaderCache::Find(const std::string& key) {
  if (!enabled()) return std::nullopt;
  if (const KeyHeader* h = young_.Find(key)) {
    budget_->hits.fetch_add(1, std::memory_order_relaxed);
    return *h;
  }
  const KeyHeader* old = old_.Find(key);
  if (old == nullptr) {
    budget_->misses.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  budget_->hits.fetch_add(1, std::memory_order_relaxed);
  // A hit in the old generation moves the entry to the young one (the count does not change).
  const KeyHeader h = *old;
  old_.Erase(key);
  young_.Put(key, h);
  return h;
}

void KeyHeaderCache::Put(const std::string& key, const KeyHeader& header) {
  if (!enabled()) return;
  put_since_check_ = true;
  if (KeyHeader* h = young_.Find(key)) {
    *h = header;
    return;
  }
  if (old_.Erase(key)) {
    young_.Put(key, header);
    return;
  }
  if (budget_->used.load(std::memory_order_relaxed) >= budget_->limit) Rotate();
  young_.Put(key, header);
  budget_->used.fetch_add(1, std::memory_order_relaxed);
}

void KeyHeaderCache::Rotate() {
  budget_->used.fetch_sub(static_cast<int64_t>(old_.size()), std::memory_order_relaxed);
  old_ = std::exchange(young_, {});
}

void KeyHeaderCache::Clear() {
  if (budget_ != nullptr) budget_->used.fetch_sub(static_cast<int64_t>(size()), std::memory_order_relaxed);
  young_.Clear();
  old_.Clear();
}

void KeyHeaderCache::ClearIfIdle() {
  if (!put_since_check_ && size() > 0) Clear();
  put_since_check_ = false;
}

}  // namespace claw::server
