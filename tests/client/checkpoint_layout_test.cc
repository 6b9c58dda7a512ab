// The checkpoint key layout (client/checkpoint_layout.h): names, ranges, the split rule and the
// parts of a range outside the checkpoint key space.
#include <catch2/catch.hpp>

#include "client/checkpoint_layout.h"

namespace claw::client {
namespace {

TEST_CASE("checkpoint names: 1..255 bytes of [A-Za-z0-9._:/=@-]", "[client][checkpoint]") {
  CHECK(CheckpointNameError("safApp/ckpt-1:a=b@node.x_y").empty());
  CHECK(CheckpointNameError(std::string(255, 'a')).empty());
  CHECK_FALSE(CheckpointNameError("").empty());
  CHECK_FALSE(CheckpointNameError(std::string(256, 'a')).empty());
  CHECK_FALSE(CheckpointNameError("a b").empty());
  CHECK_FALSE(CheckpointNameError(std::string("a\0b", 3)).empty());
  CHECK_FALSE(CheckpointNameError("caf\xc3\xa9").empty());
}

TEST_CASE("checkpoint keys: every key of a checkpoint lies in its range, and ranges follow name order",
          "[client][checkpoint]") {
  const std::vector<std::string> names = {"a", "a.b", "a/b", "aa", "b", "z", "A", "0"};
  for (const std::string& n : names) {
    const std::string lo = CheckpointStart(n), hi = CheckpointEnd(n);
    for (const std::string& k : {CheckpointHeaderKey(n), CheckpointHandleKey(n, 0), CheckpointHandleKey(n, ~uint64_t{0}),
                                 CheckpointSectionKey(n, ""), CheckpointSectionKey(n, std::string("\xff\xff", 2))}) {
      CHECK(k >= lo);
      CHECK(k < hi);
      REQUIRE(CheckpointOfKey(k).has_value());
      CHECK(*CheckpointOfKey(k) == n);
    }
    CHECK(lo >= kCheckpointPrefix);
    CHECK(hi <= CheckpointPrefixEnd());
    // No other checkpoint's range overlaps this one, and names sort like ranges.
    for (const std::string& m : names) {
      if (m == n) continue;
      CHECK((CheckpointEnd(m) <= lo || CheckpointStart(m) >= hi));
      CHECK((m < n) == (CheckpointStart(m) < lo));
    }
  }
  CHECK(CheckpointHandleKey("x", 1) < CheckpointHandleKey("x", 256));
  CHECK_FALSE(CheckpointOfKey("user/key").has_value());
  CHECK_FALSE(CheckpointOfKey(std::string(kCheckpointPrefix)).has_value());
}

TEST_CASE("a split never cuts a checkpoint: the key moves to the checkpoint's start", "[client][checkpoint]") {
  CHECK(CheckpointSafeSplitKey("m") == "m");
  CHECK(CheckpointSafeSplitKey(CheckpointStart("x")) == CheckpointStart("x"));
  CHECK(CheckpointSafeSplitKey(CheckpointSectionKey("x", "s1")) == CheckpointStart("x"));
  CHECK(CheckpointSafeSplitKey(CheckpointHeaderKey("x")) == CheckpointStart("x"));
  CHECK(CheckpointSafeSplitKey(CheckpointEnd("x")) == CheckpointEnd("x"));
  const std::string between = std::string(kCheckpointPrefix) + "x";  // before x's range
  CHECK(CheckpointSafeSplitKey(between) == between);
}

TEST_CASE("whole-keyspace ranges skip the checkpoint key space; ranges inside it are kept", "[client][checkpoint]") {
  const std::string lo(kCheckpointPrefix), hi = CheckpointPrefixEnd();
  CHECK_FALSE(OutsideCheckpointSpace("a", "b").has_value());
  CHECK_FALSE(OutsideCheckpointSpace(CheckpointStart("x"), CheckpointEnd("x")).has_value());
  CHECK_FALSE(OutsideCheckpointSpace(lo, hi).has_value());
  auto all = OutsideCheckpointSpace(std::string(1, '\0'), "");
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0] == std::pair<std::string, std::string>(std::string(1, '\0'), lo));
  CHECK((*all)[1] == std::pair<std::string, std::string>(hi, ""));
  auto tail = OutsideCheckpointSpace(CheckpointStart("x"), "");
  REQUIRE(tail.has_value());
  REQUIRE(tail->size() == 1);
  CHECK((*tail)[0].first == hi);
  auto head = OutsideCheckpointSpace("a", CheckpointEnd("x"));
  REQUIRE(head.has_value());
  REQUIRE(head->size() == 1);
  CHECK((*head)[0] == std::pair<std::string, std::string>("a", lo));
  CHECK(OverlapsCheckpointSpace("a", ""));
  CHECK_FALSE(OverlapsCheckpointSpace("a", lo));
  CHECK_FALSE(OverlapsCheckpointSpace(hi, ""));
}

}  // namespace
}  // namespace claw::client
