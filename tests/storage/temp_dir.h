// TempDir: a fresh directory under a base (default $TMPDIR or /var/tmp, which is disk-backed so
// that O_DIRECT works), removed with its contents on destruction. For storage tests only.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace claw::storage::test {

class TempDir {
 public:
  explicit TempDir(const std::string& base = "") {
    std::string root = base;
    if (root.empty()) {
      const char* env = std::getenv("TMPDIR");
      root = env != nullptr && *env != '\0' ? env : "/var/tmp";
    }
    std::string pattern = root + "/clawd-test-XXXXXX";
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : std::string();
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace claw::storage::test
