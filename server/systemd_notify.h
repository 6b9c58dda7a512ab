// systemd service integration (DESIGN.md "Operations"; deploy/systemd/clawd.service is Type=notify):
// readiness, status lines, the watchdog and the stop notice, through sd_notify(3). Every call is a
// no-op when the process was not started by systemd (no NOTIFY_SOCKET), so clawd runs the same
// in a shell, a container or a test.
//
// Supervisor: the thread that proves liveness. While `active` (the node serves; systemd arms the
// watchdog only after READY=1), every `period` it asks `stalled` whether a loop that must
// progress (raft workers, the log writer) is stuck; only when none is does it send WATCHDOG=1, so
// systemd restarts a node whose raft or storage path hangs (e.g. an fsync that never returns)
// rather than one whose timer thread still runs. It also refreshes STATUS= from `status` every
// few seconds. Threads: its own. Lifecycle: construct (starts) -> destroy (joins).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace claw::server::systemd {

// READY=1 with a status line.
void NotifyReady(std::string_view status);
void NotifyStatus(std::string_view status);
// STOPPING=1 with a status line.
void NotifyStopping(std::string_view status);
// Asks for more time to start or stop (EXTEND_TIMEOUT_USEC), e.g. during a long recovery.
void ExtendTimeout(std::chrono::microseconds by);
void NotifyWatchdog();
// The watchdog interval systemd expects pings within (WatchdogSec=), if it is enabled for this
// process.
std::optional<std::chrono::microseconds> WatchdogInterval();

class Supervisor {
 public:
  // `stalled` returns an empty string when everything progresses, else what is stuck.
  Supervisor(std::chrono::milliseconds period, std::function<bool()> active, std::function<std::string()> stalled,
             std::function<std::string()> status);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

 private:
  void Run();

  const std::chrono::milliseconds period_;
  std::function<bool()> active_;
  std::function<std::string()> stalled_;
  std::function<std::string()> status_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace claw::server::systemd
