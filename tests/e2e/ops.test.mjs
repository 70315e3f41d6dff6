// The operations side: /healthz, /readyz and /metrics on the ops port, and the
// graceful drain on SIGTERM.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { call, connect, next, startStack } from "./harness.mjs";

async function get(url) {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

// The value of one sample in a Prometheus exposition, or undefined.
function sample(metrics, name) {
  const line = metrics.split("\n").find((l) => l.startsWith(`socketio_sidecar_${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("health endpoints", () => {
  test("/healthz answers while the process serves; /readyz waits for a backend", async () => {
    const stack = await startStack([], { backend: false });
    try {
      assert.deepEqual(await get(`${stack.opsUrl}/healthz`), { status: 200, body: "ok\n" });
      const notReady = await get(`${stack.opsUrl}/readyz`);
      assert.equal(notReady.status, 503);
      assert.match(notReady.body, /no backend attached for \//);
      assert.equal((await get(`${stack.opsUrl}/nope`)).status, 404);
    } finally {
      await stack.stop();
    }
  });

  test("/readyz is ready once a backend serves every namespace in --ready_namespaces", async () => {
    const ready = await startStack(["--ready_namespaces=/,/chat"]);
    const missing = await startStack(["--ready_namespaces=/,/elsewhere"]);
    try {
      assert.deepEqual(await get(`${ready.opsUrl}/readyz`), { status: 200, body: "ready\n" });
      const answer = await get(`${missing.opsUrl}/readyz`);
      assert.equal(answer.status, 503);
      assert.match(answer.body, /\/elsewhere/);
    } finally {
      await ready.stop();
      await missing.stop();
    }
  });
});

describe("/metrics", () => {
  test("counts connections by transport, sockets, rooms, events, acks and bytes", async () => {
    const stack = await startStack();
    const polling = await connect(stack.url, { transports: ["polling"] });
    const websocket = await connect(stack.url, { transports: ["websocket"] });
    try {
      for (let i = 0; i < 3; i++) assert.equal(await call(websocket, "ack", i), i);
      await call(polling, "join", "metrics-room");
      const { status, body } = await get(`${stack.opsUrl}/metrics`);
      assert.equal(status, 200);
      assert.match(body, /# TYPE socketio_sidecar_events_total counter/);
      assert.equal(sample(body, 'engineio_connections{transport="polling"}'), 1);
      assert.equal(sample(body, 'engineio_connections{transport="websocket"}'), 1);
      assert.equal(sample(body, 'sockets{namespace="/"}'), 2);
      assert.equal(sample(body, 'rooms{namespace="/"}'), 1);
      assert.equal(sample(body, 'events_total{direction="in"}'), 4);
      assert.equal(sample(body, 'acks_total{direction="out"}'), 4);
      assert.equal(sample(body, 'namespace_connects_total{result="accepted"}'), 2);
      assert.equal(sample(body, "engineio_connections_opened_total"), 2);
      assert.equal(sample(body, "backend_streams"), 1);
      assert.ok(sample(body, "received_bytes_total") > 0);
      assert.ok(sample(body, "sent_bytes_total") > 0);
      assert.equal(sample(body, "draining"), 0);
      assert.equal(sample(body, "redis_connected"), undefined, "no Redis metric without a cluster");
    } finally {
      polling.close();
      websocket.close();
      await stack.stop();
    }
  });
});

describe("SIGTERM", () => {
  test("drains: readiness fails, transports close spread over the window, in-flight acks finish, the process exits in time", async () => {
    const stack = await startStack(["--drain_timeout=2"]);
    const clients = [];
    for (let i = 0; i < 6; i++) {
      clients.push(await connect(stack.url, { transports: [i % 2 ? "polling" : "websocket"] }));
    }
    const closes = clients.map((socket) => next(socket, "disconnect", 10000).then(([reason]) => ({ reason, at: Date.now() })));
    const slow = clients[0].timeout(5000).emitWithAck("slow_ack", 600);
    await sleep(50);
    const exited = new Promise((resolve) => stack.sidecar.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })));
    const started = Date.now();
    stack.sidecar.kill("SIGTERM");

    await sleep(100);
    const readiness = await get(`${stack.opsUrl}/readyz`);
    assert.equal(readiness.status, 503);
    assert.match(readiness.body, /draining/);

    assert.equal(await slow, "done", "an ack the backend owed arrives before the transport closes");
    const seen = await Promise.all(closes);
    // Transport closes, not Socket.IO disconnects: socket.io-client reconnects on its own.
    for (const { reason } of seen) assert.ok(["transport close", "transport error"].includes(reason), reason);
    const times = seen.map(({ at }) => at - started).sort((a, b) => a - b);
    assert.ok(times[times.length - 1] - times[0] >= 500, `closes spread over the window: ${times}`);
    const { code, at } = await exited;
    assert.equal(code, 0);
    assert.ok(at - started < 2000 + 3000, `exited ${at - started} ms after SIGTERM`);
    await stack.stop();
  });
});

describe("SIGTERM under load", () => {
  test("every event a client saw acked was handled in order with no gap; clients are told by a transport close; the process exits cleanly", async () => {
    const stack = await startStack(["--drain_timeout=2"]);
    const clients = [];
    for (let i = 0; i < 8; i++) clients.push(await connect(stack.url, { transports: [i % 2 ? "polling" : "websocket"] }));
    const outcomes = clients.map(() => []);
    const closes = clients.map((socket) => next(socket, "disconnect", 10000));
    // Each client keeps emitting numbered events without waiting for their acks.
    const timers = clients.map((socket, i) => {
      let n = 0;
      return setInterval(() => {
        const sent = n++;
        socket.timeout(5000).emitWithAck("ack", sent).then(
          (value) => outcomes[i].push({ sent, value }),
          () => outcomes[i].push({ sent, value: undefined }),
        );
      }, 5);
    });
    await sleep(300);
    const exited = new Promise((resolve) => stack.sidecar.once("exit", (code) => resolve(code)));
    stack.sidecar.kill("SIGTERM");
    const reasons = await Promise.all(closes);
    timers.forEach(clearInterval);
    assert.equal(await exited, 0);
    for (const [reason] of reasons) assert.ok(["transport close", "transport error"].includes(reason), reason);
    for (const [i, list] of outcomes.entries()) {
      const acked = list.filter(({ value }) => value !== undefined).map(({ sent, value }) => {
        assert.equal(value, sent, "each ack answers its own event");
        return sent;
      }).sort((a, b) => a - b);
      assert.ok(acked.length > 0, `client ${i} got no ack at all`);
      assert.deepEqual(acked, [...Array(acked.length).keys()], `client ${i}: acked events form a prefix, no gap`);
    }
    await stack.stop();
  });
});
