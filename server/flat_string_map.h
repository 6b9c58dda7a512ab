// FlatStringMap<V>: a hash map from strings to V in one array (open addressing, linear probing),
// for the per-key tables on the apply path: the key header cache and the write-dedup window.
//
// Why: std::unordered_map<std::string, V> costs three dependent cache misses per lookup (bucket,
// node, the key's heap bytes) and an allocation per insert. Under batched puts its lookups were
// 3.9 % (key headers) and 1.1 % (dedup) of the machine (perf, tools/clawbench/README.md). Here a
// slot holds the full 64-bit hash, the key and the value: a probe compares hashes in the array
// and touches the key's bytes only on a hash match, so a miss costs about one cache line and a
// hit two (one when the key fits std::string's inline buffer).
//
// Contract: at most 3/4 of the slots are used (the array doubles beyond that); erase shifts the
// following run back (no tombstones), so probe runs stay short under churn. Pointers returned by
// Find / Put are valid until the next Put, Erase or Clear. Clear releases the array (an idle
// shard's table holds no memory). Not thread-safe: one owner thread, like the maps it replaces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace claw::server {

template <typename V>
class FlatStringMap {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Slots allocated (a power of two, or 0): the memory the map holds is about this times
  // sizeof(Slot) plus the keys longer than std::string's inline buffer.
  size_t capacity() const { return slots_.size(); }

  V* Find(std::string_view key) { return const_cast<V*>(std::as_const(*this).Find(key)); }
  const V* Find(std::string_view key) const {
    if (size_ == 0) return nullptr;
    const uint64_t h = Hash(key);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.hash == kEmpty) return nullptr;
      if (s.hash == h && s.key == key) return &s.value;
    }
  }

  // Inserts `key` with `value`, or assigns `value` to the existing entry. Returns the stored value.
  V& Put(std::string_view key, V value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    const uint64_t h = Hash(key);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.hash == kEmpty) break;
      if (s.hash == h && s.key == key) {
        s.value = std::move(value);
        return s.value;
      }
    }
    Slot& s = slots_[i];
    s.hash = h;
    s.key.assign(key);
    s.value = std::move(value);
    ++size_;
    return s.value;
  }

  // Removes `key`; false if it was absent.
  bool Erase(std::string_view key) {
    if (size_ == 0) return false;
    const uint64_t h = Hash(key);
    size_t i = h & mask_;
    for (;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.hash == kEmpty) return false;
      if (s.hash == h && s.key == key) break;
    }
    // Backward shift: move each later entry of the run into the hole when the hole lies between
    // its home slot and where it sits (cyclically), so every entry stays reachable from its home.
    size_t hole = i;
    for (size_t j = (hole + 1) & mask_; slots_[j].hash != kEmpty; j = (j + 1) & mask_) {
      const size_t home = slots_[j].hash & mask_;
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = std::move(slots_[j]);
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
    return true;
  }

  void Clear() {
    std::vector<Slot>().swap(slots_);
    size_ = 0;
    mask_ = 0;
  }

  // Calls f(key, value) for every entry, in no particular order. f must not change the map.
  template <typename F>
  void ForEach(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.hash != kEmpty) f(std::string_view(s.key), s.value);
    }
  }

 private:
  static constexpr uint64_t kEmpty = 0;
  struct Slot {
    uint64_t hash = kEmpty;
    std::string key{};
    V value{};
  };

  static uint64_t Hash(std::string_view key) {
    const uint64_t h = std::hash<std::string_view>{}(key);
    return h == kEmpty ? 1 : h;
  }

  void Grow() {
    std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(slots_.empty() ? 16 : slots_.size() * 2));
    mask_ = slots_.size() - 1;
    for (Slot& s : old) {
      if (s.hash == kEmpty) continue;
      size_t i = s.hash & mask_;
      while (slots_[i].hash != kEmpty) i = (i + 1) & mask_;
      slots_[i] = std::move(s);
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
};

}  // namespace claw::server
