#!/usr/bin/env bash
# Builds clawd and clawctl and runs a local 3-node cluster in the foreground; Ctrl-C stops it
# cleanly (SIGTERM to every node: leaderships move, requests drain, RocksDB closes).
#
#   tools/dev/cluster.sh [--fresh] [extra clawd flags...]
#
# Nodes n1, n2, n3 serve clients on 127.0.0.1:7379, :7479, :7579 (peers on :7380, :7480, :7580;
# HTTP on :7381, :7481, :7581). Data and logs live in $CLAW_CLUSTER_DIR (default ./dev-cluster);
# a restart reuses them, --fresh wipes them first. Extra flags go to every node.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

dir="${CLAW_CLUSTER_DIR:-dev-cluster}"
if [[ "${1:-}" == "--fresh" ]]; then
  rm -rf "$dir"
  shift
fi
mkdir -p "$dir"

cmake -G Ninja -S . -B build >/dev/null
cmake --build build --target clawd clawctl -j "$(nproc)"

initial="n1=127.0.0.1:7380,n2=127.0.0.1:7480,n3=127.0.0.1:7580"
pids=()
stop() {
  echo
  echo "stopping the cluster (SIGTERM to every node)..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  status=0
  for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
  echo "cluster stopped (exit status $status); data kept in $dir"
  exit "$status"
}
trap stop INT TERM

for i in 1 2 3; do
  base=$((7279 + 100 * i))
  build/server/clawd --name "n$i" --data-dir "$dir/n$i" \
    --client-addr "127.0.0.1:$base" --peer-addr "127.0.0.1:$((base + 1))" \
    --http-addr "127.0.0.1:$((base + 2))" --initial-cluster "$initial" "$@" \
    >>"$dir/n$i.log" 2>&1 &
  pids+=("$!")
done

endpoints="127.0.0.1:7379,127.0.0.1:7479,127.0.0.1:7579"
for _ in $(seq 1 100); do
  if build/tools/clawctl/clawctl --endpoints "$endpoints" status >/dev/null 2>&1; then break; fi
  sleep 0.1
done

cat <<MSG
clawd: 3-node cluster running (logs: $dir/n1.log, n2.log, n3.log). Press Ctrl-C to stop it.

Talk to it with clawctl (any node works; requests are routed to shard leaders):
  export CLAWCTL_ENDPOINTS=$endpoints
  build/tools/clawctl/clawctl put greeting hello
  build/tools/clawctl/clawctl get greeting
  build/tools/clawctl/clawctl scan "" --limit 10
  build/tools/clawctl/clawctl status
  build/tools/clawctl/clawctl shard list
  build/tools/clawctl/clawctl member list -w json
MSG

wait "${pids[@]}"
