#include "powerloss.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#ifndef CLAW_POWERLOSS_SHIM
#error "CLAW_POWERLOSS_SHIM must name the built powerloss shim"
#endif

namespace claw::fault {

namespace {

// What the record says about one path, in the current epoch.
struct FileState {
  bool created = false;   // C: nothing durable until a sync
  uint64_t durable = 0;   // the durable length (after S or O)
  bool known_length = false;
  size_t created_at = 0;  // the record line of the create
};

std::string Parent(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

}  // namespace

std::string PowerLossShimPath() { return CLAW_POWERLOSS_SHIM; }

std::string PowerLossResult::Summary() const {
  std::ostringstream o;
  o << syncs << " syncs recorded; " << truncated << " files truncated (" << bytes_dropped << " bytes dropped), "
    << removed << " unsynced files removed, " << emptied << " emptied";
  if (!changes.empty()) {
    o << " [";
    for (size_t i = 0; i < changes.size() && i < 6; ++i) o << (i ? "; " : "") << changes[i];
    o << (changes.size() > 6 ? "; ...]" : "]");
  }
  if (!errors.empty()) o << "; " << errors.size() << " errors, first: " << errors.front();
  return o.str();
}

PowerLossResult ApplyPowerLoss(const std::string& log_path) {
  PowerLossResult r;
  std::map<std::string, FileState> files;
  std::map<std::string, size_t> dir_synced_at;  // directory -> last D line
  {
    std::ifstream in(log_path);
    if (!in) r.errors.push_back("cannot read " + log_path);
    size_t line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      std::istringstream fields(line);
      std::string kind, path;
      fields >> kind >> path;
      if (kind == "C") {
        files[path] = FileState{.created = true, .durable = 0, .known_length = true, .created_at = line_no};
      } else if (kind == "O") {
        uint64_t size = 0;
        fields >> size;
        if (!files.contains(path)) files[path] = FileState{.durable = size, .known_length = true};
      } else if (kind == "S") {
        uint64_t size = 0;
        fields >> size;
        FileState& f = files[path];
        // Concurrent syncs of one file may log out of order: the longest synced length holds.
        if (f.created || !f.known_length || size > f.durable) f.durable = size;
        f.created = false;
        f.known_length = true;
        ++r.syncs;
      } else if (kind == "D") {
        dir_synced_at[path] = line_no;
      } else if (kind == "R" || kind == "L") {
        std::string to;
        fields >> to;
        auto it = files.find(path);
        if (it == files.end()) {
          files.erase(to);  // now names a file the record knows nothing of: left as it is
        } else {
          files[to] = it->second;
          if (kind == "R") files.erase(path);
        }
      } else if (kind == "X") {
        r.errors.push_back(path + " was opened with O_SYNC/O_DSYNC, which the shim does not model");
      } else if (!line.empty()) {
        r.errors.push_back(log_path + ":" + std::to_string(line_no) + ": cannot parse \"" + line + "\"");
      }
    }
  }
  for (const auto& [path, f] : files) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;  // deleted since, or a directory
    const uint64_t size = std::filesystem::file_size(path, ec);
    if (ec) continue;
    if (f.created) {
      auto dir = dir_synced_at.find(Parent(path));
      const std::string name = std::filesystem::path(path).filename().string();
      if (dir != dir_synced_at.end() && dir->second > f.created_at) {
        if (size > 0 && ::truncate(path.c_str(), 0) != 0) r.errors.push_back("cannot empty " + path);
        ++r.emptied;
        r.changes.push_back(name + ": emptied (" + std::to_string(size) + " bytes)");
      } else {
        if (!std::filesystem::remove(path, ec)) r.errors.push_back("cannot remove " + path);
        ++r.removed;
        r.changes.push_back(name + ": removed (" + std::to_string(size) + " bytes)");
      }
      r.bytes_dropped += size;
      continue;
    }
    if (f.known_length && size > f.durable) {
      if (::truncate(path.c_str(), static_cast<off_t>(f.durable)) != 0) {
        r.errors.push_back("cannot truncate " + path);
        continue;
      }
      ++r.truncated;
      r.bytes_dropped += size - f.durable;
      r.changes.push_back(std::filesystem::path(path).filename().string() + ": " +
                          std::to_string(size - f.durable) + " bytes cut");
    }
  }
  // A new epoch: what is on disk now is what the next run starts from.
  std::ofstream(log_path, std::ios::trunc).flush();
  return r;
}

}  // namespace claw::fault
