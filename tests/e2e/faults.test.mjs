// Faults survived with nothing lost that was promised: backends that die or never answer.
// Each test starts a sidecar without a backend and attaches test backends it can kill.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { connect, kill, next, record, startBackend, startStack, until } from "./harness.mjs";

async function metric(opsUrl, name) {
  const body = await (await fetch(`${opsUrl}/metrics`)).text();
  const line = body.split("\n").find((l) => l.startsWith(`socketio_sidecar_${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

// Polls until check() holds; fails (rather than hangs) with `what` after 20 s.
// Polls a metric until it reaches `value` (the sidecar's own timer decides when).
async function metricReaches(opsUrl, name, value) {
  await until(async () => (await metric(opsUrl, name)) >= value, `${name} >= ${value}`);
}

async function withStack(flags, body) {
  const stack = await startStack(flags, { backend: false });
  const children = [];
  const backend = async (...args) => {
    const child = await startBackend(stack.grpcAddress, args, stack.logs);
    children.push(child);
    return child;
  };
  try {
    await body(stack, backend);
  } catch (error) {
    error.message += `\n${stack.logs.join("")}`;
    throw error;
  } finally {
    for (const child of children) await kill(child, "SIGTERM");
    await stack.stop();
  }
}

const ask = (socket, ...args) => socket.timeout(10000).emitWithAck(...args);

describe("a backend stream that dies", () => {
  test("moves its sockets to another backend, which is told of them before their next event", async () => {
    await withStack([], async (stack, backend) => {
      const backends = { A: await backend("--name=A"), B: await backend("--name=B") };
      const clients = [];
      for (let i = 0; i < 6; i++) clients.push(await connect(stack.url, { transports: ["websocket"] }));
      const owners = await Promise.all(clients.map((socket) => ask(socket, "whoami")));
      for (const [, learnt] of owners) assert.equal(learnt, "connect");
      const victim = owners[0][0];
      await kill(backends[victim]);
      const survivor = victim === "A" ? "B" : "A";
      for (const [i, socket] of clients.entries()) {
        const [name, learnt] = await ask(socket, "whoami");
        assert.equal(name, survivor);
        assert.equal(learnt, owners[i][0] === victim ? "adopted" : "connect");
        assert.equal(socket.connected, true);
      }
      clients.forEach((socket) => socket.close());
    });
  });

  test("with no backend left: events wait in order for the next one; those the dead one owed an ack for go again first", async () => {
    await withStack(["--backend_grace_period=20"], async (stack, backend) => {
      const mute = await backend("--name=mute", "--unresponsive=events");
      const socket = await connect(stack.url, { transports: ["polling"] });
      const owed = ask(socket, "whoami"); // the mute backend never answers it
      await metricReaches(stack.opsUrl, 'events_total{direction="in"}', 1);
      await kill(mute);
      await metricReaches(stack.opsUrl, "backend_streams", 0);
      const later = [1, 2, 3].map((n) => ask(socket, "ack", n));
      await metricReaches(stack.opsUrl, "backend_buffered_total", 3);
      const order = [];
      owed.then(() => order.push("whoami"));
      later.forEach((answer, i) => answer.then(() => order.push(i + 1)));
      await backend("--name=next");
      assert.deepEqual(await owed, ["next", "adopted"]);
      assert.deepEqual(await Promise.all(later), [1, 2, 3]);
      assert.deepEqual(order, ["whoami", 1, 2, 3]);
      assert.equal(await metric(stack.opsUrl, "backend_redelivered_total"), 1);
      socket.close();
    });
  });

  test("with no backend left: a new connection waits for the next backend", async () => {
    await withStack(["--backend_grace_period=20"], async (stack, backend) => {
      await kill(await backend());
      await metricReaches(stack.opsUrl, "backend_streams", 0);
      const pending = connect(stack.url, { transports: ["websocket"], timeout: 20000 });
      await metricReaches(stack.opsUrl, "backend_buffered_total", 1);
      await backend("--name=late");
      const socket = await pending;
      assert.deepEqual(await ask(socket, "whoami"), ["late", "connect"]);
      socket.close();
    });
  });

  test("when the grace period ends with no backend: the clients' transports are closed, so they reconnect by themselves", async () => {
    await withStack(["--backend_grace_period=1"], async (stack, backend) => {
      const first = await backend();
      const socket = await connect(stack.url, { transports: ["websocket"] });
      // Reconnection on, as in a real client: a transport close keeps it active.
      socket.io.reconnection(true);
      const disconnected = next(socket, "disconnect", 10000);
      await kill(first);
      await metricReaches(stack.opsUrl, "backend_streams", 0);
      const pending = io(stack.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
      const connected = record(pending, "connect");
      const refused = record(pending, "connect_error");
      const pendingClosed = next(pending, "disconnect", 10000);
      assert.equal((await disconnected)[0], "transport close");
      assert.equal(socket.active, true, "the client will reconnect by itself");
      socket.close();
      assert.equal((await pendingClosed)[0], "transport close");
      assert.deepEqual([connected.length, refused.length], [0, 0]);
      assert.equal(await metric(stack.opsUrl, "backend_abandoned_total"), 2);
      // After the grace period the namespace is unknown again.
      const unknown = await connect(stack.url, { transports: ["websocket"] }).catch((error) => error);
      assert.equal(unknown.message, "Invalid namespace");
    });
  });

  test("a client whose held events exceed --backend_buffer_limit has its transport closed, not silently trimmed", async () => {
    await withStack(["--backend_grace_period=20", "--backend_buffer_limit=3"], async (stack, backend) => {
      const first = await backend();
      const socket = await connect(stack.url, { transports: ["websocket"] });
      const other = await connect(stack.url, { transports: ["websocket"] });
      const disconnected = next(socket, "disconnect", 10000);
      await kill(first);
      await metricReaches(stack.opsUrl, "backend_streams", 0);
      for (let i = 0; i < 4; i++) socket.emit("echo", i);
      assert.equal((await disconnected)[0], "transport close");
      // The other socket kept its place and is served by the next backend.
      const answer = ask(other, "ack", "still here");
      await backend();
      assert.equal(await answer, "still here");
      other.close();
    });
  });
});

describe("a backend that never answers", () => {
  test("a connect it never decides on is refused with a CONNECT_ERROR after --connect_decision_timeout", async () => {
    await withStack(["--connect_decision_timeout=0.5"], async (stack, backend) => {
      await backend("--unresponsive=connects");
      const error = await connect(stack.url, { transports: ["websocket"] }).catch((e) => e);
      assert.equal(error.message, "Connection rejected by server");
      assert.deepEqual(error.data, { reason: "backend timeout" });
    });
  });

  test("an event it never acks is forgotten after --backend_ack_timeout, so the drain does not wait for it", async () => {
    await withStack(["--backend_ack_timeout=0.3"], async (stack, backend) => {
      await backend("--unresponsive=events");
      const socket = await connect(stack.url, { transports: ["websocket"] });
      socket.timeout(60000).emit("whoami", () => {});
      await metricReaches(stack.opsUrl, "backend_ack_timeouts_total", 1);
      socket.close();
    });
  });
});

describe("a backend that stops reading", () => {
  test("its stream is ended once --max_backend_queue_bytes are queued for it, and its sockets move to the next backend", async () => {
    // The events sent after the stream ended are held for the next backend: room for them.
    await withStack(["--max_backend_queue_bytes=2000000", "--backend_grace_period=20", "--backend_buffer_bytes=20000000", "--backend_buffer_limit=1000"], async (stack, backend) => {
      const stuck = await backend("--name=stuck", "--unresponsive=reads");
      const stalled = new Promise((resolve) => stuck.stdout.on("data", (d) => String(d).includes("stalled") && resolve()));
      const socket = await connect(stack.url, { transports: ["websocket"] });
      socket.emit("echo", "the first event; the backend stops reading here");
      await stalled;
      // Far more than the bound (and than HTTP/2 flow control lets through), each fire-and-forget.
      const big = "x".repeat(100000);
      for (let i = 0; i < 100; i++) socket.emit("echo", big);
      await until(async () => (await metric(stack.opsUrl, "backend_streams")) === 0, "the stuck stream ended");
      assert.match(stack.logs.join(""), /the backend stopped reading: \d+ bytes were queued for it/);
      const answer = ask(socket, "whoami");
      await backend("--name=next");
      assert.deepEqual(await answer, ["next", "adopted"]);
      assert.equal(socket.connected, true);
      socket.close();
    });
  });
});

describe("a client that stops reading", () => {
  test("while broadcasts flow, it is closed as a slow consumer; the others get every broadcast", async () => {
    await withStack(["--max_outbound_queue=50"], async (stack, backend) => {
      await backend();
      const raw = new WebSocket(`${stack.url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
      const messages = [];
      raw.on("message", (data) => messages.push(String(data)));
      await new Promise((resolve) => raw.once("open", resolve));
      raw.send("40");
      await until(() => messages.some((m) => m.startsWith("40")), "CONNECT answered");
      const closed = new Promise((resolve) => raw.once("close", resolve));
      raw._socket.pause(); // stops reading: the kernel buffers fill, then the sidecar's queue
      const sender = await connect(stack.url, { transports: ["websocket"] });
      const bystander = await connect(stack.url, { transports: ["websocket"] });
      const seen = record(bystander, "broadcast");
      const big = "x".repeat(100000);
      const total = 400;
      // In batches the readers keep up with, so only the paused client falls behind.
      for (let n = 0; n < total; ) {
        for (const end = n + 20; n < end; n++) sender.emit("broadcast", `${n}:${big}`);
        await until(() => seen.length >= n, `${n} broadcasts seen (${seen.length})`);
      }
      await metricReaches(stack.opsUrl, 'outbound_dropped_total{reason="slow_consumer"}', 1);
      assert.deepEqual(seen.map(([text]) => Number(text.split(":")[0])), [...Array(total).keys()]);
      assert.equal(await metric(stack.opsUrl, 'outbound_dropped_total{reason="slow_consumer"}'), 1, "only the paused client");
      raw._socket.resume();
      await closed;
      assert.ok(messages.length < total, `the paused client got only ${messages.length} frames`);
      sender.close();
      bystander.close();
    });
  });
});
