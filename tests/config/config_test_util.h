// Helpers for config tests: a temporary directory for config files, and Load() wrappers that take
// arguments and an environment by value and fail the test when the outcome is not the expected one.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "config/load.h"

namespace claw::config::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "clawd-config-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
    REQUIRE(!path_.empty());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `text` to `name` inside the directory and returns the file's path.
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string file = path_ + "/" + name;
    std::ofstream out(file, std::ios::binary);
    out << text;
    REQUIRE(out.good());
    return file;
  }

 private:
  std::string path_;
};

inline std::expected<LoadResult, ConfigError> LoadWith(std::vector<std::string> args,
                                                       Environment env = {}) {
  return Load(args, env);
}

// Loads and requires success.
inline Config LoadOk(std::vector<std::string> args, Environment env = {}) {
  auto result = LoadWith(std::move(args), std::move(env));
  if (!result) FAIL("unexpected config error: " << result.error().message);
  return result->config;
}

// Loads and requires failure; returns the error message.
inline std::string LoadError(std::vector<std::string> args, Environment env = {}) {
  auto result = LoadWith(std::move(args), std::move(env));
  if (result) FAIL("expected a config error, got none");
  return result.error().message;
}

// Loads the YAML text from a file and requires failure; the message with the path replaced by
// "F", so that tests can compare whole messages.
inline std::string FileError(const std::string& yaml) {
  TempDir dir;
  const std::string file = dir.Write("clawd.yaml", yaml);
  std::string message = LoadError({"--config", file});
  for (size_t at = message.find(file); at != std::string::npos; at = message.find(file)) {
    message.replace(at, file.size(), "F");
  }
  return message;
}

inline Config FileOk(const std::string& yaml, std::vector<std::string> args = {},
                     Environment env = {}) {
  TempDir dir;
  args.insert(args.begin(), {"--config", dir.Write("clawd.yaml", yaml)});
  return LoadOk(std::move(args), std::move(env));
}

}  // namespace claw::config::test
