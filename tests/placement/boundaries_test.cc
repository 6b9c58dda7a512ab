// server/placement/ is pure like raft/: C++ standard library and its own headers only, and none of
// the standard headers that bring threads, clocks, randomness or I/O. (tests/boundaries checks the
// top-level folders; this checks the stricter rule of this subfolder.)
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

namespace {

TEST_CASE("server/placement includes only the pure C++ standard library and itself",
          "[placement]") {
  const std::filesystem::path root = CLAW_SOURCE_DIR;
  const std::filesystem::path dir = root / "server" / "placement";
  REQUIRE(std::filesystem::is_directory(dir));
  const std::set<std::string> banned = {
      "thread", "mutex", "shared_mutex", "condition_variable", "future", "atomic", "stop_token",
      "latch", "barrier", "semaphore", "execution", "chrono", "ctime", "random", "filesystem",
      "fstream", "iostream", "cstdio", "print", "syncstream", "csignal"};
  const std::regex include(R"(^\s*#\s*include\s*([<"])([^>"]*)[>"])");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".h" && ext != ".cc") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      std::smatch m;
      if (!std::regex_search(line, m, include)) continue;
      const std::string name = m[2];
      INFO(entry.path().filename().string() << ":" << number << ": " << line);
      if (m[1] == "\"") {
        CHECK(name.starts_with("server/placement/"));
      } else {
        // Standard C++ headers have neither a directory nor an extension.
        CHECK(name.find_first_of("/.") == std::string::npos);
        CHECK(banned.count(name) == 0);
      }
    }
  }
  CHECK(files >= 10);
}

}  // namespace
