// Helpers for the cluster tests: a real redis-server on a loopback port, an
// Admin gRPC client, and a round-robin HTTP/WebSocket proxy without sticky
// sessions.
import { spawn, spawnSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { freePort, next, until, waitForLine } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const protoRoot = path.resolve(here, "../../proto");

export function haveRedis() {
  return spawnSync("redis-server", ["--version"]).status === 0;
}

// Starts redis-server on a free loopback port; `restart()` brings it back on the same port.
export async function startRedis() {
  const port = await freePort();
  let child;
  const start = async () => {
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    await waitForLine(child, "Ready to accept connections", "redis-server");
  };
  const kill = async () => {
    // A child killed by a signal has a signalCode and no exitCode; its "exit" has been emitted.
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: start, stop: kill };
}

const definition = protoLoader.loadSync("socketio/sidecar/v1/admin.proto", {
  includeDirs: [protoRoot],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
});
const { Admin } = grpc.loadPackageDefinition(definition).socketio.sidecar.v1;

// An Admin client whose methods return promises: `await admin.ListSockets({namespace: "/"})`.
export function adminClient(address, token) {
  const client = new Admin(address, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (token) metadata.set("authorization", `Bearer ${token}`);
  const methods = {};
  for (const name of Object.keys(Admin.service)) {
    methods[name] = (request = {}) =>
      new Promise((resolve, reject) => {
        client[name](request, metadata, { deadline: Date.now() + 15000 }, (error, response) =>
          error ? reject(error) : resolve(response),
        );
      });
  }
  methods.close = () => client.close();
  return methods;
}

export const bytes = (text) => Buffer.from(text);
export const text = (buffer) => Buffer.from(buffer).toString();
export const json = (value) => ({ json: Buffer.from(JSON.stringify(value)), binary: [] });
export { grpc };

// Drops a client's transport (not a deliberate disconnect) and resolves with the disconnect
// reason once `admin`'s sidecar no longer has the socket.
export async function dropTransport(socket, admin, timeoutMs = 15000) {
  const sid = socket.id;
  const disconnected = next(socket, "disconnect", timeoutMs);
  socket.io.engine.close();
  const [reason] = await disconnected;
  await until(
    () =>
      admin.GetSocket({ sid, namespace: "/" }).then(
        () => false,
        (error) => error.code === grpc.status.NOT_FOUND,
      ),
    "the sidecar to let the socket go",
    timeoutMs,
  );
  return reason;
}

// An HTTP and WebSocket proxy that sends each request (and each upgrade) to
// the next target in turn, on a fresh connection: no stickiness at all.
export async function startRoundRobinProxy(targets) {
  let next = 0;
  const pick = () => targets[next++ % targets.length];
  const server = http.createServer((request, response) => {
    const target = pick();
    const upstream = http.request(
      { host: "127.0.0.1", port: target, method: request.method, path: request.url, headers: request.headers, agent: false },
      (answer) => {
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on("error", () => {
      response.writeHead(502);
      response.end();
    });
    request.pipe(upstream);
  });
  server.on("upgrade", (request, socket, head) => {
    const upstream = net.connect(pick(), "127.0.0.1", () => {
      const headers = Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`).join("\r\n");
      upstream.write(`${request.method} ${request.url} HTTP/1.1\r\n${headers}\r\n\r\n`);
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    const close = () => {
      socket.destroy();
      upstream.destroy();
    };
    upstream.on("error", close);
    socket.on("error", close);
  });
  const port = await new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}
