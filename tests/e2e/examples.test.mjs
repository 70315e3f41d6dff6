// The example backends driven through the real sidecar by socket.io-client: every port of
// Flask-SocketIO's example app that is built (demoBackends(): Go always, C++ from CPP_DEMO_BIN
// or BUILD_DIR) and the Go chat.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { io } from "socket.io-client";
import { demoBackends, goBuild, next, record, startExample } from "./harness.mjs";

const TIMEOUT_MS = 10000;

// Resolves with the first `event` whose first argument matches `predicate`, and the ack callback
// the server asked for, if any; rejects after TIMEOUT_MS.
function eventWhere(socket, event, predicate) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener);
      reject(new Error(`no matching ${event} within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    const listener = (message, callback) => {
      if (!predicate(message)) return;
      clearTimeout(timer);
      socket.off(event, listener);
      resolve({ message, callback });
    };
    socket.on(event, listener);
  });
}

const responseWhere = (socket, predicate) => eventWhere(socket, "my_response", predicate);

// Closes every socket opened through it, after each suite.
function socketPool() {
  const sockets = [];
  return {
    add(socket) {
      sockets.push(socket);
      return socket;
    },
    closeAll() {
      for (const socket of sockets.splice(0)) socket.close();
    },
  };
}

for (const backend of demoBackends()) {
  describe(`the ${backend.name} demo backend`, { skip: backend.skip }, () => {
    let example;
    const pool = socketPool();

    // Connects and resolves with the socket and its greeting, listened for before connecting:
    // it may arrive in the same read as the CONNECT reply, or after a server generated event.
    const open = async () => {
      const socket = pool.add(io(example.url, { forceNew: true, reconnection: false, timeout: TIMEOUT_MS }));
      const refused = new Promise((_, reject) => socket.once("connect_error", reject));
      const greeting = responseWhere(socket, (m) => m.data === "Connected");
      return { socket, greeting: (await Promise.race([greeting, refused])).message };
    };
    const greeted = async () => (await open()).socket;

    // The rooms a client is in, from the "In rooms: a, b" answer to join or leave.
    const roomsAfter = async (socket, event, room) => {
      const answer = responseWhere(socket, (m) => m.data.startsWith("In rooms: "));
      socket.emit(event, { room });
      return (await answer).message.data.slice("In rooms: ".length).split(", ").sort();
    };

    // Round trip through the backend: once the echo of `data` is back, every event the backend
    // sent this client before handling the echo has arrived too.
    const echoed = async (socket, data) => {
      const echo = responseWhere(socket, (m) => m.data === data);
      socket.emit("my_event", { data });
      await echo;
    };

    before(async () => {
      example = await startExample(backend.binary(), ["--interval=1"]);
    });
    after(async () => {
      pool.closeAll();
      await example?.stop();
    });

    test("greets a new client with Connected and count 0", async () => {
      const { greeting } = await open();
      assert.deepEqual(greeting, { data: "Connected", count: 0 });
    });

    test("my_event echoes with a count kept in each connection's session", async () => {
      const first = await greeted();
      const seen = record(first, "my_response");
      first.emit("my_event", { data: "one" });
      first.emit("my_event", { data: "two" });
      await responseWhere(first, (m) => m.data === "two");
      const echoes = seen.map(([m]) => m).filter((m) => m.data === "one" || m.data === "two");
      assert.deepEqual(echoes, [{ data: "one", count: 1 }, { data: "two", count: 2 }]);

      const second = await greeted();
      const echo = responseWhere(second, (m) => m.data === "mine");
      second.emit("my_event", { data: "mine" });
      assert.equal((await echo).message.count, 1, "another connection counts from its own session");
    });

    // Bursts keep the stream to the backend busy, so both sides batch what queues meanwhile;
    // each client's events must still be handled, and answered, in its order.
    test("keeps each client's echoes in order while several clients burst events", async () => {
      const clients = await Promise.all(Array.from({ length: 6 }, () => greeted()));
      const bursts = clients.map((socket) => ({
        socket,
        seen: record(socket, "my_response"),
        last: responseWhere(socket, (m) => m.data === "burst 99"),
      }));
      for (const { socket } of bursts) {
        for (let i = 0; i < 100; i++) socket.emit("my_event", { data: `burst ${i}` });
      }
      for (const { seen, last } of bursts) {
        await last;
        const echoes = seen.map(([m]) => m).filter((m) => m.data.startsWith("burst "));
        assert.deepEqual(echoes.map((m) => m.data), Array.from({ length: 100 }, (_, i) => `burst ${i}`));
        const counts = echoes.map((m) => m.count);
        assert.deepEqual(counts, Array.from({ length: 100 }, (_, i) => counts[0] + i));
      }
    });

    test("my_broadcast_event reaches every client, the sender included", async () => {
      const alice = await greeted();
      const bob = await greeted();
      const bobGot = responseWhere(bob, (m) => m.data === "to all");
      const aliceGot = responseWhere(alice, (m) => m.data === "to all");
      alice.emit("my_broadcast_event", { data: "to all" });
      assert.equal((await bobGot).message.count, 1, "counted in the sender's session");
      await aliceGot;
    });

    test("join then my_room_event: the room's members get it, others do not", async () => {
      const alice = await greeted();
      const bob = await greeted();
      const room = `${backend.name}-room`;
      assert.deepEqual(await roomsAfter(alice, "join", room), [alice.id, room].sort());
      const bobSaw = record(bob, "my_response");
      const delivered = responseWhere(alice, (m) => m.data === "psst");
      bob.emit("my_room_event", { data: "psst", room });
      await delivered;
      await echoed(bob, "after psst");
      assert.ok(!bobSaw.some(([m]) => m.data === "psst"), "bob is not in the room");
    });

    test("leave: room messages stop reaching the client", async () => {
      const alice = await greeted();
      const bob = await greeted();
      const room = `${backend.name}-leaving`;
      await roomsAfter(alice, "join", room);
      assert.deepEqual(await roomsAfter(alice, "leave", room), [alice.id]);
      const aliceSaw = record(alice, "my_response");
      bob.emit("my_room_event", { data: "gone?", room });
      await echoed(bob, "sync");
      await echoed(alice, "sync");
      assert.ok(!aliceSaw.some(([m]) => m.data === "gone?"), "alice left the room");
    });

    test("close_room warns the members and empties the room", async () => {
      const alice = await greeted();
      const bob = await greeted();
      const room = `${backend.name}-closing`;
      await roomsAfter(alice, "join", room);
      const warned = responseWhere(alice, (m) => m.data === `Room ${room} is closing.`);
      bob.emit("close_room", { room });
      await warned;
      assert.deepEqual(await roomsAfter(alice, "join", "elsewhere"), [alice.id, "elsewhere"].sort());
    });

    test("my_ping is answered with my_pong", async () => {
      const socket = await greeted();
      const pong = next(socket, "my_pong", TIMEOUT_MS);
      socket.emit("my_ping");
      await pong;
    });

    test("disconnect_request: the goodbye waits for the client's callback, then the server disconnects", async () => {
      const socket = await greeted();
      const goodbye = responseWhere(socket, (m) => m.data === "Disconnected!");
      const gone = next(socket, "disconnect", TIMEOUT_MS);
      socket.emit("disconnect_request");
      const { callback } = await goodbye;
      assert.equal(typeof callback, "function", "the goodbye asks for an ack");
      assert.ok(socket.connected, "still connected until the callback runs");
      callback();
      assert.equal((await gone)[0], "io server disconnect");
    });

    test("a background task emits numbered Server generated events", async () => {
      const socket = await greeted();
      const generated = (m) => m.data === "Server generated event";
      const first = (await responseWhere(socket, generated)).message;
      const second = (await responseWhere(socket, generated)).message;
      assert.ok(first.count >= 1 && second.count > first.count, `counts ${first.count}, ${second.count}`);
    });
  });
}

describe("the Go chat backend", () => {
  let example;
  const pool = socketPool();
  const open = (auth) => {
    const socket = pool.add(io(example.url, { forceNew: true, reconnection: false, timeout: TIMEOUT_MS, auth }));
    return new Promise((resolve, reject) => {
      socket.once("connect", () => resolve(socket));
      socket.once("connect_error", reject);
    });
  };
  const call = (socket, event, ...args) => socket.timeout(TIMEOUT_MS).emitWithAck(event, ...args);

  before(async () => {
    example = await startExample(goBuild("chat"));
  });
  after(async () => {
    pool.closeAll();
    await example?.stop();
  });

  test("refuses a client without a name, with a hint in the error's data", async () => {
    for (const auth of [{}, { name: " " }]) {
      await assert.rejects(open(auth), (error) => {
        assert.equal(error.message, "a name is required");
        assert.match(error.data.hint, /name/);
        return true;
      });
    }
  });

  test("a room's messages reach its members with the sender's name, and no one else", async () => {
    const ann = await open({ name: "ann" });
    const bob = await open({ name: "bob" });
    const cid = await open({ name: "cid" });
    await call(ann, "join", "lobby");
    await call(bob, "join", "lobby");
    const cidSaw = record(cid, "message");
    const bobGot = next(bob, "message", TIMEOUT_MS);
    const annGot = next(ann, "message", TIMEOUT_MS);
    assert.equal(await call(ann, "message", { room: "lobby", text: "hello", from: "mallory" }), true);
    const said = { room: "lobby", from: "ann", text: "hello" };
    assert.deepEqual((await bobGot)[0], said);
    assert.deepEqual((await annGot)[0], said);
    assert.equal(await call(cid, "message", { room: "lobby", text: "let me in" }), false);
    assert.deepEqual(cidSaw, [], "cid is not in the room");
  });

  test("join and leave notify the room; rooms lists the caller's rooms", async () => {
    const eve = await open({ name: "eve" });
    const fay = await open({ name: "fay" });
    await call(fay, "join", "garden");
    const joined = eventWhere(fay, "notice", (n) => n.text === "eve joined");
    assert.deepEqual((await call(eve, "join", "garden")).sort(), [eve.id, "garden"].sort());
    assert.deepEqual((await joined).message, { room: "garden", text: "eve joined" });
    assert.deepEqual((await call(eve, "rooms")).sort(), [eve.id, "garden"].sort());

    const left = eventWhere(fay, "notice", (n) => n.text === "eve left");
    assert.deepEqual(await call(eve, "leave", "garden"), [eve.id]);
    assert.deepEqual((await left).message, { room: "garden", text: "eve left" });
    assert.deepEqual(await call(eve, "rooms"), [eve.id]);
    assert.deepEqual((await call(fay, "rooms")).sort(), [fay.id, "garden"].sort());
  });
});
