#!/usr/bin/env python3
"""Runs the benchmark scenarios side by side on this machine, one server after the other under
the same load, and prints a table with ratios:

  sidecar+C++   socketio-sidecar with bench/backend/bench_backend.cc (C++ SDK)
  sidecar+Go    socketio-sidecar with bench/go/backend (Go SDK)
  Node          the socket.io 4 server from npm (bench/node/server.mjs)
  Flask         Flask-SocketIO on eventlet from Debian (bench/flask/server.py), with its loads
                capped (FLASK_CAPS) because it cannot take the others'
  floor         bench/floor/ws_floor: plain Beast WebSocket echo and fan-out, no Socket.IO

plus the raw loopback TCP floor (bench/floor/loopback).

    bench/run.py [--profile smoke|full] [--json out.json] [--only TEXT] [--servers a,b]

smoke: tiny loads; checks correctness only (every server up, every scenario produced numbers,
nothing lost by the sidecar or the floor), never timing. CI runs it. full: the sizes
bench/README.md reports.
"""
import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("BUILD_DIR", os.path.join(REPO, "build"))
TICKS = os.sysconf("SC_CLK_TCK")
# Debian's Python has python3-flask-socketio; a python3 first on PATH (pyenv) may not.
FLASK_PYTHON = os.environ.get("FLASK_PYTHON", "/usr/bin/python3")
# One load generator process holds at most this many sockets (the open-file limit is 20,000).
SOCKETS_PER_LOADGEN = 18000

SERVERS = ["sidecar+C++", "sidecar+Go", "Node", "Flask", "floor"]
SIDECARS = ("sidecar+C++", "sidecar+Go")
# Flask-SocketIO on eventlet serves one core in one process; beyond these it falls over, and its
# run would say nothing but "overloaded". The table marks capped figures with *.
FLASK_CAPS = {"clients": 1000, "rate": 1000, "deliveries": 10000}

# A rate is sustained when at most this share is lost and the p99 stays under the bound.
SUSTAINED_LOSS = 0.001
SUSTAINED_P99_MS = {"echo": 20, "fanout": 100}

PROFILES = {
    "smoke": {
        "duration": 1,
        "idle": [(100, "websocket"), (20, "upgrade")],
        "echo": [(1, 20), (20, 200)],
        "echo_search": (20, [100, 200]),
        "fanout": [(50, 20)],
        "fanout_search": (50, [10, 20]),
        "emit": [(1, 20), (20, 10)],
        "polling": {"idle": 20, "echo": (10, 50)},
        "loopback_seconds": 0.2,
    },
    "full": {
        "duration": 5,
        "idle": [(1000, "websocket"), (10000, "websocket"), (18000, "websocket"),
                 (1000, "upgrade")],
        "echo": [(1, 100), (100, 1000), (100, 5000), (100, 20000), (1000, 5000)],
        "echo_search": (100, [1000, 2500, 5000, 10000, 20000, 40000, 80000]),
        "fanout": [(1000, 100), (10000, 10)],
        "fanout_search": (1000, [25, 50, 100, 200, 400, 800]),
        "emit": [(1, 1000), (100, 100), (10000, 10)],
        "polling": {"idle": 1000, "echo": (100, 1000)},
        "loopback_seconds": 2,
    },
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, process, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class Server:
    """A server under test: its processes, its URL, and how jobs reach it."""

    def __init__(self, name, processes, port, protocol="socketio", admin=None, emit_url=None,
                 stop_signal=signal.SIGINT):
        self.name, self.processes, self.port, self.protocol = name, processes, port, protocol
        self.admin, self.emit_url, self.stop_signal = admin, emit_url, stop_signal
        self.url = f"ws://127.0.0.1:{port}/" + ("" if protocol == "raw" else "socket.io/")

    @property
    def pids(self):
        return [p.pid for p in self.processes]

    def alive(self):
        return all(p.poll() is None for p in self.processes)

    def stop(self):
        for p in reversed(self.processes):
            if p.poll() is None:
                p.send_signal(self.stop_signal)
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def go_env():
    env = dict(os.environ, GOTOOLCHAIN=os.environ.get("GOTOOLCHAIN", "local"))
    if not shutil.which("go") and os.path.exists("/usr/local/go/bin/go"):
        env["PATH"] = env["PATH"] + ":/usr/local/go/bin"
    return env


def build_go():
    """Builds the Go backend and the S4 job into the build tree (Go's cache makes this quick)."""
    out = os.path.join(BUILD, "bench", "go")
    os.makedirs(out, exist_ok=True)
    for package in ("backend", "emitjob"):
        subprocess.run(["go", "build", "-o", os.path.join(out, package), f"./{package}"],
                       cwd=os.path.join(HERE, "go"), env=go_env(), check=True)
    return out


def start_sidecar(backend_command, name):
    port, grpc, ops = free_port(), free_port(), free_port()
    sidecar = subprocess.Popen(
        [os.path.join(BUILD, "sidecar/socketio-sidecar"), "--host=127.0.0.1", f"--port={port}",
         f"--grpc_address=127.0.0.1:{grpc}", f"--ops_port={ops}", "--log_level=warning",
         "--max_outbound_queue=100000", "--cors_allowed_origins=*"],
        stdout=subprocess.DEVNULL)
    wait_port(port, sidecar)
    backend = subprocess.Popen(backend_command + [f"--sidecar=127.0.0.1:{grpc}"],
                               stdout=subprocess.PIPE, text=True)
    if "attached" not in backend.stdout.readline():
        sidecar.kill()
        raise RuntimeError(f"{name}: the backend did not attach")
    return Server(name, [sidecar, backend], port, admin=f"127.0.0.1:{grpc}")


def start_server(name, go_bin):
    if name == "sidecar+C++":
        return start_sidecar([os.path.join(BUILD, "bench/bench_backend")], name)
    if name == "sidecar+Go":
        return start_sidecar([os.path.join(go_bin, "backend")], name)
    port = free_port()
    if name == "Node":
        command = ["node", os.path.join(HERE, "node/server.mjs"), str(port)]
    elif name == "Flask":
        command = [FLASK_PYTHON, os.path.join(HERE, "flask/server.py"), str(port)]
    else:
        command = [os.path.join(BUILD, "bench/ws_floor"), f"--port={port}", "--threads=2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    wait_port(port, process)
    if name == "floor":
        return Server(name, [process], port, protocol="raw")
    # SIGINT would print a KeyboardInterrupt from each of eventlet's threads.
    stop_signal = signal.SIGTERM if name == "Flask" else signal.SIGINT
    return Server(name, [process], port, emit_url=f"http://127.0.0.1:{port}/emit",
                  stop_signal=stop_signal)


class Sampler(threading.Thread):
    """Peak RSS of the server while a scenario runs."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.done = pids, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pids))
            except OSError:
                return
            self.done.wait(0.1)


def merge(parts):
    """One result from several load generator processes (idle scenarios: counts add up)."""
    if len(parts) == 1:
        return parts[0]
    result = dict(parts[0])
    for key in ("clients", "connected", "failed", "upgraded", "sent", "received", "expected",
                "lost", "errors", "received_per_second"):
        result[key] = sum(p[key] for p in parts)
    result["connect_seconds"] = max(p["connect_seconds"] for p in parts)
    result["connects_per_second"] = result["connected"] / max(result["connect_seconds"], 1e-9)
    return result


def measure(server, scenario, duration):
    """Runs the load generator(s), and the S4 job if any; measures the server's CPU between
    "connected" and the end, its memory once connected and its peak."""
    clients, rate = scenario["clients"], scenario["rate"]
    mode = "listen" if scenario["kind"] == "emit" else scenario["mode"]
    processes = max(1, math.ceil(clients / SOCKETS_PER_LOADGEN))
    baseline_rss = rss_bytes(server.pids)
    runs = []
    for i in range(processes):
        share = clients // processes + (1 if i < clients % processes else 0)
        command = [os.path.join(BUILD, "bench/loadgen"), f"--url={server.url}", f"--mode={mode}",
                   f"--clients={share}", f"--duration={duration}", f"--rate={rate}",
                   f"--transport={scenario.get('transport', 'websocket')}",
                   f"--protocol={server.protocol}"]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    for run in runs:
        line = run.stdout.readline()
        if "connected" not in line:
            for other in runs:
                other.kill()
            raise RuntimeError(f"loadgen did not connect: {line.strip() or run.wait()}")
    time.sleep(0.2)
    rss = rss_bytes(server.pids)
    sampler = Sampler(server.pids)
    sampler.start()
    before, started = [cpu_seconds(pid) for pid in server.pids], time.time()
    job = None
    if scenario["kind"] == "emit":
        target = [f"--admin={server.admin}"] if server.admin else [f"--http={server.emit_url}"]
        job = subprocess.run(
            [os.path.join(go_bin_dir, "emitjob"), *target, "--room=bench", f"--rate={rate}",
             f"--duration={max(0.2, duration - 1)}s"], capture_output=True, text=True)
    result = merge([json.loads(run.stdout.readline()) for run in runs])
    for run in runs:
        run.wait()
    sampler.done.set()
    sampler.join()
    # Per process (the sidecar, then its backend), and summed.
    result["process_cpu_seconds"] = [cpu_seconds(pid) - b for pid, b in zip(server.pids, before)]
    result["server_cpu_seconds"] = sum(result["process_cpu_seconds"])
    result["wall_seconds"] = time.time() - started
    result["rss_per_connection"] = (rss - baseline_rss) / max(1, result["connected"])
    result["peak_rss"] = sampler.peak
    if job is not None:
        job_result = json.loads(job.stdout) if job.stdout.strip() else {"sent": 0, "errors": 1}
        result["job"] = job_result
        result["sent"] = job_result["sent"]
        result["expected"] = job_result["sent"] * result["connected"]
        result["lost"] = max(0, result["expected"] - result["received"])
        if job.returncode:
            result["errors"] += 1
    return result


def scenarios(profile):
    """Every scenario of a profile: a title, what the load generator does, and who runs it."""
    p = PROFILES[profile]
    everyone = SERVERS
    socketio_servers = [s for s in SERVERS if s != "floor"]
    for n, transport in p["idle"]:
        what = "WebSocket" if transport == "websocket" else "polling→upgrade"
        yield {"title": f"S1 {n:,} idle {what} clients", "kind": "idle", "mode": "idle",
               "clients": n, "rate": 0, "transport": transport,
               "servers": everyone if transport == "websocket" else socketio_servers}
    for clients, rate in p["echo"]:
        yield {"title": f"S2 echo, {clients:,} clients, {rate:,}/s", "kind": "echo",
               "mode": "echo", "clients": clients, "rate": rate, "servers": everyone}
    clients, rates = p["echo_search"]
    yield {"title": f"S2 highest sustained echo rate, {clients:,} clients", "kind": "search",
           "mode": "echo", "clients": clients, "rate": rates, "servers": everyone}
    for size, rate in p["fanout"]:
        yield {"title": f"S3 fan-out to a room of {size:,}, {rate:,} broadcasts/s",
               "kind": "fanout", "mode": "fanout", "clients": size, "rate": rate,
               "servers": everyone}
    size, rates = p["fanout_search"]
    yield {"title": f"S3 highest sustained fan-out rate, room of {size:,}", "kind": "search",
           "mode": "fanout", "clients": size, "rate": rates, "servers": everyone}
    yield {"title": f"S3 fan-out at 2× the sustained rate, room of {size:,}", "kind": "overload",
           "mode": "fanout", "clients": size, "rate": 0, "servers": everyone}
    for size, rate in p["emit"]:
        yield {"title": f"S4 job emits to a room of {size:,}, {rate:,}/s", "kind": "emit",
               "mode": "listen", "clients": size, "rate": rate, "servers": socketio_servers}
    yield {"title": f"S5 {p['polling']['idle']:,} idle long-polling clients", "kind": "idle",
           "mode": "idle", "clients": p["polling"]["idle"], "rate": 0, "transport": "polling",
           "servers": socketio_servers}
    clients, rate = p["polling"]["echo"]
    yield {"title": f"S5 echo over long-polling, {clients:,} clients, {rate:,}/s", "kind": "echo",
           "mode": "echo", "clients": clients, "rate": rate, "transport": "polling",
           "servers": socketio_servers}


def capped(server, scenario):
    """The scenario as this server runs it: Flask-SocketIO's loads are capped."""
    if server != "Flask":
        return scenario, False
    s = dict(scenario)
    s["clients"] = min(s["clients"], FLASK_CAPS["clients"])
    per_message = s["clients"] if s["mode"] == "fanout" or s["kind"] == "emit" else 1
    limit = min(FLASK_CAPS["rate"], FLASK_CAPS["deliveries"] // per_message)
    if isinstance(s["rate"], list):
        s["rate"] = [r for r in s["rate"] if r <= limit] or [min(s["rate"])]
    else:
        s["rate"] = min(s["rate"], max(1, limit))
    return s, (s["clients"], s["rate"]) != (scenario["clients"], scenario["rate"])


def sustained(result, mode):
    p99 = result["last_receiver_us" if mode == "fanout" else "latency_us"]["p99"] / 1000
    return (result["sent"] > 0 and result["lost"] <= SUSTAINED_LOSS * result["expected"]
            and p99 <= SUSTAINED_P99_MS[mode])


def run_scenario(server, scenario, duration, found):
    """One scenario on one server. A search steps the rate up until it is no longer sustained;
    the overload scenario runs at twice the rate its search found."""
    if scenario["kind"] == "search":
        best = None
        for rate in scenario["rate"]:
            step = measure(server, dict(scenario, rate=rate), duration)
            step["rate"] = rate
            if not sustained(step, scenario["mode"]):
                break
            best = step
        if best is None:
            best = dict(step, rate=0)
        found[(server.name, scenario["mode"])] = best["rate"] or min(scenario["rate"])
        return best
    if scenario["kind"] == "overload":
        rate = 2 * found.get((server.name, "fanout"), 10)
        result = measure(server, dict(scenario, rate=rate), duration)
        result["rate"] = rate
        return result
    result = measure(server, scenario, duration)
    result["rate"] = scenario["rate"]
    return result


def per(result, value):
    return value / max(1, result["received"])


def row(result):
    kind = result["kind"]
    cpu = result["server_cpu_seconds"]
    if kind == "idle":
        return {"memory/conn (KiB)": result["rss_per_connection"] / 1024,
                "connects/s": result["connects_per_second"],
                "idle CPU %": 100 * cpu / result["wall_seconds"]}
    latency = result["latency_us"]
    split = result["process_cpu_seconds"]
    metrics = {}
    if kind == "search":
        metrics["highest sustained rate (/s)"] = result["rate"]
    if kind == "overload":
        metrics["offered broadcasts/s"] = result["rate"]
    metrics.update({
        "received/s": result["received_per_second"],
        "p50 (ms)": latency["p50"] / 1000,
        "p99 (ms)": latency["p99"] / 1000,
    })
    if result["mode"] in ("fanout", "listen"):
        metrics["first receiver p99 (ms)"] = result["first_receiver_us"]["p99"] / 1000
        metrics["last receiver p99 (ms)"] = result["last_receiver_us"]["p99"] / 1000
    metrics["CPU µs/msg"] = 1e6 * per(result, cpu)
    if len(split) > 1:
        metrics["of which backend"] = 1e6 * per(result, split[1])
    metrics["msgs per CPU-second"] = result["received"] / cpu if cpu > 0 else 0
    if result["mode"] in ("fanout", "listen"):
        metrics["peak RSS (MiB)"] = result["peak_rss"] / 2**20
    metrics["lost"] = result["lost"]
    return metrics


def check(result, server, scenario):
    """Correctness, never timing: what a run must show whatever the machine's speed."""
    problems = []
    name = f"{server}, {scenario['title']}"
    if result["connected"] != result["clients"] or result["failed"]:
        problems.append(f"{name}: {result['connected']} of {result['clients']} clients connected")
    if result.get("transport") == "upgrade" and result["upgraded"] != result["connected"]:
        problems.append(f"{name}: {result['upgraded']} of {result['connected']} upgraded")
    if result["kind"] != "idle" and result["received"] == 0:
        problems.append(f"{name}: nothing received")
    # What the reference servers drop, and anyone past its sustained rate, is a measurement.
    if (server in SIDECARS or server == "floor") and result["kind"] not in ("search", "overload") \
            and (result["lost"] or result["errors"]):
        problems.append(f"{name}: sent {result['sent']}, lost {result['lost']}, "
                        f"errors {result['errors']}")
    return problems


def loopback_floor(seconds):
    out = subprocess.run([os.path.join(BUILD, "bench/loopback"), f"--seconds={seconds}"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def fmt(value):
    if isinstance(value, int) or (isinstance(value, float) and value >= 1000):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(results, profile, servers, loopback):
    by = {(r["server"], r["scenario"]): r for r in results}
    shown = [s for s in SERVERS if s in servers]
    ratios = [(a, b) for a, b in (("sidecar+C++", "Node"), ("sidecar+Go", "Node"),
                                  ("sidecar+C++", "Flask"), ("sidecar+Go", "Flask"),
                                  ("sidecar+C++", "floor")) if a in shown and b in shown]
    lines = ["| scenario | metric | " + " | ".join(shown) + " | " +
             " | ".join(f"{a.replace('sidecar+', '')} / {b}" for a, b in ratios) + " |",
             "|" + " --- |" * (2 + len(shown) + len(ratios))]
    for scenario in scenarios(profile):
        title = scenario["title"]
        present = {s: by[(s, title)] for s in shown if (s, title) in by}
        if not present:
            continue
        metrics = next(iter(present.values()))
        first = True
        for metric in row(metrics):
            values = {s: row(r).get(metric) for s, r in present.items()}
            cells = []
            for s in shown:
                value = values.get(s)
                cells.append("" if value is None else fmt(value) + ("*" if present[s]["capped"]
                                                                     else ""))
            ratio_cells = []
            for a, b in ratios:
                x, y = values.get(a), values.get(b)
                ratio_cells.append(f"{x / y:.2f}" if x is not None and y else "")
            lines.append(f"| {title if first else ''} | {metric} | " + " | ".join(cells) + " | " +
                         " | ".join(ratio_cells) + " |")
            first = False
    if loopback:
        lines.append("")
        lines.append(f"Loopback TCP floor: {loopback['frames_per_second']:,.0f} writes/s of "
                     f"{loopback['frame_bytes']}-byte frames "
                     f"({loopback['frame_bytes_per_second'] / 1e6:,.0f} MB/s); "
                     f"{loopback['bulk_bytes_per_second'] / 1e9:.2f} GB/s in 64 KiB writes.")
    capped_runs = sorted({(r["scenario"], r["ran_clients"], str(r["ran_rate"]))
                          for r in results if r["capped"]})
    if capped_runs:
        lines.append("")
        lines.append("\\* Flask-SocketIO ran capped: " + "; ".join(
            f"{t}: {c:,} clients, rate {rate}" for t, c, rate in capped_runs) + ".")
    return "\n".join(lines)


go_bin_dir = None


def main():
    global go_bin_dir
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="full")
    parser.add_argument("--json")
    parser.add_argument("--only", default="", help="run the scenarios whose title contains this")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="comma-separated subset of " + ",".join(SERVERS))
    args = parser.parse_args()
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    profile = PROFILES[args.profile]
    duration = profile["duration"]

    go_bin_dir = build_go()
    results, problems = [], []
    loopback = loopback_floor(profile["loopback_seconds"])
    print(f"loopback floor: {loopback}", flush=True)
    for name in servers:
        try:
            server = start_server(name, go_bin_dir)
        except (RuntimeError, OSError) as error:
            problems.append(f"{name}: did not start: {error}")
            continue
        found = {}
        try:
            for scenario in scenarios(args.profile):
                if args.only not in scenario["title"] or name not in scenario["servers"]:
                    continue
                ran, was_capped = capped(name, scenario)
                try:
                    result = run_scenario(server, ran, duration, found)
                except (RuntimeError, ValueError, OSError) as error:
                    problems.append(f"{name}, {scenario['title']}: {error}")
                    if not server.alive():
                        problems.append(f"{name}: died")
                        break
                    continue
                result.update(server=name, scenario=scenario["title"], kind=scenario["kind"],
                              capped=was_capped, ran_clients=ran["clients"], ran_rate=ran["rate"])
                results.append(result)
                problems += check(result, name, scenario)
                print(f"{name:12} {scenario['title']}: " +
                      ", ".join(f"{k} {fmt(v)}" for k, v in row(result).items()), flush=True)
            if not server.alive():
                problems.append(f"{name}: died")
        finally:
            server.stop()

    print()
    print(table(results, args.profile, servers, loopback))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"loopback": loopback, "results": results}, f, indent=1)
    if problems:
        print("\nFAILED:\n" + "\n".join(problems))
        return 1
    print(f"\n{len(results)} runs, nothing lost by the sidecar")
    return 0


if __name__ == "__main__":
    sys.exit(main())
