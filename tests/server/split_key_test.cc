// server/split_key.h: splits never cut a named checkpoint's key range.
#include <catch2/catch.hpp>

#include <string>

#include "client/checkpoint_layout.h"
#include "server/split_key.h"

namespace claw::server {
namespace {

using client::CheckpointEnd;
using client::CheckpointStart;

}  // namespace

TEST_CASE("split keys: a key inside a checkpoint's range moves to the checkpoint's start", "[server]") {
  const std::string x = CheckpointStart("x");  // "\xff\xffckpt/x\0"
  // Keys that cut nothing stay.
  CHECK(CheckpointSafeSplitKeyInside("", "k1").value() == "k1");
  CHECK(CheckpointSafeSplitKeyInside("", x).value() == x);  // a range's start
  CHECK(CheckpointSafeSplitKeyInside("", CheckpointEnd("x")).value() == CheckpointEnd("x"));
  CHECK(CheckpointSafeSplitKeyInside("", std::string(client::kCheckpointPrefix) + "x").value() ==
        std::string(client::kCheckpointPrefix) + "x");  // between checkpoints
  // Inside: at the start instead, when that is strictly inside the shard.
  CHECK(CheckpointSafeSplitKeyInside("", x + "h").value() == x);
  CHECK(CheckpointSafeSplitKeyInside("k", x + "sA").value() == x);
  CHECK(CheckpointSafeSplitKeyInside("k", x + "o\x01").value() == x);
  // The shard starts at (or inside) the checkpoint: refused, saying where to split instead.
  auto refused = CheckpointSafeSplitKeyInside(x, x + "sA");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() ==
        "split key \"\\xff\\xffckpt/x\\x00sA\" lies inside checkpoint 'x''s key range, which starts at or before the "
        "shard's start \"\\xff\\xffckpt/x\\x00\": a split never cuts a checkpoint (every checkpoint call is one atomic "
        "command of one shard); split at or after the checkpoint's end \"\\xff\\xffckpt/x\\x01\" instead");
  CHECK_FALSE(CheckpointSafeSplitKeyInside(x + "h", x + "sA").has_value());
  // Past the checkpoint's end the shard splits as usual.
  CHECK(CheckpointSafeSplitKeyInside(x, CheckpointEnd("x")).value() == CheckpointEnd("x"));
}

TEST_CASE("split keys: a shard within one checkpoint's range is unsplittable", "[server]") {
  const std::string x = CheckpointStart("x");
  CHECK_FALSE(SplittableRange(x, CheckpointEnd("x")));  // a collocated checkpoint's own shard
  CHECK_FALSE(SplittableRange(x + "h", CheckpointEnd("x")));
  CHECK_FALSE(SplittableRange(x + "h", x + "s"));
  CHECK(SplittableRange(x, ""));
  CHECK(SplittableRange(x, CheckpointEnd("x") + "a"));
  CHECK(SplittableRange(CheckpointEnd("w"), CheckpointEnd("x")));  // x's start cuts nothing
  CHECK(SplittableRange("", ""));
  CHECK(SplittableRange("a", "b"));
  CHECK_FALSE(SplittableRange("a", std::string("a\0", 2)));  // no key strictly inside at all
  CHECK(SplittableRange("a", std::string("a\0\0", 3)));
}

TEST_CASE("split keys: the middle of the data moves to a checkpoint's start or end", "[server]") {
  const std::string x = CheckpointStart("x");
  CHECK(CheckpointSafeMiddleKey("", "", "m") == "m");
  CHECK(CheckpointSafeMiddleKey("", "", x + "sB") == x);
  // The shard begins with the checkpoint: its end instead, when inside the shard.
  CHECK(CheckpointSafeMiddleKey(x, "", x + "sB") == CheckpointEnd("x"));
  CHECK(CheckpointSafeMiddleKey(x, CheckpointEnd("x") + "a", x + "sB") == CheckpointEnd("x"));
  // Neither is: unchanged (the leader then refuses with CheckpointSafeSplitKeyInside's message).
  CHECK(CheckpointSafeMiddleKey(x, CheckpointEnd("x"), x + "sB") == x + "sB");
  CHECK_FALSE(CheckpointSafeSplitKeyInside(x, x + "sB").has_value());
}

}  // namespace claw::server
