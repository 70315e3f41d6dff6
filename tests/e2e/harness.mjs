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
  const port = await freePort();
  const grpcPort = await freePort();
  const opsPort = await freePort();
  const logs = [];
  const sidecar = spawn(
    sidecarBin,
    ["--host=127.0.0.1", `--port=${port}`, `--grpc_address=127.0.0.1:${grpcPort}`, `--ops_port=${opsPort}`, "--threads=2", "--drain_timeout=0.5", ...flags],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } },
  );
  sidecar.stderr.on("data", (d) => logs.push(`[sidecar] ${d}`));
  await waitForLine(sidecar, "listening on", "sidecar");
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
    async stop() {
      for (const child of children.reverse()) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
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
    if (backend.pid !== undefined && backend.exitCode === null && backend.signalCode === null) {
      const exited = new Promise((resolve) => backend.once("exit", resolve));
      backend.kill("SIGTERM");
      await exited;
    }
    await stack.stop();
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
