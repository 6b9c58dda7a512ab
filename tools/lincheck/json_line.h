// A minimal JSON reader for one line of a lincheck history: a flat object whose members are
// strings, integers or null. Nested objects and arrays, booleans and non-integer numbers are
// parsed too (RFC 8259 syntax) and kept only as their kind, so that unknown fields of any type can
// be ignored while the fields lincheck reads get precise messages.
//
// Pure functions over values; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace claw::lincheck {

enum class JsonKind : uint8_t { kString, kInteger, kNumber, kNull, kOther };  // kNumber: not an integer

struct JsonMember {
  std::string name{};
  JsonKind kind = JsonKind::kNull;
  std::string text{};   // kString: the decoded string (UTF-8)
  int64_t integer = 0;  // kInteger
};

// The members of the object on `line`, in order (duplicates included). The error says what is
// wrong and at which byte column (1-based).
[[nodiscard]] std::expected<std::vector<JsonMember>, std::string> ParseJsonObject(std::string_view line);

}  // namespace claw::lincheck
