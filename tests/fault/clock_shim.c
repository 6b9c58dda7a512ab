// clock_shim: an LD_PRELOAD library that skews one node's clocks (S12), in place of
// libfaketime, which deadlocks clawd's jemalloc at startup (tests/fault/README.md).
//
// Wall clock. CLAW_CLOCK_CONTROL names a file of two little-endian int64 values that the test
// rewrites while the node runs (the shim maps it shared, read-only): [0] an offset in
// milliseconds added to the wall clock, [1] a rate in parts per million (1000000 = real speed;
// 0 is read as 1000000). The faked wall clock is
//     real + offset + (real - start) * (rate - 1e6) / 1e6
// where start is the real wall clock when the process started, so a rate change or an offset
// change is a jump. Faked: clock_gettime of CLOCK_REALTIME, CLOCK_REALTIME_COARSE and
// CLOCK_TAI, gettimeofday, time.
//
// Steady clock. CLAW_CLOCK_STEADY_RATE_PPM (fixed for the process's life, so the clock stays
// monotonic and continuous) runs CLOCK_MONOTONIC, _COARSE, _RAW and CLOCK_BOOTTIME at that rate
// from the constructor on: fake = start + (real - start) * rate / 1e6. That is the clock of
// clawd's Raft ticks and leader leases (std::chrono::steady_clock), so a node whose steady clock
// runs slow keeps its lease longer in real time: within raft.max_clock_drift_ppm leases must stay
// safe. pthread_cond_clockwait on CLOCK_MONOTONIC (std::condition_variable::wait_until on
// steady_clock) gets its deadline mapped back to real time, so timed waits end when the faked
// clock reaches them instead of spinning; relative sleeps and waits need nothing.
//
// Before its constructor has run (other libraries' constructors, jemalloc's initialization), and
// without the variables, every call is the real clock (a raw syscall until libc's function is
// known). No allocation on any path. Thread-safe: the control words are read with relaxed atomic
// loads; a read torn between an offset and a rate change is one more jump.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
typedef int (*clockwait_fn)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const struct timespec*);
static clock_gettime_fn g_real;             // libc's, once the constructor found it
static clockwait_fn g_real_clockwait;       // libc's pthread_cond_clockwait
static const volatile int64_t* g_control;  // [offset_ms, rate_ppm], or NULL
static int64_t g_start_ns;                  // real wall clock at the constructor
static int64_t g_steady_rate_ppm;           // 0: the steady clocks are real
static int64_t g_steady_start_ns;           // real CLOCK_MONOTONIC at the constructor

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
  void* w = dlsym(RTLD_NEXT, "pthread_cond_clockwait");
  memcpy(&g_real_clockwait, &w, sizeof(g_real_clockwait));
  const char* steady = getenv("CLAW_CLOCK_STEADY_RATE_PPM");
  if (steady != NULL && g_real_clockwait != NULL) {
    const long long rate = strtoll(steady, NULL, 10);
    struct timespec mono;
    if (rate > 0 && rate != 1000000 && real(CLOCK_MONOTONIC, &mono) == 0) {
      g_steady_start_ns = (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec;
      g_steady_rate_ppm = rate;
    }
  }
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

static int Steady(clockid_t clock) {
  return clock == CLOCK_MONOTONIC || clock == CLOCK_MONOTONIC_COARSE || clock == CLOCK_MONOTONIC_RAW ||
         clock == CLOCK_BOOTTIME;
}

static int64_t Ns(const struct timespec* ts) { return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec; }

static void SetNs(struct timespec* ts, int64_t ns) {
  ts->tv_sec = (time_t)(ns / 1000000000);
  ts->tv_nsec = (long)(ns % 1000000000);
}

// (x * num) / den for x up to days in nanoseconds and num, den up to a few million.
static int64_t Scale(int64_t x, int64_t num, int64_t den) { return (x / den) * num + (x % den) * num / den; }

int clock_gettime(clockid_t clock, struct timespec* ts) {
  const int rc = Real(clock, ts);
  if (rc != 0) return rc;
  const int64_t steady_rate = __atomic_load_n(&g_steady_rate_ppm, __ATOMIC_RELAXED);
  if (steady_rate != 0 && Steady(clock)) {
    // Each steady clock from its own reading at the constructor would differ by their offsets;
    // they all share CLOCK_MONOTONIC's start, which is what clawd reads.
    const int64_t real_ns = Ns(ts);
    if (real_ns > g_steady_start_ns) SetNs(ts, g_steady_start_ns + Scale(real_ns - g_steady_start_ns, steady_rate, 1000000));
    return 0;
  }
  if (g_control == NULL || !Skewed(clock)) return rc;
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

int pthread_cond_clockwait(pthread_cond_t* cond, pthread_mutex_t* mutex, clockid_t clock, const struct timespec* abstime) {
  clockwait_fn real = g_real_clockwait;
  if (real == NULL) return EINVAL;  // only reachable before the constructor, which nothing waits in
  const int64_t steady_rate = __atomic_load_n(&g_steady_rate_ppm, __ATOMIC_RELAXED);
  if (steady_rate == 0 || clock != CLOCK_MONOTONIC) return real(cond, mutex, clock, abstime);
  // The caller's deadline is on the faked clock: wait until the real clock gets there.
  const int64_t fake_ns = Ns(abstime);
  struct timespec mapped = *abstime;
  if (fake_ns > g_steady_start_ns) SetNs(&mapped, g_steady_start_ns + Scale(fake_ns - g_steady_start_ns, 1000000, steady_rate));
  return real(cond, mutex, clock, &mapped);
}
