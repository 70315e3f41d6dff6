// The example backends (the Go and C++ ports of Flask-SocketIO's example app,
// and the Go chat) driven through the real sidecar by socket.io-client.
// CPP_DEMO_BIN overrides where the C++ demo binary is looked for.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { goBuild, next, record, startExample } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const buildDir = process.env.BUILD_DIR ?? path.resolve(here, "../../build");

const cppDemo = process.env.CPP_DEMO_BIN ?? path.join(buildDir, "examples/cpp/demo/demo-backend-cpp");
const demos = [
  { name: "Go", binary: () => goBuild("demo") },
  { name: "C++", binary: () => cppDemo, skip: fs.existsSync(cppDemo) ? false : `${cppDemo} was not built` },
];

// Resolves with the first my_response matching `predicate`; rejects after `ms`.
function responseWhere(socket, predicate, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching my_response within ${ms} ms`)), ms);
    const listener = (message, callback) => {
      if (!predicate(message)) return;
      clearTimeout(timer);
      socket.off("my_response", listener);
      resolve({ message, callback });
    };
    socket.on("my_response", listener);
  });
}

for (const demo of demos) {
  describe(`the ${demo.name} demo backend`, { skip: demo.skip }, () => {
    let example;
    const sockets = [];
    // Connects and resolves with the socket and its greeting (listened for
    // before connecting: it may arrive in the same read as the CONNECT reply).
    const open = () => {
      const socket = io(example.url, { forceNew: true, reconnection: false });
      sockets.push(socket);
      return new Promise((resolve, reject) => {
        socket.once("my_response", (greeting) => resolve({ socket, greeting }));
        socket.once("connect_error", reject);
      });
    };
    const greeted = async () => (await open()).socket;

    before(async () => {
      example = await startExample(demo.binary(), ["--interval=1"]);
    });
    after(async () => {
      for (const socket of sockets) socket.close();
      await example?.stop();
    });

    test("greets a new client with Connected and count 0", async () => {
      const { greeting } = await open();
      assert.deepEqual(greeting, { data: "Connected", count: 0 });
    });

    test("my_event echoes with a count kept in the session", async () => {
      const socket = await greeted();
      const seen = record(socket, "my_response");
      socket.emit("my_event", { data: "one" });
      socket.emit("my_event", { data: "two" });
      await responseWhere(socket, (m) => m.data === "two");
      const echoes = seen.map(([m]) => m).filter((m) => m.data === "one" || m.data === "two");
      assert.deepEqual(echoes, [{ data: "one", count: 1 }, { data: "two", count: 2 }]);
    });

    test("my_broadcast_event reaches the other clients", async () => {
      const alice = await greeted();
      const bob = await greeted();
      const got = responseWhere(bob, (m) => m.data === "to all");
      alice.emit("my_broadcast_event", { data: "to all" });
      await got;
    });

    test("join, my_room_event and leave: room messages reach members only", async () => {
      const alice = await greeted();
      const bob = await greeted();
      const room = `${demo.name}-room`;
      const joined = responseWhere(alice, (m) => m.data.startsWith("In rooms"));
      alice.emit("join", { room });
      assert.deepEqual((await joined).message.data.slice("In rooms: ".length).split(", ").sort(), [alice.id, room].sort());
      const bobSaw = record(bob, "my_response");
      const delivered = responseWhere(alice, (m) => m.data === "psst");
      bob.emit("my_room_event", { data: "psst", room });
      await delivered;
      assert.ok(!bobSaw.some(([m]) => m.data === "psst"), "the sender is not in the room");
      const left = responseWhere(alice, (m) => m.data.startsWith("In rooms"));
      alice.emit("leave", { room });
      assert.equal((await left).message.data, `In rooms: ${alice.id}`);
    });

    test("close_room warns the members and empties the room", async () => {
      const alice = await greeted();
      const bob = await greeted();
      const joined = responseWhere(alice, (m) => m.data.startsWith("In rooms"));
      alice.emit("join", { room: "closing" });
      await joined;
      const warned = responseWhere(alice, (m) => m.data === "Room closing is closing.");
      bob.emit("close_room", { room: "closing" });
      await warned;
      // Emptied: a room event no longer reaches alice.
      const aliceSaw = record(alice, "my_response");
      const echoed = responseWhere(bob, (m) => m.data === "after");
      bob.emit("my_room_event", { data: "after", room: "closing" });
      bob.emit("my_event", { data: "after" });
      await echoed;
      assert.ok(!aliceSaw.some(([m]) => m.data === "after"));
    });

    test("my_ping is answered with my_pong", async () => {
      const socket = await greeted();
      const pong = next(socket, "my_pong");
      socket.emit("my_ping");
      await pong;
    });

    test("disconnect_request: the goodbye asks for the client's callback, then the server disconnects", async () => {
      const socket = await greeted();
      const goodbye = responseWhere(socket, (m) => m.data === "Disconnected!");
      const gone = next(socket, "disconnect");
      socket.emit("disconnect_request");
      const { callback } = await goodbye;
      assert.equal(typeof callback, "function", "the goodbye asks for an ack");
      callback();
      assert.equal((await gone)[0], "io server disconnect");
    });

    test("a background task emits numbered Server generated events", async () => {
      const socket = await greeted();
      const { message } = await responseWhere(socket, (m) => m.data === "Server generated event", 5000);
      assert.ok(message.count >= 1);
    });
  });
}

describe("the Go chat backend", () => {
  let example;
  const sockets = [];
  const connected = (socket) =>
    new Promise((resolve, reject) => {
      socket.once("connect_error", reject);
      socket.once("connect", resolve);
    });
  const open = (name) => {
    const socket = io(example.url, { forceNew: true, reconnection: false, auth: name === undefined ? {} : { name } });
    sockets.push(socket);
    return connected(socket).then(() => socket);
  };

  before(async () => {
    example = await startExample(goBuild("chat"));
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await example?.stop();
  });

  test("refuses a client without a name, with a hint in the error's data", async () => {
    await assert.rejects(open(), (error) => error.message === "a name is required" && /name/.test(error.data.hint));
  });

  test("a room's messages reach its members with the sender's name, and no one else", async () => {
    const ann = await open("ann");
    const bob = await open("bob");
    const cid = await open("cid");
    assert.deepEqual((await ann.timeout(5000).emitWithAck("join", "lobby")).sort(), [ann.id, "lobby"].sort());
    await bob.timeout(5000).emitWithAck("join", "lobby");
    const cidSaw = record(cid, "said");
    const bobGot = next(bob, "said");
    assert.equal(await ann.timeout(5000).emitWithAck("say", "lobby", "hello"), true);
    assert.deepEqual((await bobGot)[0], { room: "lobby", from: "ann", text: "hello" });
    assert.equal(await cid.timeout(5000).emitWithAck("say", "lobby", "let me in"), false);
    assert.deepEqual(cidSaw, []);
    assert.deepEqual((await bob.timeout(5000).emitWithAck("rooms")).sort(), [bob.id, "lobby"].sort());
  });
});
