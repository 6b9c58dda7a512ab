// clock_shim: an LD_PRELOAD library that skews one node's wall clock (S12), in place of
// libfaketime, which deadlocks clawd's jemalloc at startup (tests/fault/README.md).
//
// Environment: CLAW_CLOCK_CONTROL names a file of two little-endian int64 values that the test
// rewrites while the node runs (the shim maps it shared, read-only): [0] an offset in
// milliseconds added to the wall clock, [1] a rate in parts per million (1000000 = real speed;
// 0 is read as 1000000). The faked wall clock is
//     real + offset + (real - start) * (rate - 1e6) / 1e6
// where start is the real wall clock when the process started, so a rate change or an offset
// change is a jump. Faked: clock_gettime of CLOCK_REALTIME, CLOCK_REALTIME_COARSE and
// CLOCK_TAI, gettimeofday, time. Not faked: CLOCK_MONOTONIC / BOOTTIME (steady_clock, the Raft
// ticks and leases, and every timed wait keep real time), so this attacks the HLC, not leases.
//
// Before its constructor has run (other libraries' constructors, jemalloc's initialization), and
// without CLAW_CLOCK_CONTROL, every call is the real clock (a raw syscall until libc's function
// is known). No allocation on any path. Thread-safe: the control words are read with relaxed
// atomic loads; a read torn between an offset and a rate change is one more jump.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec*);
static clock_gettime_fn g_real;             // libc's, once the constructor found it
static const volatile int64_t* g_control;  // [offset_ms, rate_ppm], or NULL
static int64_t g_start_ns;                  // real wall clock at the constructor

static int Real(clockid_t clock, struct timespec* ts) {
  clock_gettime_fn real = __atomic_load_n(&g_real, __ATOMIC_ACQUIRE);
  if (real != NULL) return real(clock, ts);
  return (int)syscall(SYS_clock_gettime, clock, ts);
}

__attribute__((constructor)) static void Init(void) {
  void* p = dlsym(RTLD_NEXT, "clock_gettime");
  clock_gettime_fn real;
  memcpy(&real, &p, sizeof(real));  // ISO C has no cast from void* to a function pointer
  struct timespec now;
  if (real == NULL || real(CLOCK_REALTIME, &now) != 0) return;
  g_start_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  const char* path = getenv("CLAW_CLOCK_CONTROL");
  if (path != NULL) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      void* map = mmap(NULL, 2 * sizeof(int64_t), PROT_READ, MAP_SHARED, fd, 0);
      close(fd);
      if (map != MAP_FAILED) g_control = (const volatile int64_t*)map;
    }
  }
  __atomic_store_n(&g_real, real, __ATOMIC_RELEASE);
}

static int Skewed(clockid_t clock) {
  return clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE || clock == CLOCK_TAI;
}

int clock_gettime(clockid_t clock, struct timespec* ts) {
  const int rc = Real(clock, ts);
  if (rc != 0 || g_control == NULL || !Skewed(clock)) return rc;
  const int64_t offset_ms = __atomic_load_n(&g_control[0], __ATOMIC_RELAXED);
  int64_t rate_ppm = __atomic_load_n(&g_control[1], __ATOMIC_RELAXED);
  if (rate_ppm <= 0) rate_ppm = 1000000;
  const int64_t real_ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
  const int64_t elapsed = real_ns - g_start_ns;
  // elapsed * (rate - 1e6) / 1e6 without overflow for days of elapsed time and rates near 1e6.
  const int64_t drift = (elapsed / 1000000) * (rate_ppm - 1000000) + (elapsed % 1000000) * (rate_ppm - 1000000) / 1000000;
  const int64_t faked = real_ns + offset_ms * 1000000 + drift;
  ts->tv_sec = (time_t)(faked / 1000000000);
  ts->tv_nsec = (long)(faked % 1000000000);
  if (ts->tv_nsec < 0) {
    ts->tv_nsec += 1000000000;
    ts->tv_sec -= 1;
  }
  return 0;
}

int gettimeofday(struct timeval* tv, void* tz) {
  (void)tz;
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return -1;
  tv->tv_sec = ts.tv_sec;  // glibc declares tv nonnull
  tv->tv_usec = ts.tv_nsec / 1000;
  return 0;
}

time_t time(time_t* out) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
  if (out != NULL) *out = ts.tv_sec;
  return ts.tv_sec;
}
