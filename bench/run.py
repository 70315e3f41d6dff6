#!/usr/bin/env python3
"""Runs the benchmark scenarios against socketio-sidecar (with the minimal C++ backend) and the
Node socket.io server, side by side on this machine, and prints a table with ratios.

    bench/run.py [--profile smoke|full] [--json out.json]

smoke: small sizes, a correctness check (nothing lost, nobody refused) and no timing
assertions; CI runs it. full: the sizes bench/README.md reports.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BUILD = os.environ.get("BUILD_DIR", os.path.join(REPO, "build"))
TICKS = os.sysconf("SC_CLK_TCK")

PROFILES = {
    "smoke": {"idle": [200], "echo_clients": 50, "echo_rates": [500], "fanout": [(100, 20)],
              "duration": 2},
    "full": {"idle": [1000, 10000], "echo_clients": 100, "echo_rates": [1000, 5000, 20000],
             "fanout": [(1000, 100), (10000, 10)], "duration": 8},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def rss_bytes(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


class Server:
    """A server under test: its processes and its Socket.IO URL."""

    def __init__(self, name, processes, port):
        self.name, self.processes, self.port = name, processes, port
        self.url = f"ws://127.0.0.1:{port}/socket.io/"

    @property
    def pids(self):
        return [p.pid for p in self.processes]

    def stop(self):
        for p in reversed(self.processes):
            p.send_signal(signal.SIGINT)
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def start_sidecar():
    port, grpc, ops = free_port(), free_port(), free_port()
    sidecar = subprocess.Popen(
        [os.path.join(BUILD, "sidecar/socketio-sidecar"), "--host=127.0.0.1", f"--port={port}",
         f"--grpc_address=127.0.0.1:{grpc}", f"--ops_port={ops}", "--log_level=warning",
         "--max_outbound_queue=100000", "--cors_allowed_origins=*"],
        stdout=subprocess.DEVNULL)
    wait_port(port)
    backend = subprocess.Popen([os.path.join(BUILD, "bench/bench_backend"), f"--sidecar=127.0.0.1:{grpc}"],
                               stdout=subprocess.PIPE, text=True)
    if "attached" not in backend.stdout.readline():
        raise RuntimeError("bench_backend did not attach")
    return Server("sidecar + C++ backend", [sidecar, backend], port)


def start_node():
    port = free_port()
    node = subprocess.Popen(["node", os.path.join(HERE, "node/server.mjs"), str(port)],
                            stdout=subprocess.DEVNULL)
    wait_port(port)
    return Server("Node socket.io 4", [node], port)


def loadgen(server, mode, clients, duration, rate=0):
    """Runs the load generator; measures the server's CPU between "connected" and the end, and
    its memory once connected."""
    command = [os.path.join(BUILD, "bench/loadgen"), f"--url={server.url}", f"--mode={mode}",
               f"--clients={clients}", f"--duration={duration}", f"--rate={rate}"]
    baseline_rss = rss_bytes(server.pids)
    run = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = run.stdout.readline()
    if "connected" not in line:
        run.wait()
        raise RuntimeError(f"loadgen did not connect: {line}")
    time.sleep(0.2)
    rss = rss_bytes(server.pids)
    before, started = [cpu_seconds([pid]) for pid in server.pids], time.time()
    result = json.loads(run.stdout.readline())
    run.wait()
    # Per process (the sidecar, then its backend), and summed.
    result["process_cpu_seconds"] = [cpu_seconds([pid]) - b for pid, b in zip(server.pids, before)]
    result["server_cpu_seconds"] = sum(result["process_cpu_seconds"])
    result["wall_seconds"] = time.time() - started
    result["rss_per_connection"] = (rss - baseline_rss) / max(1, result["connected"])
    return result


def scenarios(profile):
    p = PROFILES[profile]
    for n in p["idle"]:
        yield f"S1 idle {n} WebSocket clients", "idle", n, p["duration"], 0
    for rate in p["echo_rates"]:
        yield f"S2 echo with ack, {p['echo_clients']} clients at {rate}/s", "echo", p["echo_clients"], p["duration"], rate
    for size, rate in p["fanout"]:
        yield f"S3 fan-out to a room of {size}, {rate} broadcasts/s", "fanout", size, p["duration"], rate


def row(result):
    mode = result["mode"]
    if mode == "idle":
        return {"memory/conn (KiB)": result["rss_per_connection"] / 1024,
                "connects/s": result["connects_per_second"],
                "idle CPU %": 100 * result["server_cpu_seconds"] / result["wall_seconds"]}
    per = max(1, result["received"])
    split = result["process_cpu_seconds"]
    return {"received/s": result["received_per_second"],
            "p50 (ms)": result["latency_us"]["p50"] / 1000, "p99 (ms)": result["latency_us"]["p99"] / 1000,
            "CPU µs/msg": 1e6 * result["server_cpu_seconds"] / per,
            "of which backend": 1e6 * split[1] / per if len(split) > 1 else 0,
            "lost": result["lost"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="full")
    parser.add_argument("--json")
    parser.add_argument("--only", default="", help="run the scenarios whose title contains this")
    args = parser.parse_args()

    results, problems = [], []
    for start in (start_sidecar, start_node):
        server = start()
        try:
            for title, mode, clients, duration, rate in scenarios(args.profile):
                if args.only not in title:
                    continue
                result = loadgen(server, mode, clients, duration, rate)
                result.update(server=server.name, scenario=title)
                results.append(result)
                # Correctness is asserted of the sidecar only; what the reference server drops
                # under the same load is a measurement.
                if start is start_sidecar and (result["failed"] or result["connected"] != clients):
                    problems.append(f"{server.name}, {title}: {result['failed']} clients not connected")
                if start is start_sidecar and mode != "idle" and (result["lost"] or result["sent"] == 0):
                    problems.append(f"{server.name}, {title}: sent {result['sent']}, lost {result['lost']}")
                print(f"{server.name:24} {title}: " +
                      ", ".join(f"{k} {v:.3g}" for k, v in row(result).items()), flush=True)
        finally:
            server.stop()

    print("\n| scenario | metric | sidecar | Node | sidecar / Node |\n| --- | --- | --- | --- | --- |")
    by = {(r["server"], r["scenario"]): r for r in results}
    for title, *_ in scenarios(args.profile):
        ours, theirs = by.get(("sidecar + C++ backend", title)), by.get(("Node socket.io 4", title))
        if not ours or not theirs:
            continue
        for metric, value in row(ours).items():
            other = row(theirs)[metric]
            ratio = f"{value / other:.2f}" if other else "-"
            print(f"| {title} | {metric} | {value:.3g} | {other:.3g} | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if problems:
        print("\nFAILED:\n" + "\n".join(problems))
        return 1
    print(f"\n{len(results)} runs, nothing lost by the sidecar")
    return 0


if __name__ == "__main__":
    sys.exit(main())
