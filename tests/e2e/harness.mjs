// Starts the built sidecar and the test backend on free loopback ports, and
// gives tests small promise helpers around socket.io-client.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../..");
const buildDir = process.env.BUILD_DIR ?? path.join(repo, "build");
// The binaries under test: scripts/test.sh exports both; by default, those in BUILD_DIR.
export const sidecarBin = process.env.SIDECAR_BIN ?? path.join(buildDir, "sidecar/socketio-sidecar");
const testBackendBin = process.env.TEST_BACKEND_BIN ?? path.join(buildDir, "tests/backend/test_backend");

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export function waitForLine(child, needle, what, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not print "${needle}"`)), timeoutMs);
    const onData = (chunk) => {
      if (chunk.toString().includes(needle)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code ?? signal}`));
    });
  });
}

// Starts a sidecar with `flags` plus a test backend; returns {url, port, grpcAddress, opsUrl,
// sidecar (the child process), stop, logs}.
export async function startStack(flags = [], { backend = true, env = {} } = {}) {
  let port, grpcPort, opsPort, logs, sidecar;
  // freePort() closes its probe before the sidecar binds, so a test running beside this one may
  // take the port meanwhile: a sidecar that could not bind is started again on fresh ports.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    grpcPort = await freePort();
    opsPort = await freePort();
    logs = [];
    sidecar = spawn(
      sidecarBin,
      ["--host=127.0.0.1", `--port=${port}`, `--grpc_address=127.0.0.1:${grpcPort}`, `--ops_port=${opsPort}`, "--threads=2", "--drain_timeout=0.5", ...flags],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
    );
    sidecar.stderr.on("data", (d) => logs.push(`[sidecar] ${d}`));
    try {
      await waitForLine(sidecar, "listening on", "sidecar");
      break;
    } catch (error) {
      const output = logs.join("");
      if (attempt < 3 && /cannot listen|cannot serve|in use|bind/i.test(output)) continue;
      throw new Error(`${error.message}\n${output}`);
    }
  }
  const children = [sidecar];
  if (backend) {
    const child = spawn(
      testBackendBin,
      ["--mode=e2e", `--sidecar=127.0.0.1:${grpcPort}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stderr.on("data", (d) => logs.push(`[backend] ${d}`));
    children.push(child);
    await waitForLine(child, "attached", "test_backend");
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    opsUrl: `http://127.0.0.1:${opsPort}`,
    sidecar,
    logs,
    // SIGTERMs the backend, then the sidecar; each gets a bounded time to exit (the sidecar its
    // --drain_timeout plus STOP_MARGIN_MS), else it is SIGKILLed and stop() throws.
    async stop() {
      const failures = [];
      for (const child of [...children].reverse()) {
        const what = child === sidecar ? "sidecar" : "test_backend";
        const graceMs = child === sidecar ? drainTimeoutMs(flags) + STOP_MARGIN_MS : STOP_MARGIN_MS;
        const prefix = child === sidecar ? "[sidecar]" : "[backend]";
        await terminate(child, what, graceMs, logs, prefix).catch((error) => failures.push(error.message));
      }
      if (failures.length > 0) throw new Error(failures.join("\n"));
    },
  };
}

// Starts another tests/backend/test_backend (e.g. --name=B, --unresponsive=events) attached to
// `grpcAddress`; resolves with the child once it has attached. Its stderr goes to `logs`.
export async function startBackend(grpcAddress, args = [], logs = []) {
  const child = spawn(testBackendBin, ["--mode=e2e", `--sidecar=${grpcAddress}`, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.on("data", (d) => logs.push(`[backend ${args.join(" ")}] ${d}`));
  await waitForLine(child, "attached", "test_backend");
  return child;
}

// What a child may take beyond its own deadline (the sidecar's: --drain_timeout, then up to 2 s
// each for gRPC's shutdown and for Redis to take what was sent) to exit after SIGTERM; generous
// for ASan builds on a loaded machine.
export const STOP_MARGIN_MS = 10000;

// The sidecar's --drain_timeout in ms: the last one in `flags`, else the harness's 0.5 s.
function drainTimeoutMs(flags) {
  let seconds = 0.5;
  for (const flag of flags) {
    const match = /^--drain_timeout=(.+)$/.exec(flag);
    if (match) seconds = Number(match[1]);
  }
  return seconds * 1000;
}

// Sends SIGTERM and resolves once the child has exited. One still running `graceMs` later is
// SIGKILLed, and the promise rejects naming it with its last log lines: a process that ignores
// SIGTERM is a bug the tests report, not one teardown may hang on.
// `logs` entries starting with `prefix` are its own.
export async function terminate(child, what, graceMs, logs = [], prefix = "") {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(true), graceMs);
  });
  const timedOut = await Promise.race([exited.then(() => false), late]);
  clearTimeout(timer);
  if (!timedOut) return;
  // E2E_STACKS=1: the threads' stacks of the stuck process, by gdb, go into the error.
  let stacks = "";
  if (process.env.E2E_STACKS === "1") {
    const gdb = spawnSync("gdb", ["-p", String(child.pid), "-batch", "-ex", "thread apply all bt"], {
      encoding: "utf8",
      timeout: 60000,
    });
    stacks = `\nits threads (gdb):\n${gdb.stdout ?? ""}${gdb.error ?? ""}`;
  }
  child.kill("SIGKILL");
  await exited;
  const own = logs.filter((entry) => entry.startsWith(prefix));
  const tail = own.join("").split("\n").slice(-30).join("\n");
  throw new Error(
    `${what} (pid ${child.pid}) did not exit within ${graceMs} ms of SIGTERM and was SIGKILLed; its last log lines:\n${tail}${stacks}`,
  );
}

// Stops each of `stoppables` (stacks, Redis; null ones skipped) in turn, all of them even when
// one fails, then throws every failure.
export async function stopAll(stoppables) {
  const failures = [];
  for (const item of stoppables) {
    if (item) await item.stop().catch((error) => failures.push(error.message));
  }
  if (failures.length > 0) throw new Error(failures.join("\n"));
}

// Kills a child with `signal` and resolves once it has exited.
export function kill(child, signal = "SIGKILL") {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill(signal);
  return exited;
}

let goBinDir;

// Builds a Go main package of examples/go (e.g. "demo") into a temporary folder, once per
// process; returns its path.
export function goBuild(pkg) {
  goBinDir ??= fs.mkdtempSync(path.join(os.tmpdir(), "sidecar-examples-"));
  const output = path.join(goBinDir, path.basename(pkg));
  if (fs.existsSync(output)) return output;
  const built = spawnSync("go", ["build", "-o", output, `./${pkg}`], {
    cwd: path.join(repo, "examples/go"),
    env: { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin`, GOTOOLCHAIN: "local" },
    encoding: "utf8",
  });
  if (built.status !== 0) throw new Error(`go build ${pkg} failed:\n${built.error ?? built.stderr}`);
  return output;
}

// The ports of Flask-SocketIO's example app, each {name, binary(), skip}: the Go demo (built on
// first use), and the C++ demo from CPP_DEMO_BIN or BUILD_DIR when it has been built. A missing
// C++ binary is a skip whose message says where it was looked for.
export function demoBackends() {
  const cppDemo = process.env.CPP_DEMO_BIN ?? path.join(buildDir, "examples/cpp/demo/demo-backend-cpp");
  return [
    { name: "Go", binary: () => goBuild("demo"), skip: false },
    {
      name: "C++",
      binary: () => cppDemo,
      skip: fs.existsSync(cppDemo) ? false : `${cppDemo} not built (set CPP_DEMO_BIN to its path)`,
    },
  ];
}

// A sidecar started with `flags` plus one example backend attached to it: `binary` runs with
// --sidecar=ADDRESS and `args`, and $SIDECAR_ADDRESS set, and must print "attached" once it has
// attached. Returns {url, opsUrl, logs, stop}; if the backend does not attach, stops everything
// and throws with the logs.
export async function startExample(binary, args = [], flags = []) {
  const stack = await startStack(flags, { backend: false });
  const backend = spawn(binary, [`--sidecar=${stack.grpcAddress}`, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SIDECAR_ADDRESS: stack.grpcAddress },
  });
  backend.stderr.on("data", (d) => stack.logs.push(`[example] ${d}`));
  const stop = async () => {
    let failure;
    if (backend.pid !== undefined) {
      await terminate(backend, path.basename(binary), STOP_MARGIN_MS, stack.logs, "[example]").catch((error) => {
        failure = error;
      });
    }
    await stack.stop();
    if (failure) throw failure;
  };
  try {
    const failedToStart = new Promise((_, reject) => backend.once("error", reject));
    await Promise.race([waitForLine(backend, "attached", path.basename(binary)), failedToStart]);
  } catch (error) {
    await stop();
    throw new Error(`${error.message}\n${stack.logs.join("")}`);
  }
  return { url: stack.url, opsUrl: stack.opsUrl, logs: stack.logs, stop };
}

export const TRANSPORTS = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
};

// Connects and resolves once connected; rejects with the connect_error.
export function connect(url, options = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, timeout: 5000, ...options });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (error) => {
      socket.close();
      reject(error);
    });
  });
}

// Resolves once `check()` (which may be async) is true, re-checking every 20 ms; fails with
// `what` after `timeoutMs`.
export async function until(check, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Resolves with the arguments of the next `event` on `socket`.
export function next(socket, event, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

export function call(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

// Records every `event` a socket receives.
export function record(socket, event) {
  const seen = [];
  socket.on(event, (...args) => seen.push(args));
  return seen;
}
