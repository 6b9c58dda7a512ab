// powerloss_shim: an LD_PRELOAD library that records what a process made durable, so that a
// test can emulate a power loss after kill -9 (S16; tests/fault/powerloss.h replays the record).
//
// Environment: CLAW_POWERLOSS_DIR (absolute path: only files under it are tracked) and
// CLAW_POWERLOSS_LOG (the side file, outside that directory). Without both the shim only passes
// calls through.
//
// The side file gets one line per event, written with a single write() to an O_APPEND file (so
// it survives the kill -9 of the process and lines of concurrent threads do not interleave):
//   C <path>          created (O_CREAT of a missing file) or emptied (O_TRUNC): nothing durable yet
//   O <path> <size>   an existing file opened for writing: its first <size> bytes were durable
//   S <path> <size>   fsync/fdatasync returned 0; <size> is st_size taken *before* the call, so
//                     bytes another thread appended during the sync are not counted as durable
//   D <path>          fsync/fdatasync of a directory returned 0
//   R <old> <new>     rename (or link: L) of a tracked path
//   X <path>          opened with O_SYNC / O_DSYNC: not modelled, the replay fails the run
//
// What counts as durable (the model): a file's length at its last successful fsync/fdatasync.
// sync_file_range (RocksDB's wal_bytes_per_sync / bytes_per_sync) and O_DIRECT writes make
// nothing durable: neither flushes the device cache nor the file's size. Writes into the durable
// prefix after a sync (none in RocksDB's append-only files) and renames not followed by a
// directory sync are not reverted: the model may keep more than a real power loss would, never
// less. Paths are compared as given (absolute, or made absolute with the working directory).
//
// Intercepted: open/open64/openat/openat64/creat/creat64 and dup/dup2/dup3 (the fd table), close,
// fsync, fdatasync, rename/renameat/renameat2, link — what librocksdb.so and clawd import (nm -D),
// plus what coreutils' dd and mv use (the shim's own test). Thread-safe: one
// mutex around the fd table; the side file's lines are single write() calls.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { kMaxFds = 65536 };

static char g_prefix[PATH_MAX];
static size_t g_prefix_len;
static int g_log = -1;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char* g_paths[kMaxFds];  // fd -> tracked path (malloc'ed), guarded by g_mu
static unsigned char g_is_dir[kMaxFds];

typedef int (*open_fn)(const char*, int, ...);
typedef int (*openat_fn)(int, const char*, int, ...);
typedef int (*close_fn)(int);
typedef int (*sync_fn)(int);
typedef int (*rename_fn)(const char*, const char*);
typedef int (*renameat_fn)(int, const char*, int, const char*);
typedef int (*renameat2_fn)(int, const char*, int, const char*, unsigned int);
typedef int (*dup2_fn)(int, int);
typedef int (*dup3_fn)(int, int, int);

// The next definition of `name` (libc's) as a function pointer of `type`. ISO C has no cast from
// dlsym's void* to a function pointer: copy the bits.
#define CLAW_DEFINE_REAL(type)                   \
  static type Real_##type(const char* name) {    \
    void* p = dlsym(RTLD_NEXT, name);            \
    type f;                                      \
    memcpy(&f, &p, sizeof(f));                   \
    return f;                                    \
  }
CLAW_DEFINE_REAL(open_fn)
CLAW_DEFINE_REAL(openat_fn)
CLAW_DEFINE_REAL(close_fn)
CLAW_DEFINE_REAL(sync_fn)
CLAW_DEFINE_REAL(rename_fn)
CLAW_DEFINE_REAL(renameat_fn)
CLAW_DEFINE_REAL(renameat2_fn)
CLAW_DEFINE_REAL(dup2_fn)
CLAW_DEFINE_REAL(dup3_fn)

__attribute__((constructor)) static void Init(void) {
  const char* dir = getenv("CLAW_POWERLOSS_DIR");
  const char* log = getenv("CLAW_POWERLOSS_LOG");
  if (dir == NULL || log == NULL || dir[0] != '/' || strlen(dir) + 2 >= sizeof(g_prefix)) return;
  strcpy(g_prefix, dir);
  g_prefix_len = strlen(g_prefix);
  while (g_prefix_len > 1 && g_prefix[g_prefix_len - 1] == '/') g_prefix[--g_prefix_len] = '\0';
  open_fn real_open = Real_open_fn("open");
  g_log = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

// `path` made absolute into `out`; 0 when it does not fit.
static int Absolute(const char* path, char* out, size_t size) {
  if (path == NULL) return 0;
  if (path[0] == '/') return snprintf(out, size, "%s", path) < (int)size;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == NULL) return 0;
  return snprintf(out, size, "%s/%s", cwd, path) < (int)size;
}

// `path` relative to directory fd `dirfd` made absolute (AT_FDCWD, absolute paths or a tracked
// directory fd); 0 otherwise.
static int AbsoluteAt(int dirfd, const char* path, char* out, size_t size) {
  if (path == NULL) return 0;
  if (dirfd == AT_FDCWD || path[0] == '/') return Absolute(path, out, size);
  int ok = 0;
  pthread_mutex_lock(&g_mu);
  if (dirfd >= 0 && dirfd < kMaxFds && g_paths[dirfd] != NULL) {
    ok = snprintf(out, size, "%s/%s", g_paths[dirfd], path) < (int)size;
  }
  pthread_mutex_unlock(&g_mu);
  return ok;
}

static int Tracked(const char* abs) {
  return g_log >= 0 && strncmp(abs, g_prefix, g_prefix_len) == 0 &&
         (abs[g_prefix_len] == '/' || abs[g_prefix_len] == '\0');
}

static void Emit(const char* line, int len) {
  if (g_log < 0 || len <= 0) return;
  ssize_t ignored = write(g_log, line, (size_t)len);
  (void)ignored;
}

// Bookkeeping after an open of `abs` that returned `fd`: existed = the file was there before.
static void AfterOpen(const char* abs, int fd, int flags, int existed) {
  if (fd < 0 || !Tracked(abs)) return;
  struct stat st;
  if (fstat(fd, &st) != 0) return;
  const int is_dir = S_ISDIR(st.st_mode);
  const int writes = (flags & O_ACCMODE) != O_RDONLY;
  if (!is_dir && !writes) return;
  char line[2 * PATH_MAX + 64];
  if (writes && (flags & (O_SYNC | O_DSYNC)) != 0) {
    Emit(line, snprintf(line, sizeof(line), "X %s\n", abs));
  } else if (writes && (!existed || (flags & O_TRUNC) != 0)) {
    Emit(line, snprintf(line, sizeof(line), "C %s\n", abs));
  } else if (writes) {
    Emit(line, snprintf(line, sizeof(line), "O %s %lld\n", abs, (long long)st.st_size));
  }
  if (fd >= kMaxFds) return;
  char* copy = strdup(abs);
  pthread_mutex_lock(&g_mu);
  free(g_paths[fd]);
  g_paths[fd] = copy;
  g_is_dir[fd] = (unsigned char)is_dir;
  pthread_mutex_unlock(&g_mu);
}

static int Exists(const char* abs) {
  struct stat st;
  return stat(abs, &st) == 0;
}

static int OpenCommon(int dirfd, const char* path, int flags, mode_t mode, int at, const char* name) {
  char abs[PATH_MAX];
  const int tracked = g_log >= 0 && AbsoluteAt(dirfd, path, abs, sizeof(abs)) && Tracked(abs);
  const int existed = tracked ? Exists(abs) : 1;
  int fd;
  if (at) {
    openat_fn real = Real_openat_fn(name);
    fd = real(dirfd, path, flags, mode);
  } else {
    open_fn real = Real_open_fn(name);
    fd = real(path, flags, mode);
  }
  if (tracked) {
    const int saved = errno;
    AfterOpen(abs, fd, flags, existed);
    errno = saved;
  }
  return fd;
}

static mode_t ModeArg(int flags, va_list ap) {
  return (flags & (O_CREAT | O_TMPFILE)) != 0 ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  return OpenCommon(AT_FDCWD, path, flags, mode, 0, "open");
}

int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  return OpenCommon(AT_FDCWD, path, flags, mode, 0, "open64");
}

int openat(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  return OpenCommon(dirfd, path, flags, mode, 1, "openat");
}

int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeArg(flags, ap);
  va_end(ap);
  return OpenCommon(dirfd, path, flags, mode, 1, "openat64");
}

int creat(const char* path, mode_t mode) {
  return OpenCommon(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0, "open");
}

int creat64(const char* path, mode_t mode) {
  return OpenCommon(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode, 0, "open64");
}

int close(int fd) {
  if (fd >= 0 && fd < kMaxFds && g_log >= 0) {
    pthread_mutex_lock(&g_mu);
    free(g_paths[fd]);
    g_paths[fd] = NULL;
    pthread_mutex_unlock(&g_mu);
  }
  close_fn real = Real_close_fn("close");
  return real(fd);
}

// `to` now refers to what `from` does (dup, dup2, dup3).
static void AfterDup(int from, int to) {
  if (g_log < 0 || from < 0 || from >= kMaxFds || to < 0 || to >= kMaxFds || from == to) return;
  pthread_mutex_lock(&g_mu);
  free(g_paths[to]);
  g_paths[to] = g_paths[from] != NULL ? strdup(g_paths[from]) : NULL;
  g_is_dir[to] = g_is_dir[from];
  pthread_mutex_unlock(&g_mu);
}

int dup(int fd) {
  sync_fn real = Real_sync_fn("dup");
  const int rc = real(fd);
  if (rc >= 0) AfterDup(fd, rc);
  return rc;
}

int dup2(int fd, int to) {
  dup2_fn real = Real_dup2_fn("dup2");
  const int rc = real(fd, to);
  if (rc >= 0) AfterDup(fd, rc);
  return rc;
}

int dup3(int fd, int to, int flags) {
  dup3_fn real = Real_dup3_fn("dup3");
  const int rc = real(fd, to, flags);
  if (rc >= 0) AfterDup(fd, rc);
  return rc;
}

static int SyncCommon(int fd, const char* name) {
  char path[PATH_MAX];
  int tracked = 0, is_dir = 0;
  if (fd >= 0 && fd < kMaxFds && g_log >= 0) {
    pthread_mutex_lock(&g_mu);
    if (g_paths[fd] != NULL) {
      tracked = snprintf(path, sizeof(path), "%s", g_paths[fd]) < (int)sizeof(path);
      is_dir = g_is_dir[fd];
    }
    pthread_mutex_unlock(&g_mu);
  }
  struct stat before;
  if (tracked && fstat(fd, &before) != 0) tracked = 0;
  sync_fn real = Real_sync_fn(name);
  const int rc = real(fd);
  if (rc == 0 && tracked) {
    const int saved = errno;
    char line[PATH_MAX + 64];
    if (is_dir) {
      Emit(line, snprintf(line, sizeof(line), "D %s\n", path));
    } else {
      Emit(line, snprintf(line, sizeof(line), "S %s %lld\n", path, (long long)before.st_size));
    }
    errno = saved;
  }
  return rc;
}

int fsync(int fd) { return SyncCommon(fd, "fsync"); }
int fdatasync(int fd) { return SyncCommon(fd, "fdatasync"); }

static void AfterRename(char kind, const char* from, const char* to) {
  if (!Tracked(from) && !Tracked(to)) return;
  char line[2 * PATH_MAX + 64];
  Emit(line, snprintf(line, sizeof(line), "%c %s %s\n", kind, from, to));
}

int rename(const char* from, const char* to) {
  char a[PATH_MAX], b[PATH_MAX];
  const int ok = g_log >= 0 && Absolute(from, a, sizeof(a)) && Absolute(to, b, sizeof(b));
  rename_fn real = Real_rename_fn("rename");
  const int rc = real(from, to);
  if (rc == 0 && ok) {
    const int saved = errno;
    AfterRename('R', a, b);
    errno = saved;
  }
  return rc;
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  char a[PATH_MAX], b[PATH_MAX];
  const int ok = g_log >= 0 && AbsoluteAt(fromfd, from, a, sizeof(a)) && AbsoluteAt(tofd, to, b, sizeof(b));
  renameat_fn real = Real_renameat_fn("renameat");
  const int rc = real(fromfd, from, tofd, to);
  if (rc == 0 && ok) {
    const int saved = errno;
    AfterRename('R', a, b);
    errno = saved;
  }
  return rc;
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned int flags) {
  char a[PATH_MAX], b[PATH_MAX];
  const int ok = g_log >= 0 && AbsoluteAt(fromfd, from, a, sizeof(a)) && AbsoluteAt(tofd, to, b, sizeof(b));
  renameat2_fn real = Real_renameat2_fn("renameat2");
  const int rc = real(fromfd, from, tofd, to, flags);
  if (rc == 0 && ok) {
    const int saved = errno;
    AfterRename('R', a, b);  // RENAME_EXCHANGE is not modelled (nothing here uses it)
    errno = saved;
  }
  return rc;
}

int link(const char* from, const char* to) {
  char a[PATH_MAX], b[PATH_MAX];
  const int ok = g_log >= 0 && Absolute(from, a, sizeof(a)) && Absolute(to, b, sizeof(b));
  rename_fn real = Real_rename_fn("link");
  const int rc = real(from, to);
  if (rc == 0 && ok) {
    const int saved = errno;
    AfterRename('L', a, b);
    errno = saved;
  }
  return rc;
}
