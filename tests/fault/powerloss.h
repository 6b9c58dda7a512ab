// Power loss after kill -9 (S16): the harness side of powerloss_shim.c. The shim, preloaded into
// a node, records in a side file what the node made durable (file lengths at fsync/fdatasync,
// created files, directory syncs, renames); after the node is killed, ApplyPowerLoss replays that
// record and throws away what a power loss could have lost:
//   1. a file synced at least once is truncated to its length at the last sync (st_size taken
//      before the sync call);
//   2. an existing file opened for writing and never synced is truncated to its length at open;
//   3. a file created (or emptied with O_TRUNC) and never synced is removed — or emptied, when
//      its directory was synced after the create (its name is then durable, its data not).
// Then it empties the side file: what is left on disk is the durable state the next run starts
// from. Files the node never opened for writing are not touched.
//
// Thread-safety: call only while the node is stopped. See powerloss_shim.c for the model's
// limits (it may keep more than a real power loss; it never drops what a sync made durable).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace claw::fault {

struct PowerLossResult {
  size_t syncs = 0;        // S lines: fsyncs/fdatasyncs of files seen (0: the shim did not run)
  size_t truncated = 0;    // files cut back to their durable length
  size_t removed = 0;      // files created and never synced, removed
  size_t emptied = 0;      // files created and never synced whose directory was synced
  uint64_t bytes_dropped = 0;
  std::vector<std::string> errors{};  // unreadable record, an O_SYNC file, a failed truncate
  std::vector<std::string> changes{};  // "000004.log: 74616 bytes cut", one per file touched

  std::string Summary() const;
};

// The path of the shim (the claw_powerloss_shim target), for LD_PRELOAD.
std::string PowerLossShimPath();

// Replays `log_path` (the shim's CLAW_POWERLOSS_LOG) and applies the loss; empties the log.
PowerLossResult ApplyPowerLoss(const std::string& log_path);

}  // namespace claw::fault
