// Names the calling thread (at most 15 bytes are kept) so that `top -H`, `ps -L`, `perf` and gdb
// show which part of the node a thread belongs to: raft-worker-N, log-writer, peer-send-N,
// snap-send, placement, heartbeat, supervisor.
#pragma once

#include <pthread.h>

#include <string>

namespace claw::server {

inline void NameThisThread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace claw::server
