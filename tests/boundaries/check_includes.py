#!/usr/bin/python3
"""Checks the include boundaries of STYLE.md ("Boundaries") on the source tree.

Usage:
  check_includes.py ROOT
      Scans every C++ file under ROOT/{raft,storage,config,client,server,tools} and exits 1,
      listing `file:line: #include <...>` and the rule, when a folder includes something outside
      its allowed set.
  check_includes.py --self-test FIXTURES
      FIXTURES/good must pass. FIXTURES/bad must be flagged on exactly the lines that carry the
      marker comment `boundary-violation`, and on no other line.

A new edge is an architecture change: update RULES, the folder's README.md and DESIGN notes together.
"""

import argparse
import dataclasses
import pathlib
import re
import sys

# Every header of the C++23 standard library ([headers] tables 24 and 25) ...
CXX_HEADERS = frozenset("""
    algorithm any array atomic barrier bit bitset charconv chrono codecvt compare complex concepts
    condition_variable coroutine deque exception execution expected filesystem flat_map flat_set
    format forward_list fstream functional future generator initializer_list iomanip ios iosfwd
    iostream istream iterator latch limits list locale map mdspan memory memory_resource mutex new
    numbers numeric optional ostream print queue random ranges ratio regex scoped_allocator
    semaphore set shared_mutex source_location span spanstream sstream stack stacktrace stdexcept
    stdfloat stop_token streambuf string string_view strstream syncstream system_error thread tuple
    type_traits typeindex typeinfo unordered_map unordered_set utility valarray variant vector
    version
    cassert cctype cerrno cfenv cfloat cinttypes climits clocale cmath csetjmp csignal cstdarg
    cstddef cstdint cstdio cstdlib cstring ctime cuchar cwchar cwctype
""".split())
# ... and the C headers that C++23 keeps ([support.c.headers], [stdatomic.h.syn]).
C_HEADERS = frozenset("""
    assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h limits.h locale.h math.h
    setjmp.h signal.h stdalign.h stdarg.h stdatomic.h stdbool.h stddef.h stdint.h stdio.h stdlib.h
    string.h tgmath.h time.h uchar.h wchar.h wctype.h
""".split())
STD_HEADERS = CXX_HEADERS | C_HEADERS

# Standard headers raft/ must not use: time and nondeterminism enter the core only through
# Tick() and caller-supplied seeds (it has its own small PRNG), and it has no threads and no I/O.
RAFT_BANNED_STD = frozenset("""
    thread mutex shared_mutex condition_variable future atomic stdatomic.h stop_token latch barrier
    semaphore execution
    chrono ctime time.h random
    filesystem fstream iostream cstdio stdio.h print syncstream csignal signal.h
""".split())

SOURCE_SUFFIXES = frozenset({".h", ".hh", ".hpp", ".cc", ".cpp", ".cxx", ".inc", ".ipp"})
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]*)[>"]')
MARKER = "boundary-violation"
GENERATED_PB = r"claw/v1/[^/]+\.pb\.h"  # claw/v1/x.pb.h and claw/v1/x.grpc.pb.h


@dataclasses.dataclass(frozen=True)
class Rule:
    """What one top-level folder may include."""
    allowed: str  # human-readable, for messages
    patterns: tuple = ()  # regexes an include may fully match; standard headers always may
    banned_std: frozenset = frozenset()
    anything: bool = False  # everything allowed except `denied`
    denied: tuple = ()

    def violation(self, name):
        """Returns why `name` may not be included, or None if it may."""
        if self.anything:
            for pattern in self.denied:
                if re.fullmatch(pattern, name):
                    return f"may include {self.allowed}"
            return None
        if name in STD_HEADERS:
            if name in self.banned_std:
                return (f"must not include <{name}>: no threads, clocks, randomness or I/O "
                        "(time enters only through Tick)")
            return None
        if any(re.fullmatch(pattern, name) for pattern in self.patterns):
            return None
        return f"may include only {self.allowed}"


POSIX_FILE_HEADERS = r"(fcntl|unistd|sys/(stat|types|statvfs|file|uio|mman))\.h"

RULES = {
    "raft": Rule("C++ std (no threads, clocks, random, I/O) and raft/", (r"raft/.+",),
                 banned_std=RAFT_BANNED_STD),
    # storage/ owns the disk: besides RocksDB it may use the POSIX file API (O_DIRECT probing,
    # fsync of snapshot files), nothing networked.
    "storage": Rule("C++ std, POSIX file headers, raft/, storage/, rocksdb/",
                    (r"raft/.+", r"storage/.+", r"rocksdb/.+", POSIX_FILE_HEADERS)),
    "config": Rule("C++ std, config/, yaml-cpp/", (r"config/.+", r"yaml-cpp/.+")),
    "client": Rule("C++ std, client/, claw/v1/*.pb.h, grpcpp/, google/protobuf/",
                   (r"client/.+", GENERATED_PB, r"grpcpp/.+", r"google/protobuf/.+")),
    "server": Rule("anything but rocksdb/ (use storage/)", anything=True, denied=(r"rocksdb/.+",)),
    "tools": Rule("C++ std, tools/, client/, claw/v1/*.pb.h, grpcpp/, boost/program_options, "
                  "storage/ (read-only)",
                  (r"tools/.+", r"client/.+", GENERATED_PB, r"grpcpp/.+",
                   r"boost/program_options(\.hpp|/.+)", r"storage/.+")),
}


def scan(root):
    """Returns [(relative path, line number, include text, reason)] for every violation."""
    violations = []
    for folder, rule in RULES.items():
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in SOURCE_SUFFIXES or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), start=1):
                match = INCLUDE_RE.match(line)
                if not match:
                    continue
                opening, name = match.groups()
                reason = rule.violation(name)
                if reason:
                    closing = ">" if opening == "<" else '"'
                    violations.append((path.relative_to(root).as_posix(), number,
                                       f"#include {opening}{name}{closing}",
                                       f"{folder}/ {reason}"))
    return violations


def report(violations):
    for path, number, include, reason in violations:
        print(f"{path}:{number}: {include}: {reason}")


def marked_lines(root):
    """Returns {(relative path, line number)} of the lines carrying MARKER."""
    marked = set()
    for path in root.rglob("*"):
        if path.suffix in SOURCE_SUFFIXES and path.is_file():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if MARKER in line:
                    marked.add((path.relative_to(root).as_posix(), number))
    return marked


def self_test(fixtures):
    ok = True
    good = scan(fixtures / "good")
    if good:
        print(f"FAIL: {fixtures / 'good'} should pass but was flagged:")
        report(good)
        ok = False
    bad = fixtures / "bad"
    expected = marked_lines(bad)
    flagged = {(path, number) for path, number, _, _ in scan(bad)}
    if not expected:
        print(f"FAIL: no line in {bad} carries the marker '{MARKER}'")
        ok = False
    for path, number in sorted(expected - flagged):
        print(f"FAIL: {bad / path}:{number} is marked but was not flagged")
        ok = False
    for path, number in sorted(flagged - expected):
        print(f"FAIL: {bad / path}:{number} was flagged but is not marked")
        ok = False
    if ok:
        print(f"ok: good fixture clean, all {len(expected)} marked violations flagged")
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true",
                        help="treat ROOT as the fixtures directory holding good/ and bad/")
    parser.add_argument("root", type=pathlib.Path, help="repository root (or fixtures directory)")
    args = parser.parse_args()
    if not args.root.is_dir():
        parser.error(f"not a directory: {args.root}")
    if args.self_test:
        return self_test(args.root)
    violations = scan(args.root)
    if violations:
        report(violations)
        print(f"{len(violations)} include(s) break the boundaries of STYLE.md; see "
              "tests/boundaries/check_includes.py for the rules")
        return 1
    print("ok: every include is within its folder's boundaries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
