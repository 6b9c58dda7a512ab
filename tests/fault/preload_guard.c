// preload_guard: an LD_PRELOAD library placed ahead of libfiu's POSIX preload (S14) that keeps
// libfiu out of the memory-mapping calls. clawd allocates with jemalloc, which calls mmap / munmap
// / madvise / mprotect while holding its own locks; libfiu's wrappers of those look the failure
// point up and, on a cache miss, strdup() the name — back into jemalloc, which deadlocks at
// startup (seen with Debian 12's libfiu 1.1 and jemalloc 5.3). These definitions win the symbol
// lookup and go straight to the kernel (raw syscalls: no allocation, no dlsym), so the posix/mm
// failure points cannot fire; the posix/io ones (fsync, fdatasync, write, ...) still do.
//
// libfaketime (S12) deadlocks jemalloc the same way, but from ~40 intercepted functions
// (pthread_cond_init, clock_gettime, fstat, ...) that it initializes lazily with dlsym, which
// allocates; forwarding a few of them does not help (tried: see tests/fault/README.md).
#define _GNU_SOURCE
#include <stddef.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

void* mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return (void*)syscall(SYS_mmap, addr, length, prot, flags, fd, offset);
}

void* mmap64(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  return (void*)syscall(SYS_mmap, addr, length, prot, flags, fd, offset);
}

int munmap(void* addr, size_t length) { return (int)syscall(SYS_munmap, addr, length); }

int madvise(void* addr, size_t length, int advice) { return (int)syscall(SYS_madvise, addr, length, advice); }

int mprotect(void* addr, size_t length, int prot) { return (int)syscall(SYS_mprotect, addr, length, prot); }
