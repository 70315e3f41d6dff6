// Connection state recovery (--connection_state_recovery) with real socket.io-client 4.x: a
// client whose transport drops comes back with the pid and offset it was given and gets its
// socket back (same id, rooms, session) with every event it missed, once and in order, then live
// ones; the backend is told the connect is a recovery. Outside the window, past the log's count
// bound, and after a deliberate disconnect, the client gets a fresh socket.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { io } from "socket.io-client";
import ioV2 from "sioc220";
import ioV45 from "sioc454";
import { next, startStack, until } from "./harness.mjs";
import { adminClient, bytes, dropTransport, json } from "./cluster.mjs";

const TIMEOUT_MS = 10000;

// A client with automatic reconnection off (the test reconnects it when the server has seen the
// transport go), recording the numbers of its "n" events and the offsets that came with them.
async function client(url, transports) {
  const socket = io(url, { forceNew: true, reconnection: false, transports, timeout: 5000 });
  const received = { numbers: [], offsets: [] };
  socket.on("n", (number, offset) => {
    received.numbers.push(number);
    received.offsets.push(offset);
  });
  await next(socket, "connect", TIMEOUT_MS);
  return { socket, received };
}

const call = (socket, ...args) => socket.timeout(TIMEOUT_MS).emitWithAck(...args);

describe("connection state recovery", () => {
  let stack;
  let admin;

  before(async () => {
    stack = await startStack(["--connection_state_recovery=true", "--allow_eio3=true"]);
    admin = adminClient(stack.grpcAddress);
  });
  after(async () => {
    admin?.close();
    await stack?.stop();
  });

  // Numbered "n" events, in turn to the room and to the socket's own sid.
  async function emitNumbers(from, to, room, sid) {
    for (let n = from; n <= to; n++) {
      const target = n % 2 === 0 ? { sids: [sid] } : { rooms: [bytes(room)] };
      await admin.Emit({ namespace: "/", event: bytes("n"), args: json([n]), target });
    }
  }

  // Drops the client's transport; resolves once the sidecar has let the socket go.
  async function drop(socket) {
    const reason = await dropTransport(socket, admin, TIMEOUT_MS);
    assert.notEqual(reason, "io client disconnect");
  }

  for (const [name, transports] of [
    ["polling", ["polling"]],
    ["WebSocket", ["websocket"]],
  ]) {
    test(`over ${name}: same id, rooms and session, every missed event once and in order, the backend told`, async () => {
      const { socket, received } = await client(stack.url, transports);
      try {
        assert.equal(socket.recovered, false);
        const sid = socket.id;
        await call(socket, "join", "news");
        await call(socket, "session_set", { user: "ann" });
        await emitNumbers(1, 4, "news", sid);
        await until(() => received.numbers.length === 4, "4 live events");

        await drop(socket);
        await emitNumbers(5, 10, "news", sid);
        const connected = next(socket, "connect", TIMEOUT_MS);
        socket.connect();
        await connected;
        assert.equal(socket.recovered, true);
        assert.equal(socket.id, sid);
        await until(() => received.numbers.length >= 10, "the missed events");
        await emitNumbers(11, 12, "news", sid);
        await until(() => received.numbers.length >= 12, "live events after the recovery");
        assert.deepEqual(received.numbers, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        // Every event carried its offset, a distinct string.
        assert.ok(received.offsets.every((offset) => typeof offset === "string"));
        assert.equal(new Set(received.offsets).size, 12);

        const [, learnt] = await call(socket, "whoami");
        assert.equal(learnt, "recovered");
        const session = await call(socket, "session_get");
        assert.deepEqual(session, { user: "ann" });
        const rooms = await call(socket, "rooms");
        assert.ok(rooms.includes("news"), `rooms ${JSON.stringify(rooms)}`);
        const disconnects = await call(socket, "disconnects");
        assert.ok(disconnects.some(([s, , reason]) => s === sid && reason === "transport close"));
        const metrics = await (await fetch(`${stack.opsUrl}/metrics`)).text();
        assert.match(metrics, /socketio_sidecar_recoveries_total\{result="recovered"\} [1-9]/);
        assert.match(metrics, /socketio_sidecar_recovery_replayed_total [1-9]/);
      } finally {
        socket.close();
      }
    });
  }

  for (const [name, transports] of [
    ["polling", ["polling"]],
    ["WebSocket", ["websocket"]],
  ]) {
    test(`over ${name}: events emitted while the transport drops and the client comes back arrive once and in order`, async () => {
      const { socket, received } = await client(stack.url, transports);
      try {
        const sid = socket.id;
        await call(socket, "join", "stream");
        let upcoming = 1;
        let stop = false;
        const emitter = (async () => {
          while (!stop) {
            await emitNumbers(upcoming, upcoming, "stream", sid);
            upcoming++;
          }
        })();
        await until(() => received.numbers.length >= 20, "20 events");
        await drop(socket);
        const connected = next(socket, "connect", TIMEOUT_MS);
        socket.connect();
        await connected;
        assert.equal(socket.recovered, true);
        const recoveredAt = upcoming;
        await until(() => upcoming > recoveredAt + 20, "20 events after the recovery");
        stop = true;
        await emitter;
        const last = upcoming - 1;
        await until(() => received.numbers.length >= last, `${last} events`).catch((error) => {
          // Seen once in CI (not reproduced): say which numbers are missing, with the sidecar's log.
          const seen = new Set(received.numbers);
          const missing = Array.from({ length: last }, (_, i) => i + 1).filter((n) => !seen.has(n));
          throw new Error(`${error.message}; missing ${missing.join(",")}\n${stack.logs.slice(-40).join("")}`);
        });
        assert.deepEqual(
          received.numbers,
          Array.from({ length: last }, (_, i) => i + 1),
        );
      } finally {
        socket.close();
      }
    });
  }

  test("a deliberate disconnect is not recoverable: a fresh socket and a normal connect", async () => {
    const { socket } = await client(stack.url, ["websocket"]);
    try {
      const sid = socket.id;
      socket.disconnect();
      const connected = next(socket, "connect", TIMEOUT_MS);
      socket.connect();
      await connected;
      assert.equal(socket.recovered, false);
      assert.notEqual(socket.id, sid);
      const [, learnt] = await call(socket, "whoami");
      assert.equal(learnt, "connect");
    } finally {
      socket.close();
    }
  });

  test("an unknown pid gets a fresh socket", async () => {
    const socket = io(stack.url, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      auth: { pid: "not-a-pid", offset: "1-1" },
    });
    try {
      await next(socket, "connect", TIMEOUT_MS);
      assert.equal(socket.recovered, false);
      const [, learnt] = await call(socket, "whoami");
      assert.equal(learnt, "connect");
    } finally {
      socket.close();
    }
  });

  test("a socket.io-client 4.5 client (before recovery) is served as before: the offset is an extra argument, a reconnection a fresh socket", async () => {
    const old = ioV45(stack.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
    const oldConnected = next(old, "connect", TIMEOUT_MS);
    const modern = await client(stack.url, ["websocket"]);
    try {
      await oldConnected;
      const sid = old.id;
      const got = next(old, "broadcast", TIMEOUT_MS);
      modern.socket.emit("broadcast", "hello");
      const [text, offset] = await got;
      assert.equal(text, "hello");
      assert.equal(typeof offset, "string");
      await drop(old);
      const connected = next(old, "connect", TIMEOUT_MS);
      old.connect();
      await connected;
      assert.notEqual(old.id, sid);
      assert.equal(old.recovered, undefined);
      // 4.5 has no emitWithAck.
      const [[, learnt]] = await new Promise((resolve) => old.emit("whoami", (...answer) => resolve(answer)));
      assert.equal(learnt, "connect");
    } finally {
      old.close();
      modern.socket.close();
    }
  });

  test("a socket.io-client 2.x client is served as before, with the offset as an extra argument", async () => {
    const old = ioV2(stack.url, { forceNew: true, reconnection: false, transports: ["websocket"] });
    const oldConnected = next(old, "connect", TIMEOUT_MS);
    const modern = await client(stack.url, ["websocket"]);
    try {
      await oldConnected;
      const got = next(old, "broadcast", TIMEOUT_MS);
      modern.socket.emit("broadcast", "hello");
      const [text, offset] = await got;
      assert.equal(text, "hello");
      assert.equal(typeof offset, "string");
    } finally {
      old.close();
      modern.socket.close();
    }
  });
});

describe("connection state recovery bounds", () => {
  let stack;
  let admin;

  before(async () => {
    stack = await startStack([
      "--connection_state_recovery=true",
      "--recovery_window=1",
      "--recovery_max_packets=5",
    ]);
    admin = adminClient(stack.grpcAddress);
  });
  after(async () => {
    admin?.close();
    await stack?.stop();
  });

  async function dropAndWait(socket) {
    const sid = socket.id;
    await dropTransport(socket, admin, TIMEOUT_MS);
    return sid;
  }

  const emit = (n, sid) =>
    admin.Emit({ namespace: "/", event: bytes("n"), args: json([n]), target: { sids: [sid] } });

  test("within the bounds the socket is recovered", async () => {
    const { socket, received } = await client(stack.url, ["websocket"]);
    try {
      await emit(1, socket.id);
      await until(() => received.numbers.length === 1, "a live event");
      const sid = await dropAndWait(socket);
      for (let n = 2; n <= 4; n++) await emit(n, sid);
      const connected = next(socket, "connect", TIMEOUT_MS);
      socket.connect();
      await connected;
      assert.equal(socket.recovered, true);
      await until(() => received.numbers.length === 4, "the missed events");
      assert.deepEqual(received.numbers, [1, 2, 3, 4]);
    } finally {
      socket.close();
    }
  });

  test("more missed events than the log keeps: a fresh socket", async () => {
    const { socket, received } = await client(stack.url, ["websocket"]);
    try {
      await emit(1, socket.id);
      await until(() => received.numbers.length === 1, "a live event");
      const sid = await dropAndWait(socket);
      for (let n = 2; n <= 8; n++) await emit(n, sid);
      const connected = next(socket, "connect", TIMEOUT_MS);
      socket.connect();
      await connected;
      assert.equal(socket.recovered, false);
      assert.notEqual(socket.id, sid);
      const [, learnt] = await call(socket, "whoami");
      assert.equal(learnt, "connect");
    } finally {
      socket.close();
    }
  });

  test("back after the window: a fresh socket", async () => {
    const { socket } = await client(stack.url, ["websocket"]);
    try {
      const sid = await dropAndWait(socket);
      // The window is 1 s: the wait is what the test is about, not a synchronisation.
      await sleep(1500);
      const connected = next(socket, "connect", TIMEOUT_MS);
      socket.connect();
      await connected;
      assert.equal(socket.recovered, false);
      assert.notEqual(socket.id, sid);
    } finally {
      socket.close();
    }
  });
});
