#include "server/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <spdlog/spdlog.h>

#include "server/thread_name.h"

namespace claw::server::systemd {

namespace {

void Notify(const std::string& message) {
  // 0: keep NOTIFY_SOCKET in the environment (the supervisor thread notifies again later).
  const int r = sd_notify(0, message.c_str());
  if (r < 0) SPDLOG_WARN("sd_notify failed: {}", -r);
}

}  // namespace

void NotifyReady(std::string_view status) { Notify("READY=1\nSTATUS=" + std::string(status)); }
void NotifyStatus(std::string_view status) { Notify("STATUS=" + std::string(status)); }
void NotifyStopping(std::string_view status) { Notify("STOPPING=1\nSTATUS=" + std::string(status)); }
void ExtendTimeout(std::chrono::microseconds by) {
  Notify("EXTEND_TIMEOUT_USEC=" + std::to_string(by.count()));
}
void NotifyWatchdog() { Notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> WatchdogInterval() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec);
}

Supervisor::Supervisor(std::chrono::milliseconds period, std::function<bool()> active,
                       std::function<std::string()> stalled, std::function<std::string()> status)
    : period_(period),
      active_(std::move(active)),
      stalled_(std::move(stalled)),
      status_(std::move(status)),
      thread_([this] { Run(); }) {}

Supervisor::~Supervisor() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void Supervisor::Run() {
  NameThisThread("supervisor");
  const bool watchdog = WatchdogInterval().has_value();
  auto next_status = std::chrono::steady_clock::now();
  std::string last_problem;
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, period_, [this] { return stop_; })) {
    lock.unlock();
    if (!active_()) {
      lock.lock();
      continue;
    }
    const std::string problem = stalled_();
    if (problem.empty()) {
      if (watchdog) NotifyWatchdog();
      if (!last_problem.empty()) SPDLOG_INFO("progress again after: {}", last_problem);
    } else if (problem != last_problem) {
      SPDLOG_ERROR("not making progress: {}{}", problem,
                   watchdog ? "; withholding the systemd watchdog ping" : "");
    }
    last_problem = problem;
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_status) {
      NotifyStatus(problem.empty() ? status_() : "stalled: " + problem);
      next_status = now + std::chrono::seconds(5);
    }
    lock.lock();
  }
}

}  // namespace claw::server::systemd
