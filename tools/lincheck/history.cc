#include "tools/lincheck/history.h"

#include <array>
#include <initializer_list>
#include <istream>
#include <utility>

#include "tools/lincheck/json_line.h"

namespace claw::lincheck {
namespace {

constexpr std::array<std::pair<std::string_view, OpKind>, 4> kKinds = {{
    {"get", OpKind::kGet}, {"put", OpKind::kPut}, {"cas", OpKind::kCas}, {"delete", OpKind::kDelete}}};
constexpr std::array<std::pair<std::string_view, Outcome>, 5> kOutcomes = {{{"ok", Outcome::kOk},
                                                                            {"fail", Outcome::kFail},
                                                                            {"error", Outcome::kError},
                                                                            {"unknown", Outcome::kUnknown},
                                                                            {"timeout", Outcome::kUnknown}}};

std::string_view KindText(JsonKind kind) {
  switch (kind) {
    case JsonKind::kString: return "a string";
    case JsonKind::kInteger: return "an integer";
    case JsonKind::kNumber: return "a number with a fraction or exponent";
    case JsonKind::kNull: return "null";
    case JsonKind::kOther: return "a boolean, object or array";
  }
  return "?";
}

// The fields lincheck reads, each at most once.
struct Fields {
  const JsonMember* client = nullptr;
  const JsonMember* op = nullptr;
  const JsonMember* key = nullptr;
  const JsonMember* value = nullptr;
  const JsonMember* expected = nullptr;
  const JsonMember* invoke = nullptr;
  const JsonMember* ret = nullptr;
  const JsonMember* outcome = nullptr;
};

std::expected<Fields, std::string> Collect(const std::vector<JsonMember>& members) {
  Fields fields;
  const std::array<std::pair<std::string_view, const JsonMember**>, 8> slots = {{{"client", &fields.client},
                                                                                {"op", &fields.op},
                                                                                {"key", &fields.key},
                                                                                {"value", &fields.value},
                                                                                {"expected", &fields.expected},
                                                                                {"invoke", &fields.invoke},
                                                                                {"return", &fields.ret},
                                                                                {"outcome", &fields.outcome}}};
  for (const JsonMember& member : members) {
    for (const auto& [name, slot] : slots) {
      if (member.name != name) continue;
      if (*slot != nullptr) return std::unexpected("\"" + member.name + "\" appears twice");
      *slot = &member;
    }
  }
  return fields;
}

// Checks that `member` is present (when `required`) and of one of the kinds allowed.
std::optional<std::string> Expect(const JsonMember* member, std::string_view name, bool required,
                                  std::initializer_list<JsonKind> kinds, std::string_view wanted) {
  if (member == nullptr) {
    if (!required) return std::nullopt;
    return "missing \"" + std::string(name) + "\" (" + std::string(wanted) + ")";
  }
  for (JsonKind kind : kinds) {
    if (member->kind == kind) return std::nullopt;
  }
  return "\"" + std::string(name) + "\" must be " + std::string(wanted) + ", not " +
         std::string(KindText(member->kind));
}

Value ValueOf(const JsonMember* member) {
  if (member == nullptr || member->kind == JsonKind::kNull) return std::nullopt;
  return member->text;
}

constexpr bool kRequired = true;  // for Expect: the field must be present

}  // namespace

std::string_view OpKindName(OpKind kind) {
  for (const auto& [name, k] : kKinds) {
    if (k == kind) return name;
  }
  return "?";
}

std::string_view OutcomeName(Outcome outcome) {
  for (const auto& [name, o] : kOutcomes) {
    if (o == outcome) return name;
  }
  return "?";
}

std::expected<Operation, std::string> ParseOperation(std::string_view line) {
  auto members = ParseJsonObject(line);
  if (!members) return std::unexpected("malformed JSON: " + members.error());
  auto fields = Collect(*members);
  if (!fields) return std::unexpected(fields.error());
  const Fields& f = *fields;
  Operation op;

  if (auto e = Expect(f.op, "op", kRequired, {JsonKind::kString}, "get, put, cas or delete")) return std::unexpected(*e);
  bool known = false;
  for (const auto& [name, kind] : kKinds) {
    if (f.op->text == name) op.kind = kind, known = true;
  }
  if (!known) return std::unexpected("unknown \"op\" \"" + f.op->text + "\" (get, put, cas or delete)");

  if (auto e = Expect(f.outcome, "outcome", kRequired, {JsonKind::kString}, "ok, fail, error or unknown")) {
    return std::unexpected(*e);
  }
  known = false;
  for (const auto& [name, outcome] : kOutcomes) {
    if (f.outcome->text == name) op.outcome = outcome, known = true;
  }
  if (!known) {
    return std::unexpected("unknown \"outcome\" \"" + f.outcome->text + "\" (ok, fail, error, unknown or timeout)");
  }

  if (auto e = Expect(f.client, "client", kRequired, {JsonKind::kInteger}, "an integer >= 0")) return std::unexpected(*e);
  if (f.client->integer < 0) return std::unexpected("\"client\" must be an integer >= 0");
  op.client = static_cast<uint64_t>(f.client->integer);
  if (auto e = Expect(f.key, "key", kRequired, {JsonKind::kString}, "a string")) return std::unexpected(*e);
  op.key = f.key->text;

  if (auto e = Expect(f.invoke, "invoke", kRequired, {JsonKind::kInteger}, "an integer time")) return std::unexpected(*e);
  op.invoke = f.invoke->integer;
  const bool return_required = op.outcome == Outcome::kOk || op.outcome == Outcome::kFail;
  if (return_required) {
    if (auto e = Expect(f.ret, "return", kRequired, {JsonKind::kInteger}, "an integer time, as the outcome is known")) {
      return std::unexpected(*e);
    }
  } else if (auto e = Expect(f.ret, "return", !kRequired, {JsonKind::kInteger, JsonKind::kNull},
                             "an integer time or null")) {
    return std::unexpected(*e);
  }
  if (f.ret != nullptr && f.ret->kind == JsonKind::kInteger) {
    op.ret = f.ret->integer;
    if (*op.ret < op.invoke) {
      return std::unexpected("\"return\" " + std::to_string(*op.ret) + " is before \"invoke\" " +
                             std::to_string(op.invoke));
    }
  }

  switch (op.kind) {
    case OpKind::kGet:
      // An ok get must say what it read; for other outcomes a value is optional and unused.
      if (auto e = Expect(f.value, "value", op.outcome == Outcome::kOk, {JsonKind::kString, JsonKind::kNull},
                          "the value read: a string, or null when absent")) {
        return std::unexpected(*e);
      }
      if (f.expected != nullptr) return std::unexpected("a get has no \"expected\"");
      break;
    case OpKind::kPut:
      if (auto e = Expect(f.value, "value", kRequired, {JsonKind::kString}, "the value written: a string")) {
        return std::unexpected(*e);
      }
      if (f.expected != nullptr) return std::unexpected("a put has no \"expected\" (use cas)");
      break;
    case OpKind::kCas:
      if (auto e = Expect(f.expected, "expected", kRequired, {JsonKind::kString, JsonKind::kNull},
                          "the value compared with: a string, or null for absent")) {
        return std::unexpected(*e);
      }
      if (auto e = Expect(f.value, "value", kRequired, {JsonKind::kString, JsonKind::kNull},
                          "the value written: a string, or null to delete")) {
        return std::unexpected(*e);
      }
      break;
    case OpKind::kDelete:
      if (f.value != nullptr || f.expected != nullptr) return std::unexpected("a delete has no \"value\" or \"expected\"");
      break;
  }
  op.value = ValueOf(f.value);
  op.expected = ValueOf(f.expected);
  return op;
}

std::expected<std::vector<Operation>, std::vector<ParseError>> ReadHistory(std::istream& in) {
  std::vector<Operation> ops;
  std::vector<ParseError> errors;
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    auto op = ParseOperation(line);
    if (!op) {
      errors.push_back(ParseError{.line = number, .message = op.error()});
      continue;
    }
    op->line = number;
    if (errors.empty()) ops.push_back(std::move(*op));
  }
  if (in.bad()) errors.push_back(ParseError{.line = number + 1, .message = "read error"});
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return ops;
}

std::string JsonQuote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string JsonValue(const Value& value) { return value ? JsonQuote(*value) : "null"; }

std::string FormatOperation(const Operation& op) {
  std::string out = "{\"client\":" + std::to_string(op.client) + ",\"op\":\"" + std::string(OpKindName(op.kind)) +
                    "\",\"key\":" + JsonQuote(op.key);
  switch (op.kind) {
    case OpKind::kGet:
      if (op.outcome == Outcome::kOk || op.value) out += ",\"value\":" + JsonValue(op.value);
      break;
    case OpKind::kPut:
      out += ",\"value\":" + JsonValue(op.value);
      break;
    case OpKind::kCas:
      out += ",\"expected\":" + JsonValue(op.expected) + ",\"value\":" + JsonValue(op.value);
      break;
    case OpKind::kDelete:
      break;
  }
  out += ",\"invoke\":" + std::to_string(op.invoke);
  out += ",\"return\":" + (op.ret ? std::to_string(*op.ret) : std::string("null"));
  out += ",\"outcome\":\"" + std::string(OutcomeName(op.outcome)) + "\"}";
  return out;
}

}  // namespace claw::lincheck
