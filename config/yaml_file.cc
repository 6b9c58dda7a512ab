// The YAML layer: reads the file, parses it with yaml-cpp (every exception caught here), and walks
// its mappings itself so that it can report duplicate keys (yaml-cpp 0.7 keeps both silently),
// unknown keys and wrong types with the line and column of the offending node.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/load_state.h"

namespace claw::config {
namespace {

struct FileWalker {
  const std::string& path;
  LoadState& state;

  std::string Where(const YAML::Mark& mark) const {
    if (mark.is_null()) return path;
    return path + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }

  void WalkTop(const YAML::Node& root);
  void WalkSection(std::string_view section, const YAML::Node& map);
  // Checks each pair's key (a scalar, not seen before) and calls visit(key, value).
  template <typename Visit>
  void ForEachPair(const YAML::Node& map, std::string_view prefix, Visit visit);
  void SetKey(const std::string& full, const YAML::Node& key, const YAML::Node& value);
};

std::string_view KindName(YAML::NodeType::value type) {
  switch (type) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Null:
      return "no value";
    default:
      return "a scalar";
  }
}

std::vector<std::string> KnownNames() {
  std::vector<std::string> names;
  for (const KeySpec& key : AllKeys()) names.emplace_back(key.path);
  for (std::string_view section : Sections()) names.emplace_back(section);
  return names;
}

std::string UnknownKey(std::string_view full) {
  const std::string hint = Suggest(full, KnownNames());
  return "unknown key; " + (hint.empty() ? std::string("run clawd --help for the list of keys")
                                         : hint);
}

template <typename Visit>
void FileWalker::ForEachPair(const YAML::Node& map, std::string_view prefix, Visit visit) {
  std::vector<std::pair<std::string, YAML::Mark>> seen;
  for (const auto& pair : map) {
    // Copies: yaml-cpp's iterator yields a temporary pair, and Node is a cheap handle.
    const YAML::Node key = pair.first;
    const YAML::Node value = pair.second;
    if (!key.IsScalar()) {
      state.Error(Where(key.Mark()), prefix,
                  "a key must be a plain name, got " + std::string(KindName(key.Type())));
      continue;
    }
    const std::string full = prefix.empty() ? key.Scalar() : std::string(prefix) + "." +
                                                                 key.Scalar();
    if (key.Scalar().find('.') != std::string::npos) {
      // One spelling per key: "raft.tick_ms" is written as tick_ms inside a raft: mapping.
      state.Error(Where(key.Mark()), full, "a key must not contain '.'; nest it in its section");
      continue;
    }
    bool duplicate = false;
    for (const auto& [name, mark] : seen) {
      if (name != key.Scalar()) continue;
      state.Error(Where(key.Mark()), full,
                  "duplicate key (first at line " + std::to_string(mark.line + 1) + ":" +
                      std::to_string(mark.column + 1) + "); remove one of them");
      duplicate = true;
    }
    if (duplicate) continue;
    seen.emplace_back(key.Scalar(), key.Mark());
    visit(full, key, value);
  }
}

void FileWalker::WalkTop(const YAML::Node& root) {
  ForEachPair(root, "", [&](const std::string& full, const YAML::Node& key,
                            const YAML::Node& value) {
    for (std::string_view section : Sections()) {
      if (full != section) continue;
      if (value.IsMap()) {
        WalkSection(section, value);
      } else if (!value.IsNull()) {
        state.Error(Where(value.Mark()), full,
                    "must be a mapping of " + full + ".* keys, got " +
                        std::string(KindName(value.Type())));
      }
      return;
    }
    SetKey(full, key, value);
  });
}

void FileWalker::WalkSection(std::string_view section, const YAML::Node& map) {
  ForEachPair(map, section, [&](const std::string& full, const YAML::Node& key,
                                const YAML::Node& value) { SetKey(full, key, value); });
}

void FileWalker::SetKey(const std::string& full, const YAML::Node& key, const YAML::Node& value) {
  const KeySpec* spec = FindKey(full);
  if (spec == nullptr) {
    state.Error(Where(key.Mark()), full, UnknownKey(full));
    return;
  }
  if (value.IsNull()) {
    // yaml-cpp marks a missing value at the next token; the key's position is the useful one.
    state.Error(Where(key.Mark()), full, "has no value (write \"\" for an empty string)");
    return;
  }
  if (value.IsSequence() && (spec->kind == KeyKind::kCluster || spec->kind == KeyKind::kAddrList)) {
    std::string joined;
    for (const YAML::Node& item : value) {
      if (!item.IsScalar()) {
        state.Error(Where(item.Mark()), full,
                    spec->kind == KeyKind::kCluster ? "each member must be a name=host:port string"
                                                    : "each entry must be a host:port string");
        return;
      }
      joined += (joined.empty() ? "" : ",") + item.Scalar();
    }
    state.Set(*spec, joined, Where(value.Mark()));
    return;
  }
  if (!value.IsScalar()) {
    state.Error(Where(value.Mark()), full,
                "expected a single value, got " + std::string(KindName(value.Type())));
    return;
  }
  state.Set(*spec, value.Scalar(), Where(value.Mark()));
}

// Reads the whole file; nullopt after recording why it could not.
std::optional<std::string> ReadFile(const std::string& path, std::string_view named_by,
                                    LoadState& state) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    state.Error(path, "", "cannot open the config file named by " + std::string(named_by) + ": " +
                              std::strerror(errno));
    return std::nullopt;
  }
  std::string text;
  char buffer[8192];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  const int read_errno = errno;
  std::fclose(file);
  if (failed) {
    state.Error(path, "", "cannot read the config file named by " + std::string(named_by) + ": " +
                              std::strerror(read_errno));
    return std::nullopt;
  }
  return text;
}

}  // namespace

void ApplyFile(const std::string& path, std::string_view named_by, LoadState& state) {
  const std::optional<std::string> text = ReadFile(path, named_by, state);
  if (!text) return;
  FileWalker walker{path, state};
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(*text);
    if (documents.size() > 1) {
      state.Error(walker.Where(documents[1].Mark()), "",
                  "holds " + std::to_string(documents.size()) +
                      " YAML documents; a config file holds one");
      return;
    }
    if (documents.empty() || documents[0].IsNull()) return;  // an empty file: nothing to set
    if (!documents[0].IsMap()) {
      state.Error(walker.Where(documents[0].Mark()), "",
                  "must be a mapping of keys such as name: n1, got " +
                      std::string(KindName(documents[0].Type())));
      return;
    }
    walker.WalkTop(documents[0]);
  } catch (const YAML::Exception& e) {
    state.Error(walker.Where(e.mark), "", "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    state.Error(path, "", std::string("cannot load: ") + e.what());
  }
}

}  // namespace claw::config
