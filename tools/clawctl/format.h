// clawctl's output building blocks: escaping of arbitrary bytes for terminals, base64, a small
// JSON writer and an aligned text table. Values, no I/O except Table::Print; thread-compatible.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace claw::clawctl {

// clawctl's -w: table, aligned columns with a header, for people; simple, the same records as
// plain lines (columns ", "-separated, no header), like etcdctl's default; json, one document
// whose keys are a stable API.
enum class OutputFormat : uint8_t { kTable, kJson, kSimple };

// Printable ASCII (0x20..0x7e) as is, except '\' -> "\\"; every other byte -> "\xNN".
std::string Escape(std::string_view bytes);
// Standard base64 with padding (RFC 4648 section 4).
std::string Base64(std::string_view bytes);

// Builds one JSON document. Commas are inserted automatically; keys only inside objects.
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view name);
  // A UTF-8 text (names, addresses, messages), JSON-escaped.
  JsonWriter& String(std::string_view text);
  // Arbitrary bytes (keys, values): base64, as the proto3 JSON mapping writes `bytes`.
  JsonWriter& Bytes(std::string_view bytes);
  // 64-bit numbers as decimal strings (proto3 JSON mapping: JSON numbers lose precision > 2^53).
  JsonWriter& Uint64(uint64_t value);
  // 32-bit numbers as JSON numbers (proto3 JSON mapping of uint32).
  JsonWriter& Uint32(uint32_t value);
  JsonWriter& Bool(bool value);
  const std::string& str() const { return out_; }

 private:
  void Separate();

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

// Rows of columns printed left-aligned, two spaces apart, with a header row (kTable); or, for
// kSimple, one line per row with the columns ", "-separated and no header.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out, OutputFormat format = OutputFormat::kTable) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace claw::clawctl
