#include "tools/lincheck/json_line.h"

#include <charconv>
#include <cstddef>
#include <optional>

namespace claw::lincheck {
namespace {

constexpr int kMaxDepth = 64;  // nesting of ignored values

// A recursive-descent reader over one line; the first error wins.
class Reader {
 public:
  explicit Reader(std::string_view text) : text_(text) {}

  std::expected<std::vector<JsonMember>, std::string> Object() {
    std::vector<JsonMember> members;
    SkipSpace();
    if (!Consume('{')) return Fail("expected a JSON object ('{')");
    SkipSpace();
    if (!Consume('}')) {
      while (true) {
        SkipSpace();
        JsonMember member;
        if (Peek() != '"') return Fail("expected a member name (a string)");
        auto name = String();
        if (!name) return std::unexpected(name.error());
        member.name = std::move(*name);
        SkipSpace();
        if (!Consume(':')) return Fail("expected ':' after member name \"" + member.name + "\"");
        SkipSpace();
        if (auto error = Value(member, 0)) return std::unexpected(*error);
        members.push_back(std::move(member));
        SkipSpace();
        if (Consume(',')) continue;
        if (Consume('}')) break;
        return Fail("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) return Fail("unexpected text after the object");
    return members;
  }

 private:
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Consume(char c) {
    if (Peek() != c || pos_ >= text_.size()) return false;
    ++pos_;
    return true;
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\r' ||
                                   text_[pos_] == '\n')) {
      ++pos_;
    }
  }
  std::string At() const { return " at column " + std::to_string(pos_ + 1); }
  std::unexpected<std::string> Fail(const std::string& what) const { return std::unexpected(what + At()); }

  // Reads any value into `member` (its kind, and the text or integer lincheck uses).
  std::optional<std::string> Value(JsonMember& member, int depth) {
    if (depth > kMaxDepth) return "values nested too deeply" + At();
    const char c = Peek();
    if (c == '"') {
      auto text = String();
      if (!text) return text.error();
      member.kind = JsonKind::kString;
      member.text = std::move(*text);
      return std::nullopt;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(member);
    if (c == '{' || c == '[') return Nested(depth);
    for (std::string_view word : {"null", "true", "false"}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        member.kind = word == "null" ? JsonKind::kNull : JsonKind::kOther;
        return std::nullopt;
      }
    }
    return "expected a value" + At();
  }

  // An object or array that lincheck ignores: checked for syntax, kept as kOther.
  std::optional<std::string> Nested(int depth) {
    const char close = Peek() == '{' ? '}' : ']';
    const bool object = close == '}';
    ++pos_;
    SkipSpace();
    if (Consume(close)) return std::nullopt;
    while (true) {
      SkipSpace();
      if (object) {
        if (Peek() != '"') return "expected a member name (a string)" + At();
        if (auto name = String(); !name) return name.error();
        SkipSpace();
        if (!Consume(':')) return "expected ':'" + At();
        SkipSpace();
      }
      JsonMember ignored;
      if (auto error = Value(ignored, depth + 1)) return error;
      SkipSpace();
      if (Consume(',')) continue;
      if (Consume(close)) return std::nullopt;
      return std::string("expected ',' or '") + close + "'" + At();
    }
  }

  std::optional<std::string> Number(JsonMember& member) {
    const size_t start = pos_;
    Consume('-');
    if (Peek() == '0') {
      ++pos_;
    } else if (Peek() >= '1' && Peek() <= '9') {
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    } else {
      return "malformed number" + At();
    }
    bool integer = true;
    if (Consume('.')) {
      integer = false;
      if (!(Peek() >= '0' && Peek() <= '9')) return "malformed number" + At();
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      integer = false;
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!(Peek() >= '0' && Peek() <= '9')) return "malformed number" + At();
      while (Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (!integer) {
      member.kind = JsonKind::kNumber;
      return std::nullopt;
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    auto [end, error] = std::from_chars(first, last, member.integer);
    if (error != std::errc() || end != last) {
      pos_ = start;
      return "integer out of range (64-bit signed)" + At();
    }
    member.kind = JsonKind::kInteger;
    return std::nullopt;
  }

  std::optional<uint32_t> Hex4() {
    if (pos_ + 4 > text_.size()) return std::nullopt;
    uint32_t value = 0;
    auto [end, error] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
    if (error != std::errc() || end != text_.data() + pos_ + 4) return std::nullopt;
    pos_ += 4;
    return value;
  }

  static void AppendUtf8(std::string& out, uint32_t code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  // A string literal at pos_ (which is '"'), decoded. Bytes >= 0x80 pass through unchanged.
  std::expected<std::string, std::string> String() {
    ++pos_;
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) return Fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string (escape it)");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      const char e = Peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          auto code = Hex4();
          if (!code) return Fail("\\u needs four hex digits");
          if (*code >= 0xD800 && *code < 0xDC00) {  // a high surrogate: its low half must follow
            if (!(Consume('\\') && Consume('u'))) return Fail("unpaired surrogate in \\u escape");
            auto low = Hex4();
            if (!low || *low < 0xDC00 || *low >= 0xE000) return Fail("unpaired surrogate in \\u escape");
            *code = 0x10000 + ((*code - 0xD800) << 10) + (*low - 0xDC00);
          } else if (*code >= 0xDC00 && *code < 0xE000) {
            return Fail("unpaired surrogate in \\u escape");
          }
          AppendUtf8(out, *code);
          break;
        }
        default:
          pos_ -= 2;  // at the backslash
          return Fail("unknown escape in a string");
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::expected<std::vector<JsonMember>, std::string> ParseJsonObject(std::string_view line) {
  return Reader(line).Object();
}

}  // namespace claw::lincheck
