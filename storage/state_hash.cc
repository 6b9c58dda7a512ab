#include "storage/state_hash.h"

#include <cstring>

#include "storage/hlc.h"
#include "storage/mvcc.h"

namespace claw::storage {
namespace {

constexpr uint64_t kMulA = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kMulB = 0xc2b2ae3d27d4eb4full;
constexpr uint64_t kMulC = 0x165667b19e3779f9ull;
constexpr uint64_t kMulD = 0xd6e8feb86659fd93ull;

uint64_t Rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }

// A 64-bit avalanche: every input bit flips each output bit with probability close to 1/2.
uint64_t Avalanche(uint64_t v) {
  v ^= v >> 31;
  v *= 0x7fb5d329728ea185ull;
  v ^= v >> 27;
  v *= 0x81dadef4bc2dd44dull;
  v ^= v >> 33;
  return v;
}

void AppendHex(std::string& out, uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kDigits[(v >> shift) & 0xf]);
}

}  // namespace

void StateHasher::Word(uint64_t w) {
  a_ = Rotl(a_ ^ (w * kMulA), 29) * kMulB + words_;
  b_ = (Rotl(b_ + (w * kMulC), 37) * kMulD) ^ a_;
  ++words_;
}

void StateHasher::AddU64(uint64_t v) { Word(v); }

void StateHasher::Add(std::string_view field) {
  Word(field.size());
  size_t i = 0;
  for (; i + 8 <= field.size(); i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, field.data() + i, 8);
    Word(w);
  }
  if (i < field.size()) {
    uint64_t w = 0;
    std::memcpy(&w, field.data() + i, field.size() - i);  // zero-padded: the length came first
    Word(w);
  }
}

std::string StateHasher::HexDigest() const {
  const uint64_t hi = Avalanche(a_ ^ Avalanche(b_ + words_));
  const uint64_t lo = Avalanche(b_ ^ Avalanche(hi + a_));
  std::string out;
  out.reserve(32);
  AppendHex(out, hi);
  AppendHex(out, lo);
  return out;
}

ReadSnapshot::ReadSnapshot(const Engine& engine) : engine_(engine), snapshot_(engine.db()->GetSnapshot()) {}

ReadSnapshot::~ReadSnapshot() { engine_.db()->ReleaseSnapshot(snapshot_); }

std::expected<RangeHash, StorageError> HashRange(const Engine& engine, const ReadSnapshot& snapshot,
                                                 std::string_view start, std::string_view end) {
  StateHasher hasher;
  RangeHash out;
  MvccReader reader(engine, snapshot.get());
  auto visited = reader.ForEach(start, end, Timestamp::Max(), ScanDirection::kForward,
                                [&](std::string_view key, std::string_view value) {
                                  hasher.Add(key);
                                  hasher.Add(value);
                                  ++out.keys;
                                  out.bytes += key.size() + value.size();
                                  return true;
                                });
  if (!visited) return std::unexpected(visited.error());
  hasher.Add(start);
  hasher.Add(end);
  hasher.AddU64(out.keys);
  out.hash = hasher.HexDigest();
  return out;
}

}  // namespace claw::storage
