// Limits under abuse: more clients than the process has file descriptors for, and more polling
// sessions (which hold no descriptor between requests) than --max_connections.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { freePort, waitForLine } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const buildDir = process.env.BUILD_DIR ?? path.resolve(here, "../../build");

// Resolves with "open" or the HTTP status the upgrade was refused with.
function openWebSocket(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const messages = [];
    ws.on("message", (data) => messages.push(String(data)));
    ws.once("open", () => resolve({ status: "open", ws, messages }));
    ws.once("unexpected-response", (request, response) => {
      let body = "";
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode, body }));
    });
    ws.once("error", (error) => resolve({ status: `error ${error.message}` }));
  });
}

describe("with an open-file limit of 200", () => {
  let sidecar;
  let url;
  before(async () => {
    const port = await freePort();
    const flags = [`--host=127.0.0.1`, `--port=${port}`, `--grpc_address=127.0.0.1:${await freePort()}`,
      `--ops_port=${await freePort()}`, "--threads=2", "--drain_timeout=0.5"];
    // `ulimit -n` sets the hard limit too, so the sidecar cannot raise it.
    sidecar = spawn("bash", ["-c", `ulimit -n 200 && exec "$0" "$@"`, path.join(buildDir, "sidecar/socketio-sidecar"), ...flags],
      { stdio: ["ignore", "pipe", "pipe"] });
    await waitForLine(sidecar, "listening on", "sidecar");
    url = `ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`;
  });
  after(() => sidecar?.kill("SIGINT"));

  it("refuses clients beyond it with 503 before running out, and accepts again once some leave", async () => {
    const attempts = [];
    for (let i = 0; i < 250; i++) attempts.push(await openWebSocket(url));
    const open = attempts.filter((a) => a.status === "open");
    const refused = attempts.filter((a) => a.status === 503);
    assert.ok(open.length >= 100, `only ${open.length} clients got in`);
    assert.ok(refused.length > 0, "nobody was refused");
    assert.equal(open.length + refused.length, attempts.length, `other outcomes: ${attempts.filter((a) => a.status !== "open" && a.status !== 503).map((a) => a.status)}`);
    assert.match(refused[0].body, /Server at capacity/);

    // The clients that got in still work: a CONNECT to "/" (no backend here) is answered.
    const { ws, messages } = open[0];
    ws.send("40");
    for (let tries = 0; tries < 50 && !messages.some((m) => m.startsWith("44")); tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(messages[0].startsWith("0{"), messages[0]);
    assert.ok(messages.some((m) => m.startsWith("44")), `got ${messages}`);

    for (const { ws } of open.slice(0, 50)) ws.close();
    let again;
    for (let tries = 0; tries < 50; tries++) {
      again = await openWebSocket(url);
      if (again.status === "open") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(again.status, "open");
    for (const { ws } of [...open.slice(50), again]) ws.close();
  });
});

describe("with max_connections=60 and a connect timeout of 1 s", () => {
  let sidecar;
  let base;
  before(async () => {
    const port = await freePort();
    sidecar = spawn(path.join(buildDir, "sidecar/socketio-sidecar"), [`--host=127.0.0.1`, `--port=${port}`,
      `--grpc_address=127.0.0.1:${await freePort()}`, `--ops_port=${await freePort()}`, "--threads=2",
      "--drain_timeout=0.5", "--max_connections=60", "--connect_timeout=1"], { stdio: ["ignore", "pipe", "pipe"] });
    await waitForLine(sidecar, "listening on", "sidecar");
    base = `http://127.0.0.1:${port}/socket.io/?EIO=4&transport=polling`;
  });
  after(() => sidecar?.kill("SIGINT"));

  it("refuses polling handshakes beyond it with 503, keeps serving open sessions, and accepts again once sessions end", async () => {
    const opened = [];
    let refusal;
    // Handshakes on one keep-alive connection: the descriptor count stays low throughout.
    for (let i = 0; i < 100 && !refusal; i++) {
      const response = await fetch(base);
      if (response.status === 503) refusal = response;
      else opened.push(JSON.parse((await response.text()).slice(1)).sid);
    }
    assert.ok(refusal, `all ${opened.length} handshakes were accepted`);
    assert.ok(opened.length >= 1 && opened.length <= 60, `${opened.length} sessions opened`);
    assert.deepEqual(await refusal.json(), { code: 3, message: "Server at capacity" });
    assert.equal(refusal.headers.get("retry-after"), "1");

    // An open session is still served: its POST is accepted.
    assert.equal((await fetch(`${base}&sid=${opened.at(-1)}`, { method: "POST", body: "6" })).status, 200);

    // Sessions that connect to no namespace end after the connect timeout, freeing room.
    let again;
    for (let tries = 0; tries < 100; tries++) {
      again = await fetch(base);
      if (again.status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(again.status, 200);
  });
});
