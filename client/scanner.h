// Scanner: one Client::Scan / ScanEach call, internal to client/. It walks the shards of the
// range one Scan stream at a time, following each stream's last page (`more` + resume_key when
// the server cut the page, `next_shard` + next_key when the range goes on in the next shard),
// and hands keys to the visitor as they arrive.
//
// Its cursor ([lo_, hi_)) moves past every key delivered, so a stream that breaks midway is
// retried (by the dispatcher) from just after the last delivered key: no key is delivered twice
// and none is skipped. The limit counts keys across shards.
//
// Thread-safety: single use by one thread. Lifecycle: construct, Run once, destroy; borrows the
// Dispatcher, which must outlive it.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

#include "client/dispatcher.h"
#include "client/errors.h"
#include "client/types.h"

namespace claw::client {

class Scanner {
 public:
  Scanner(Dispatcher& dispatcher, std::string_view start, std::string_view end,
          const ScanOptions& scan, const CallOptions& options);

  // Scans until the range ends (returns false), the limit is reached or `visit` returns false
  // (returns true: keys may remain), or an error.
  [[nodiscard]] std::expected<bool, Error> Run(const std::function<bool(const KeyValue&)>& visit);

 private:
  // What the last page of one shard's stream said.
  struct StreamEnd {
    bool more = false;
    std::string resume_key{};
    bool next_shard = false;
    std::string next_key{};
  };

  // Streams the part of [lo_, hi_) held by one shard (the one owning lo_, or for reverse scans
  // the keys just below hi_), moving the cursor past every delivered key.
  std::expected<StreamEnd, Error> ScanOneShard(const std::function<bool(const KeyValue&)>& visit,
                                               bool* stopped);
  // Moves the cursor to a continuation key; false when that would not make progress since the
  // stream started at [lo_before, hi_before).
  bool Advance(const std::string& key, const std::string& lo_before, const std::string& hi_before);

  Dispatcher& dispatcher_;
  std::string lo_;  // inclusive; empty = start of the key space
  std::string hi_;  // exclusive; empty = end of the key space
  const ScanOptions scan_;
  const CallOptions options_;
  const Dispatcher::Clock::time_point deadline_;
  uint64_t delivered_ = 0;
};

}  // namespace claw::client
