#!/usr/bin/env python3
"""Load-independent measurements of the sidecar, for comparing builds on a shared machine.

    bench/profile.py instructions echo   [--clients 20 --rate 300 --duration 10] [--backend go]
    bench/profile.py instructions fanout [--clients 1000 --rate 4 --duration 6]
    bench/profile.py memory [--clients 10000] [--backend cpp,go]

instructions: runs the sidecar (--threads=1) and its backend (bench_backend; --backend go for
the Go one) each under callgrind, with loadgen; zeroes the counts once the clients are
connected, and prints each one's instructions per echo or per delivery (user-space
instructions; they vary by a few % between runs, whatever the load).
memory: RSS per idle WebSocket client of the sidecar and of its backend, from /proc, once with
the C++ backend (bench_backend) and once with the Go one (bench/go/backend, built into
BUILD_DIR/bench/go as bench/run.py does).
Binaries come from BUILD_DIR (default build/), or --bin DIR holding all three (and `backend`).
"""
import argparse
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD_DIR", os.path.join(REPO, "build"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def binary(args, name, subdir):
    return os.path.join(args.bin, name) if args.bin else os.path.join(BUILD, subdir, name)


def start(args, prefix, backend="cpp", backend_prefix=()):
    port, grpc, ops = free_port(), free_port(), free_port()
    sidecar = subprocess.Popen(
        prefix + [binary(args, "socketio-sidecar", "sidecar"), "--threads=1", "--host=127.0.0.1",
                  f"--port={port}", f"--grpc_address=127.0.0.1:{grpc}", f"--ops_port={ops}",
                  "--log_level=warning", "--max_outbound_queue=100000",
                  "--cors_allowed_origins=*"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.time() > deadline or sidecar.poll() is not None:
            raise RuntimeError("the sidecar did not start")
        time.sleep(0.05)
    command = binary(args, "bench_backend", "bench") if backend == "cpp" else args.go_backend
    backend = subprocess.Popen(list(backend_prefix) + [command, f"--sidecar=127.0.0.1:{grpc}"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if "attached" not in backend.stdout.readline():
        raise RuntimeError("bench_backend did not attach")
    return sidecar, backend, port


def stop(*processes):
    for p in processes:
        p.send_signal(signal.SIGINT)
    for p in processes:
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()


def loadgen(args, port, mode, rate):
    run = subprocess.Popen([binary(args, "loadgen", "bench"), f"--url=ws://127.0.0.1:{port}/socket.io/",
                            f"--mode={mode}", f"--clients={args.clients}",
                            f"--duration={args.duration}", f"--rate={rate}"],
                           stdout=subprocess.PIPE, text=True)
    line = run.stdout.readline()
    if "connected" not in line:
        run.wait()
        raise RuntimeError(f"loadgen did not connect: {line}")
    return run


def callgrind_total(out):
    dumps = sorted(glob.glob(out + ".*"), key=lambda f: int(re.search(r"\.(\d+)$", f).group(1)))
    with open(dumps[0]) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1]), dumps[0]
    return 0, dumps[0]


def go_backend(args):
    if not args.go_backend:
        from run import build_go  # bench/run.py, beside this file
        args.go_backend = os.path.join(args.bin, "backend") if args.bin else os.path.join(build_go(), "backend")


def instructions(args):
    backend_name = args.backend or "cpp"
    if backend_name == "go":
        go_backend(args)
    folder = tempfile.mkdtemp(prefix="callgrind-")
    out, backend_out = os.path.join(folder, "callgrind.out"), os.path.join(folder, "backend.out")
    callgrind = ["valgrind", "--tool=callgrind"]
    sidecar, backend, port = start(args, callgrind + [f"--callgrind-out-file={out}"], backend_name,
                                   callgrind + [f"--callgrind-out-file={backend_out}"])
    run = loadgen(args, port, args.mode, args.rate)
    time.sleep(0.5)
    for process in (sidecar, backend):
        subprocess.run(["callgrind_control", "-z", str(process.pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
    result = json.loads(run.stdout.readline())
    run.wait()
    for process in (sidecar, backend):
        subprocess.run(["callgrind_control", "-d", str(process.pid)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)
    stop(backend, sidecar)
    total, profile = callgrind_total(out)
    backend_total, backend_profile = callgrind_total(backend_out)
    unit = "echo" if args.mode == "echo" else "delivery"
    n = max(1, result["received"])
    print(f"{args.mode}: {result['received']} received, {result['lost']} lost; per {unit}: "
          f"sidecar {total / n:,.0f}, {backend_name} backend {backend_total / n:,.0f}, "
          f"together {(total + backend_total) / n:,.0f} instructions "
          f"(profiles: {profile}, {backend_profile})")
    return 1 if result["lost"] else 0


def memory(args):
    for backend in (args.backend or "cpp,go").split(","):
        memory_with(args, backend)
    return 0


def memory_with(args, backend_name):
    if backend_name == "go":
        go_backend(args)
    sidecar, backend, port = start(args, [], backend_name)
    before = rss(sidecar.pid), rss(backend.pid)
    run = loadgen(args, port, "idle", 0)
    time.sleep(0.2)
    after = rss(sidecar.pid), rss(backend.pid)
    result = json.loads(run.stdout.readline())
    run.wait()
    stop(backend, sidecar)
    n = max(1, result["connected"])
    side, back = (after[0] - before[0]) / n / 1024, (after[1] - before[1]) / n / 1024
    print(f"{result['connected']} idle clients: sidecar {side:.2f} KiB, {backend_name} backend "
          f"{back:.2f} KiB, together {side + back:.2f} KiB per connection")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["instructions", "memory"])
    parser.add_argument("mode", nargs="?", choices=["echo", "fanout"], default="echo")
    parser.add_argument("--clients", type=int)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--backend", help="memory: the backends to measure with (default cpp,go); "
                        "instructions: cpp (default) or go")
    parser.add_argument("--bin", help="a directory holding socketio-sidecar, bench_backend and loadgen")
    args = parser.parse_args()
    defaults = {"memory": (10000, 0, 2), "echo": (20, 300, 10), "fanout": (1000, 4, 6)}
    key = "memory" if args.what == "memory" else args.mode
    clients, rate, duration = defaults[key]
    args.clients = args.clients or clients
    args.rate = args.rate if args.rate is not None else rate
    args.duration = args.duration or duration
    args.go_backend = None
    return instructions(args) if args.what == "instructions" else memory(args)


if __name__ == "__main__":
    sys.exit(main())
