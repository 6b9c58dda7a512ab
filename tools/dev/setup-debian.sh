#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing clawd needs. Safe to rerun: when all
# packages are already installed it does not touch apt. Uses sudo only when not run as root.
set -euo pipefail

packages=(
  # toolchain
  cmake g++ ninja-build ccache pkg-config clang-format python3
  # tests; gdb: stack dumps of the nodes of a failing end-to-end test (TestCluster::DumpStacks)
  catch2 gdb
  # wire contract: protobuf + gRPC
  protobuf-compiler libprotobuf-dev protobuf-compiler-grpc libgrpc++-dev
  # storage
  librocksdb-dev
  # server, config, tools
  libboost-dev libboost-program-options-dev libspdlog-dev libyaml-cpp-dev prometheus-cpp-dev
  libcivetweb-dev libsystemd-dev libjemalloc-dev
  # operations tests: promtool + a real Prometheus server, systemd-analyze / systemd-sysusers
  prometheus systemd
  # the .deb (cpack -G DEB, slow tier): dpkg-shlibdeps for the package's Depends
  dpkg-dev
  # tools/clawbench/compare: a 3-node etcd to compare with, jq for clawbench's JSON reports
  etcd-server etcd-client jq
  # tests/fault: network namespaces (ip netns) and partitions inside them (nft); a small ext4 for
  # disk full (mkfs.ext4; mount is essential); clock skew (libfaketime); injected fsync errors (libfiu)
  iproute2 nftables e2fsprogs faketime fiu-utils
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup-debian: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "setup-debian: installing ${missing[*]}"
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
