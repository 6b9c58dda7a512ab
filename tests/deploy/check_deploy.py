#!/usr/bin/python3
"""Checks the deploy kit (deploy/) with the real tools.

  check_deploy.py --source ROOT --build BUILD --clawd PATH            the default tier
  check_deploy.py --source ROOT --build BUILD --clawd PATH --package  builds and inspects the .deb

Default checks: the unit passes `systemd-analyze verify` with no output at all (with ExecStart
pointed at the built clawd) and `systemd-analyze security --offline` with exposure <= 2.0, and
has the settings deploy/README.md promises; the sysusers entry passes `systemd-sysusers
--dry-run`; prometheus.yml, the alert rules and their unit tests pass promtool; every metric that
the rules and the dashboard name is one clawd exports, and the dashboard shows every one of them;
every example config passes `clawd --check-config` and `--print-config`; the metric lists here
match the families a running clawd serves (names and types); `cmake --install
--prefix /usr` into a DESTDIR lays out the expected files. Every check runs; the script prints
each failure and exits 1 if there was any. Standard library only (Debian's /usr/bin/python3).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The metrics clawd exports (server/README.md "Metrics"), by type. Histograms also have _bucket,
# _sum and _count series; `up` comes from Prometheus itself. The `exported` check holds this list
# to what the built clawd really serves, both ways.
COUNTERS = """
clawd_raft_proposals_committed_total clawd_raft_proposals_applied_total
clawd_raft_proposals_failed_total clawd_raft_proposals_packed_total clawd_raft_leader_changes_total clawd_raft_log_written_bytes_total
clawd_snapshot_sent_total clawd_snapshot_sent_bytes_total clawd_snapshot_received_total
clawd_snapshot_received_bytes_total clawd_peer_messages_sent_total clawd_peer_messages_dropped_total
clawd_requests_overloaded_total clawd_grpc_server_started_total clawd_grpc_server_handled_total
clawd_rocksdb_write_stall_seconds_total clawd_rocksdb_block_cache_hits_total
clawd_rocksdb_block_cache_misses_total clawd_key_header_cache_hits_total clawd_key_header_cache_misses_total clawd_placement_operators_total process_cpu_seconds_total
clawd_peer_reconnects_total clawd_snapshot_send_failures_total
clawd_consistency_checks_total clawd_replica_hash_mismatches_total
clawd_watch_events_sent_total clawd_watchers_ended_total
clawd_leases_granted_total clawd_leases_revoked_total clawd_leases_expired_total
clawd_lease_keys_deleted_total
clawd_checkpoint_replans_total clawd_checkpoints_deleted_total clawd_checkpoint_sections_expired_total
clawd_checkpoint_session_closes_total
""".split()
GAUGES = """
clawd_raft_proposals_pending clawd_shards clawd_shards_without_leader clawd_shards_under_replicated
clawd_shards_hibernating clawd_placement_shards_needing_repair clawd_placement_operators_running
clawd_rocksdb_sst_files_size_bytes clawd_rocksdb_memtable_bytes clawd_rocksdb_pending_compaction_bytes
clawd_rocksdb_write_stopped clawd_rocksdb_block_cache_hit_ratio clawd_key_header_cache_keys clawd_disk_total_bytes
clawd_disk_free_bytes clawd_build_info clawd_ready process_resident_memory_bytes
process_virtual_memory_bytes process_open_fds process_max_fds process_start_time_seconds
clawd_meta_leader clawd_rocksdb_delayed_write_rate_bytes process_threads clawd_disk_full
clawd_watchers
clawd_leases
clawd_checkpoints
""".split()
HISTOGRAMS = """
clawd_raft_log_append_duration_seconds clawd_wal_fsync_duration_seconds
clawd_raft_apply_duration_seconds clawd_peer_round_trip_time_seconds
clawd_grpc_server_handling_seconds
""".split()
EXPORTED = set(COUNTERS) | set(GAUGES) | set(HISTOGRAMS)

REQUIRED_ALERTS = """
ClawdNoLeader ClawdHighLeaderChanges ClawdSlowFsync ClawdFailedProposals ClawdUnderReplicatedShards
ClawdDiskNearlyFull ClawdNodeDown ClawdHighGrpcErrorRate ClawdSlowRequests ClawdWriteStall
ClawdNodeRestarted ClawdFdsNearLimit
""".split()

# Settings the unit must have, exactly (deploy/README.md explains each).
UNIT_SETTINGS = {
    "Type": "notify",
    "NotifyAccess": "main",
    "WatchdogSec": "30s",
    "User": "clawd",
    "Group": "clawd",
    "ExecStart": "/usr/bin/clawd --config /etc/clawd/clawd.yaml",
    "Restart": "on-failure",
    "TimeoutStopSec": "90s",
    "KillMode": "mixed",
    "StateDirectory": "clawd",
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
}
MAX_EXPOSURE = 2.0

failures = []


def fail(check, message):
    failures.append(f"{check}: {message}")
    print(f"FAIL {check}: {message}", flush=True)


def run(args, **kwargs):
    """Runs a command; returns (returncode, stdout, stderr)."""
    p = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120, **kwargs)
    return p.returncode, p.stdout, p.stderr


def tool_output(check, args, **kwargs):
    """Runs a command that must succeed; returns its stdout, or None after reporting a failure."""
    rc, out, err = run(args, **kwargs)
    if rc != 0:
        fail(check, f"`{' '.join(map(str, args))}` exited {rc}:\n{out}{err}")
        return None
    return out + err


def unit_settings(text):
    """[Section] Key=Value lines of a unit file as {key: [values]} (all sections)."""
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def check_unit(source, clawd, tmp):
    unit = source / "deploy/systemd/clawd.service"
    text = unit.read_text()
    settings = unit_settings(text)
    for key, want in UNIT_SETTINGS.items():
        if settings.get(key) != [want]:
            fail("unit", f"{key}= is {settings.get(key)}, want exactly [{want!r}]")
    if "ExecReload" in settings:
        fail("unit", "ExecReload= is set, but clawd has no reload")
    prevent = " ".join(settings.get("RestartPreventExitStatus", [])).split()
    if "78" not in prevent:
        fail("unit", f"RestartPreventExitStatus= {prevent} lacks 78 (EX_CONFIG)")
    nofile = settings.get("LimitNOFILE", ["0"])[-1]
    if not nofile.isdigit() or int(nofile) < 65536:
        fail("unit", f"LimitNOFILE={nofile}: clawd warns below 65536")

    # verify: the copy runs the built clawd; any output at all (unknown keys, bad values) fails,
    # because systemd-analyze only warns and exits 0 on those.
    copy_dir = tmp / "unit"
    copy_dir.mkdir()
    copy = copy_dir / "clawd.service"
    exec_start = "ExecStart=/usr/bin/clawd "
    if text.count(exec_start) != 1:
        fail("unit", f"expected one '{exec_start}...' line to point at the built clawd")
        return
    copy.write_text(text.replace(exec_start, f"ExecStart={clawd} "))
    rc, out, err = run(["systemd-analyze", "verify", copy])
    if rc != 0 or out or err:
        fail("unit", f"systemd-analyze verify exited {rc} with output:\n{out}{err}")

    # security: the threshold is on the 0-100 scale (20 = exposure 2.0).
    rc, out, err = run(["systemd-analyze", "security", "--offline=true",
                        f"--threshold={int(MAX_EXPOSURE * 10)}", copy])
    m = re.search(r"Overall exposure level for clawd\.service: ([0-9.]+)", out + err)
    if not m:
        fail("unit", f"no overall exposure in systemd-analyze security's output:\n{out}{err}")
    else:
        exposure = float(m.group(1))
        print(f"unit: systemd-analyze security exposure {exposure}", flush=True)
        if rc != 0 or exposure > MAX_EXPOSURE:
            fail("unit", f"exposure {exposure} (exit {rc}); at most {MAX_EXPOSURE} allowed")


def check_sysusers(source):
    path = (source / "deploy/systemd/clawd.sysusers").resolve()
    entries = [l.split() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]
    if not any(e[:2] == ["u", "clawd"] for e in entries):
        fail("sysusers", "no `u clawd ...` entry")
    rc, out, err = run(["systemd-sysusers", "--dry-run", path])
    # Parse problems are reported as "[path:line] ..." and do not always change the exit code.
    problems = [l for l in (out + err).splitlines() if l.startswith("[") or "Failed" in l]
    if rc != 0 or problems:
        fail("sysusers", f"systemd-sysusers --dry-run exited {rc}:\n{out}{err}")


def metric_names(expr):
    """The metric names a PromQL expression selects (functions, keywords, labels removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # string literals
    expr = re.sub(r"\{[^}]*\}", " ", expr)                    # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)                   # ranges and subqueries
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\{?\w+\}?", " ", expr)                   # Grafana variables
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = m.group(0)
        rest = expr[m.end():].lstrip()
        if rest.startswith("("):
            continue  # a function or an aggregation
        if word in {"and", "or", "unless", "bool", "offset", "inf", "nan", "e"}:
            continue
        if m.start() > 0 and (expr[m.start() - 1].isdigit() or expr[m.start() - 1] == "."):
            continue  # a number's exponent or unit
        names.add(word)
    return names


def known(name):
    if name in EXPORTED or name == "up":
        return True
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return base in HISTOGRAMS


def base_metric(name):
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return base if base in HISTOGRAMS else name


def check_prometheus(source, tmp):
    prom = source / "deploy/prometheus"
    tool_output("prometheus", ["promtool", "check", "config", prom / "prometheus.yml"])
    tool_output("prometheus", ["promtool", "check", "rules", prom / "clawd-alerts.yaml"])
    tool_output("prometheus", ["promtool", "test", "rules", "clawd-alerts-test.yaml"], cwd=prom)

    rules = (prom / "clawd-alerts.yaml").read_text()
    names = set(re.findall(r"^\s*- alert: (\w+)", rules, re.M))
    for alert in REQUIRED_ALERTS:
        if alert not in names:
            fail("prometheus", f"alert {alert} is missing from clawd-alerts.yaml")
        for key in ("summary:", "description:"):
            # Every rule of the alert must carry both annotations.
            for block in re.split(r"^\s*- alert: ", rules, flags=re.M)[1:]:
                if block.startswith(alert + "\n") and key not in block:
                    fail("prometheus", f"a rule of {alert} has no {key[:-1]} annotation")
    tests = (prom / "clawd-alerts-test.yaml").read_text()
    for alert in sorted(names):
        cases = re.findall(r"alertname: " + alert + r"\n\s+exp_alerts:(.*?)(?=\n\s+- eval_time|\n\s+- interval|\Z)",
                           tests, re.S)
        if not any(c.strip().startswith("[]") for c in cases):
            fail("prometheus", f"no not-firing case (exp_alerts: []) for {alert} in clawd-alerts-test.yaml")
        if not any("exp_labels" in c for c in cases):
            fail("prometheus", f"no firing case for {alert} in clawd-alerts-test.yaml")
    # Metric names anywhere in the rules (expressions and annotations) must be real.
    for name in sorted(set(re.findall(r"\b(?:clawd|process)_[a-z0-9_]+", rules))):
        if not known(name):
            fail("prometheus", f"clawd-alerts.yaml names {name}, which clawd does not export")


def dashboard_exprs(dashboard):
    """(where, expr) for every PromQL query in the dashboard: panel targets and variables."""
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                exprs.append((f"panel {p.get('id')} '{p.get('title')}'", t.get("expr", "")))
            walk(p.get("panels", []))

    walk(dashboard.get("panels", []))
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.strip())
            exprs.append((f"variable {v.get('name')}", m.group(1) if m else q))
    return exprs


def check_dashboard(source, tmp):
    path = source / "deploy/grafana/clawd-dashboard.json"
    try:
        dashboard = json.loads(path.read_text())
    except ValueError as e:
        fail("dashboard", f"{path} is not valid JSON: {e}")
        return
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p.get("id"))
            if p.get("type") != "row":
                if not p.get("title") or not p.get("targets") or "gridPos" not in p:
                    fail("dashboard", f"panel {p.get('id')} lacks a title, targets or gridPos")
            walk(p.get("panels", []))

    walk(dashboard.get("panels", []))
    if len(ids) != len(set(ids)) or None in ids:
        fail("dashboard", f"panel ids are missing or repeated: {ids}")

    used = set()
    exprs = dashboard_exprs(dashboard)
    for where, expr in exprs:
        if not expr.strip():
            fail("dashboard", f"{where} has an empty query")
        for name in metric_names(expr):
            if not known(name):
                fail("dashboard", f"{where} queries {name}, which clawd does not export")
            used.add(base_metric(name))
    for name in sorted(EXPORTED - used):
        fail("dashboard", f"no panel shows {name}")

    # PromQL syntax: promtool parses every query as a recording rule (variables made concrete).
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (_, expr) in enumerate(exprs):
        concrete = (expr.replace("$__rate_interval", "5m").replace("$job", "clawd")
                    .replace("$instance", ".*"))
        lines += [f"      - record: dashboard:query{i}", f"        expr: {json.dumps(concrete)}"]
    rules = tmp / "dashboard-queries.yaml"
    rules.write_text("\n".join(lines) + "\n")
    tool_output("dashboard", ["promtool", "check", "rules", rules])


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_exported(clawd, tmp):
    """Starts the built clawd (one node, loopback) and compares its /metrics families with the
    lists above: same names, same types."""
    import urllib.request
    http = free_port()
    args = [clawd, "--name", "n1", "--data-dir", tmp / "exported-data", "--storage-direct-io=false",
            "--client-addr", f"127.0.0.1:{free_port()}", "--peer-addr", f"127.0.0.1:{free_port()}",
            "--http-addr", f"127.0.0.1:{http}", "--shards", "2"]
    log = open(tmp / "exported.log", "w")
    node = subprocess.Popen([str(a) for a in args], stdout=log, stderr=log)
    text = None
    try:
        # /metrics answers from the first moment (during recovery too), but the watch and
        # checkpoint services register their families only as the node comes up: compare a node
        # that /readyz calls ready.
        deadline = time.monotonic() + 60
        ready = False
        while time.monotonic() < deadline and node.poll() is None:
            try:
                if not ready:
                    with urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=5):
                        ready = True
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5) as r:
                    text = r.read().decode()
                break
            except OSError:  # not listening yet, or 503 from /readyz (HTTPError is an OSError)
                time.sleep(0.2)
    finally:
        node.terminate()
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
        log.close()
    if text is None:
        fail("exported", "clawd was not ready with /metrics within 60 s:\n" + (tmp / "exported.log").read_text()[-2000:])
        return
    served = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            served[name] = kind
    listed = {**{n: "counter" for n in COUNTERS}, **{n: "gauge" for n in GAUGES},
              **{n: "histogram" for n in HISTOGRAMS}}
    # Families whose label values come with use (an RPC method, a peer node) have no series, and
    # so no TYPE line, on an idle single node.
    on_use = {"clawd_grpc_server_started_total", "clawd_grpc_server_handled_total",
              "clawd_grpc_server_handling_seconds", "clawd_peer_round_trip_time_seconds"}
    for name in sorted(set(listed) - set(served) - on_use):
        fail("exported", f"{name} is listed here but clawd does not export it")
    for name in sorted(set(served) - set(listed)):
        fail("exported", f"clawd exports {name}, which is not listed here (nor in the dashboard)")
    for name in sorted(set(served) & set(listed)):
        if served[name] != listed[name]:
            fail("exported", f"{name} is a {served[name]}, listed as a {listed[name]}")


def check_configs(source, clawd):
    configs = sorted((source / "deploy/config").rglob("*.yaml"))
    if len(configs) < 10:  # single node, 3 + 1 joining, 6
        fail("configs", f"only {len(configs)} example configs under deploy/config")
    for config in configs:
        out = tool_output("configs", [clawd, "--config", config, "--check-config"])
        if out is not None and not out.startswith("config OK"):
            fail("configs", f"{config}: --check-config printed:\n{out}")
        out = tool_output("configs", [clawd, "--config", config, "--print-config"])
        if out is not None and "data_dir: /var/lib/clawd" not in out.replace('"', ""):
            fail("configs", f"{config}: data_dir is not the unit's StateDirectory /var/lib/clawd")


def check_install(source, build, tmp):
    destdir = tmp / "destdir"
    components = ["server", "doc"]
    tools = [build / "tools/clawctl/clawctl", build / "tools/clawbench/clawbench"]
    if all(t.exists() for t in tools):
        components.append("tools")  # only when they are built: this test needs clawd alone
    for component in components:
        rc, out, err = run(["cmake", "--install", build, "--prefix", "/usr", "--component", component],
                           env=dict(os.environ, DESTDIR=str(destdir)))
        if rc != 0:
            fail("install", f"cmake --install --component {component} exited {rc}:\n{out}{err}")
            return
    expected = [
        "usr/bin/clawd",
        "usr/lib/systemd/system/clawd.service",
        "usr/lib/sysusers.d/clawd.conf",
        "etc/clawd/clawd.yaml",
        "usr/share/doc/clawd/README.md",
        "usr/share/doc/clawd/deploy/README.md",
        "usr/share/doc/clawd/examples/config/6-node-3-zone/n1.yaml",
        "usr/share/doc/clawd/examples/prometheus/prometheus.yml",
        "usr/share/doc/clawd/examples/prometheus/clawd-alerts.yaml",
        "usr/share/doc/clawd/examples/grafana/clawd-dashboard.json",
    ]
    if "tools" in components:
        expected += ["usr/bin/clawctl", "usr/bin/clawbench"]
    for rel in expected:
        if not (destdir / rel).is_file():
            fail("install", f"{rel} was not installed")
    if not os.access(destdir / "usr/bin/clawd", os.X_OK):
        fail("install", "usr/bin/clawd is not executable")
    for rel, src in [("usr/lib/systemd/system/clawd.service", "deploy/systemd/clawd.service"),
                     ("usr/lib/sysusers.d/clawd.conf", "deploy/systemd/clawd.sysusers"),
                     ("etc/clawd/clawd.yaml", "deploy/config/clawd.yaml")]:
        if (destdir / rel).is_file() and (destdir / rel).read_bytes() != (source / src).read_bytes():
            fail("install", f"{rel} differs from {src} (with prefix /usr it must be a copy)")
    stray = [str(p.relative_to(destdir)) for p in destdir.rglob("*")
             if p.is_file() and not str(p.relative_to(destdir)).startswith(("usr/", "etc/clawd/"))]
    if stray:
        fail("install", f"files outside /usr and /etc/clawd: {stray}")


def check_package(build, tmp):
    """Builds the .deb with CPack (needs every target built) and inspects it with dpkg-deb."""
    out_dir = tmp / "package"
    rc, out, err = run(["cpack", "-G", "DEB", "-B", out_dir, "--config", build / "CPackConfig.cmake"],
                       cwd=build)
    debs = sorted(out_dir.glob("*.deb"))
    if rc != 0 or len(debs) != 1:
        fail("package", f"cpack -G DEB exited {rc} and made {[d.name for d in debs]}:\n{out}{err}")
        return
    deb = debs[0]
    contents = tool_output("package", ["dpkg-deb", "--contents", deb]) or ""
    for path in ["./usr/bin/clawd", "./usr/bin/clawctl", "./usr/lib/systemd/system/clawd.service",
                 "./usr/lib/sysusers.d/clawd.conf", "./etc/clawd/clawd.yaml",
                 "./usr/share/doc/clawd/deploy/README.md"]:
        if not re.search(r"\s" + re.escape(path) + r"$", contents, re.M):
            fail("package", f"{deb.name} lacks {path}")
    control = tmp / "control"
    tool_output("package", ["dpkg-deb", "--control", deb, control])
    conffiles = (control / "conffiles").read_text().split() if (control / "conffiles").exists() else []
    if conffiles != ["/etc/clawd/clawd.yaml"]:
        fail("package", f"conffiles is {conffiles}, want ['/etc/clawd/clawd.yaml']")
    for script in ("postinst", "prerm", "postrm"):
        if not os.access(control / script, os.X_OK):
            fail("package", f"no executable {script} in the control archive")
    fields = tool_output("package", ["dpkg-deb", "--field", deb]) or ""
    if not re.search(r"^Depends: .*libc6", fields, re.M):
        fail("package", f"no shared-library Depends (SHLIBDEPS):\n{fields}")
    if "Section: database" not in fields:
        fail("package", "Section is not database")
    binary = tmp / "extract"
    tool_output("package", ["dpkg-deb", "--extract", deb, binary])
    sections = tool_output("package", ["readelf", "-S", binary / "usr/bin/clawd"]) or ""
    if ".debug_info" in sections or ".symtab" in sections:
        fail("package", "usr/bin/clawd is not stripped")
    print(f"package: {deb.name}, {deb.stat().st_size // 1024} KiB", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--clawd", type=Path, required=True)
    parser.add_argument("--package", action="store_true", help="build and check the .deb instead")
    args = parser.parse_args()
    source, build, clawd = args.source.resolve(), args.build.resolve(), args.clawd.resolve()

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="claw-deploy-") as tmp_name:
        tmp = Path(tmp_name)
        if args.package:
            checks = [("package", lambda: check_package(build, tmp))]
        else:
            checks = [
                ("unit", lambda: check_unit(source, clawd, tmp)),
                ("sysusers", lambda: check_sysusers(source)),
                ("prometheus", lambda: check_prometheus(source, tmp)),
                ("dashboard", lambda: check_dashboard(source, tmp)),
                ("configs", lambda: check_configs(source, clawd)),
                ("exported", lambda: check_exported(clawd, tmp)),
                ("install", lambda: check_install(source, build, tmp)),
            ]
        for name, check in checks:
            before = len(failures)
            try:
                check()
            except Exception as e:  # a crash of one check is its failure, not the end of the run
                fail(name, f"{type(e).__name__}: {e}")
            if len(failures) == before:
                print(f"ok   {name}", flush=True)
    print(f"{len(checks) - len({f.split(':')[0] for f in failures})}/{len(checks)} checks passed "
          f"in {time.monotonic() - start:.1f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
