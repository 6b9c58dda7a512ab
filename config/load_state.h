// Internal to config/: the state Load() threads through its layers (file, environment, flags)
// and the final resolution and cross-field checks. Not part of the public API.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/keys.h"

namespace claw::config {

struct LoadState {
  Config config{};
  // Key path -> where its current value was set: "file.yaml:3:5", "CLAWD_NAME", "--name".
  // Keys absent here still hold their default.
  std::map<std::string_view, std::string> origin{};
  // Every problem found, each "WHERE: KEY: PROBLEM" ("WHERE: PROBLEM" when no key applies).
  std::vector<std::string> errors{};

  void Error(std::string_view where, std::string_view key, std::string_view problem);
  // Parses `text` into `key`'s field and records `where`; on failure records an error instead.
  void Set(const KeySpec& key, std::string_view text, const std::string& where);
  bool IsSet(std::string_view path) const { return origin.contains(path); }
};

// Applies the YAML file at `path`, named by `named_by` ("--config" or "CLAWD_CONFIG")
// (config/yaml_file.cc).
void ApplyFile(const std::string& path, std::string_view named_by, LoadState& state);

// Fills initial_cluster, peer_addr and advertise_client_addr where they were left empty, then
// checks the rules that span several keys (config/resolve.cc). Call only when no error so far.
void Resolve(LoadState& state);

}  // namespace claw::config
