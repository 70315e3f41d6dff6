// Soak: connect/disconnect churn over polling, WebSocket and the upgrade, with broadcasts, for
// SOAK_SECONDS (default 180), against the built sidecar and test backend on loopback. Run by the
// `soak` suite of scripts/test.sh (`node --test soak.mjs`; the file name keeps it out of the e2e
// suite). It checks that:
//   - every broadcast reaches every client connected when it was sent (nothing lost);
//   - once the clients are gone the sidecar holds exactly the descriptors it held before;
//   - its resident memory is within RSS_BOUND_BYTES of what it was after a warm-up round.
// Why a warm-up and a bound rather than equality: glibc's malloc keeps freed memory in its
// arenas (one per io thread and gRPC thread) instead of returning it, so RSS after the first
// round of N clients stays near that round's peak. The warm-up runs the same round, so from then
// on a sidecar that frees what each connection used stays flat; one that leaks grows with every
// connection. The bound (8 MiB) allows for fragmentation, and is far below what a leak would
// add: the log reports the connections made, and a leak of even 1 kB per connection over the
// default soak's several thousand connections would exceed it.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import { after, before, it } from "node:test";
import { TRANSPORTS, call, connect, next, startStack } from "./harness.mjs";

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const CLIENTS_PER_ROUND = Number(process.env.SOAK_CLIENTS ?? 30);
const RSS_BOUND_BYTES = 8 * 1024 * 1024;

// GET on the ops port without keep-alive, so that no descriptor of ours stays in the sidecar.
function opsGet(url) {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, headers: { connection: "close" } }, (response) => {
      let body = "";
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve(body));
    });
    request.on("error", reject);
  });
}

// Sum of a metric's samples, whatever their labels.
function metric(text, name) {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`socketio_sidecar_${name}{`) || line.startsWith(`socketio_sidecar_${name} `)) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

const descriptors = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;
const residentBytes = (pid) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;

// Waits until the sidecar has no Engine.IO session and no socket left, and its descriptor count
// stops at `expected` (clients' idle keep-alive connections close a few seconds after them).
async function settle(stack, expected) {
  const deadline = Date.now() + 90_000;
  let state;
  for (;;) {
    const metrics = await opsGet(`${stack.opsUrl}/metrics`);
    state = {
      sessions: metric(metrics, "engineio_connections"),
      sockets: metric(metrics, "sockets"),
      fds: descriptors(stack.sidecar.pid),
    };
    const fdsDone = expected === undefined || state.fds === expected;
    if (state.sessions === 0 && state.sockets === 0 && fdsDone) return state;
    if (Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

// One round: CLIENTS_PER_ROUND clients over the three transports, each echoing once, a broadcast
// from every tenth client checked at every client, then disconnects of three kinds.
async function round(stack, number, totals) {
  const kinds = Object.values(TRANSPORTS);
  const clients = await Promise.all(
    Array.from({ length: CLIENTS_PER_ROUND }, (_, i) => connect(stack.url, kinds[i % kinds.length])),
  );
  totals.connections += clients.length;
  await Promise.all(clients.map(async (client, i) => {
    assert.equal(await call(client, "ack", `round ${number} client ${i}`), `round ${number} client ${i}`);
  }));
  for (let sender = 0; sender < clients.length; sender += 10) {
    const text = `round ${number} from ${sender}`;
    const deliveries = clients.map((client) => next(client, "broadcast", 15_000).then(([got]) => got));
    clients[sender].emit("broadcast", text);
    const received = await Promise.allSettled(deliveries);
    const lost = received.filter((r) => r.status !== "fulfilled" || r.value !== text).length;
    totals.broadcasts += clients.length;
    totals.lost += lost;
  }
  await Promise.all(clients.map(async (client, i) => {
    const how = (i + number) % 3;
    if (how === 0) {
      client.close(); // a Socket.IO disconnect
    } else if (how === 1 && client.io.engine.transport.name === "websocket") {
      client.io.engine.transport.ws._socket.destroy(); // the TCP connection just drops
      client.close();
    } else {
      client.io.engine.close(); // an Engine.IO close
    }
  }));
}

let stack;
before(async () => {
  stack = await startStack();
});
after(() => stack?.stop());

it(`churns clients for ${SOAK_SECONDS}s without losing broadcasts, descriptors or memory`, { timeout: (SOAK_SECONDS + 300) * 1000 }, async () => {
  const totals = { connections: 0, broadcasts: 0, lost: 0 };
  await round(stack, 0, totals);
  const warm = await settle(stack);
  assert.deepEqual([warm.sessions, warm.sockets], [0, 0], "the warm-up round left sessions behind");
  const baselineFds = warm.fds;
  const baselineRss = residentBytes(stack.sidecar.pid);

  const started = Date.now();
  let rounds = 0;
  while (Date.now() - started < SOAK_SECONDS * 1000) await round(stack, ++rounds, totals);

  const end = await settle(stack, baselineFds);
  const endRss = residentBytes(stack.sidecar.pid);
  console.log(
    `soak: ${rounds} rounds, ${totals.connections} connections, ${totals.broadcasts} broadcast deliveries, ` +
      `${totals.lost} lost; descriptors ${baselineFds} -> ${end.fds}; ` +
      `RSS ${(baselineRss / 1048576).toFixed(1)} MiB -> ${(endRss / 1048576).toFixed(1)} MiB`,
  );
  assert.equal(totals.lost, 0, `${totals.lost} of ${totals.broadcasts} broadcast deliveries lost`);
  assert.deepEqual([end.sessions, end.sockets], [0, 0], "sessions or sockets outlived their clients");
  assert.equal(end.fds, baselineFds, "descriptors did not return to the baseline");
  assert.ok(endRss <= baselineRss + RSS_BOUND_BYTES,
    `RSS grew by ${((endRss - baselineRss) / 1048576).toFixed(1)} MiB, more than ${RSS_BOUND_BYTES / 1048576} MiB`);
});
