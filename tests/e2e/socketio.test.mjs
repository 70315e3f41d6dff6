// Socket.IO behaviour end to end: socket.io-client 4.x -> sidecar -> test_backend,
// over long-polling, WebSocket, and polling upgraded to WebSocket.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { io } from "socket.io-client";
import { TRANSPORTS, call, connect, next, record, startStack } from "./harness.mjs";

for (const [name, transport] of Object.entries(TRANSPORTS)) {
  describe(`over ${name}`, () => {
    let stack;
    const open = [];
    const client = async (options = {}, nsp = "/") => {
      const socket = await connect(stack.url + (nsp === "/" ? "" : nsp), { ...transport, ...options });
      open.push(socket);
      return socket;
    };

    before(async () => {
      stack = await startStack();
    });
    after(async () => {
      for (const socket of open) socket.close();
      await stack.stop();
    });

    it("hands the backend the auth payload, query and headers of the handshake", async () => {
      const socket = io(stack.url, {
        ...transport,
        forceNew: true,
        reconnection: false,
        auth: { token: "abc" },
        query: { room: "lobby" },
        extraHeaders: { cookie: "session=xyz", "x-trace": "t-1" },
      });
      open.push(socket);
      const [welcome] = await next(socket, "welcome");
      assert.equal(welcome.sid, socket.id);
      assert.deepEqual(welcome.auth, { token: "abc" });
      assert.equal(welcome.query.room, "lobby");
      assert.equal(welcome.query.EIO, "4");
      assert.equal(welcome.headers.cookie, "session=xyz");
      assert.equal(welcome.headers["x-trace"], "t-1");
      assert.match(welcome.remote, /^127\.0\.0\.1:\d+$/);
      assert.equal(welcome.transport, transport.transports[0]);
    });

    it("upgrades to WebSocket when polling is not forced", { skip: name !== "upgrade" }, async () => {
      const socket = await client();
      if (socket.io.engine.transport.name !== "websocket") await next(socket.io.engine, "upgrade");
      assert.equal(socket.io.engine.transport.name, "websocket");
      assert.deepEqual(await call(socket, "ack", "after upgrade"), "after upgrade");
    });

    it("delivers events both ways with text and binary arguments", async () => {
      const socket = await client();
      const binary = Buffer.from([0, 1, 2, 255]);
      socket.emit("echo", "text", 42, { nested: [true, null] }, binary);
      const [text, number, object, bytes] = await next(socket, "echo");
      assert.equal(text, "text");
      assert.equal(number, 42);
      assert.deepEqual(object, { nested: [true, null] });
      assert.deepEqual(Buffer.from(bytes), binary);
    });

    it("returns the backend's ack to the client, binary included", async () => {
      const socket = await client();
      const binary = Buffer.from("attachment");
      const [word, bytes] = await new Promise((resolve, reject) => {
        socket.timeout(5000).emit("ack", "pong", binary, (error, ...args) => (error ? reject(error) : resolve(args)));
      });
      assert.equal(word, "pong");
      assert.deepEqual(Buffer.from(bytes), binary);
    });

    it("delivers the client's answer to a server emit with ack back to the backend", async () => {
      const socket = await client();
      socket.on("question", (question, reply) => reply(`answer to ${question}`, Buffer.from([7])));
      socket.emit("ask_client", 2000);
      const [text, bytes] = await next(socket, "answer");
      assert.equal(text, "answer to what is your name?");
      assert.deepEqual(Buffer.from(bytes), Buffer.from([7]));
    });

    it("tells the backend when the client does not answer in time", async () => {
      const socket = await client();
      socket.on("question", () => {});
      socket.emit("ask_client", 200);
      await next(socket, "answer_timeout");
    });

    it("routes emits to rooms, except the sender, and to the whole namespace", async () => {
      const [a, b, c] = [await client(), await client(), await client()];
      const seenByA = record(a, "room_message");
      assert.deepEqual(await call(a, "join", "r1"), 1);
      assert.deepEqual(await call(b, "join", "r1"), 1);

      const deliveries = Promise.all([next(a, "room_message"), next(b, "room_message")]);
      b.emit("to_room", "r1", "hello r1");
      assert.deepEqual(await deliveries, [["hello r1"], ["hello r1"]]);

      const countA = seenByA.length;
      const toB = next(b, "room_message");
      a.emit("to_room_except_me", "r1", "not to me");
      assert.deepEqual(await toB, ["not to me"]);
      // Events of one client are handled in order, so the echo below arrives
      // after any room_message the first emit would have produced for `a`.
      a.emit("echo", "sentinel");
      await next(a, "echo");
      assert.equal(seenByA.length, countA);

      c.emit("broadcast", "to everyone");
      const results = await Promise.all([a, b, c].map((s) => next(s, "broadcast")));
      for (const result of results) assert.deepEqual(result, ["to everyone"]);

      const broadcastsForC = record(c, "broadcast");
      c.emit("broadcast_others", "others only");
      await Promise.all([next(a, "broadcast"), next(b, "broadcast")]);
      c.emit("echo", "sentinel");
      await next(c, "echo");
      assert.equal(broadcastsForC.length, 0);
    });

    it("leaves rooms, closes rooms and lists a socket's rooms", async () => {
      const [a, b] = [await client(), await client()];
      await call(a, "join", "x");
      await call(a, "join", "y");
      assert.deepEqual(new Set(await call(a, "rooms")), new Set([a.id, "x", "y"]));

      assert.equal(await call(a, "leave", "x"), 1);
      assert.deepEqual(new Set(await call(a, "rooms")), new Set([a.id, "y"]));
      const seenByA = record(a, "room_message");
      b.emit("to_room", "x", "nobody");
      a.emit("echo", "sentinel");
      await next(a, "echo");
      assert.equal(seenByA.length, 0);

      await call(b, "join", "y");
      assert.equal(await call(b, "close_room", "y"), 2);
      assert.deepEqual(await call(a, "rooms"), [a.id]);
      assert.deepEqual(await call(b, "rooms"), [b.id]);
    });

    it("keeps a per-connection session that the backend reads with every event", async () => {
      const socket = await client();
      assert.deepEqual(await call(socket, "session_get"), {});
      assert.equal(await call(socket, "session_set", { user: "ada", count: 3 }), true);
      assert.deepEqual(await call(socket, "session_get"), { user: "ada", count: 3 });
      const other = await client();
      assert.deepEqual(await call(other, "session_get"), {});
    });

    it("lets the backend disconnect a client, which sees io server disconnect", async () => {
      const socket = await client();
      const disconnected = next(socket, "disconnect");
      socket.emit("disconnect_me");
      assert.deepEqual((await disconnected)[0], "io server disconnect");
    });

    it("reports client-side disconnects to the backend with their reason", async () => {
      const socket = await client();
      const sid = socket.id;
      socket.disconnect();
      const observer = await client();
      let reasons = [];
      for (let i = 0; i < 50 && !reasons.some(([s]) => s === sid); i++) {
        reasons = await call(observer, "disconnects");
      }
      assert.deepEqual(reasons.find(([s]) => s === sid), [sid, "/", "client namespace disconnect"]);
    });

    it("rejects a connection the backend refuses, with its message and data", async () => {
      await assert.rejects(connect(stack.url, { ...transport, auth: { token: "reject" } }), (error) => {
        assert.equal(error.message, "Not authorized");
        assert.deepEqual(error.data, { reason: "bad token" });
        return true;
      });
    });

    it("refuses namespaces no backend declared", async () => {
      await assert.rejects(connect(`${stack.url}/nowhere`, transport), { message: "Invalid namespace" });
    });

    it("multiplexes several namespaces over one connection", async () => {
      const root = await client();
      const chat = root.io.socket("/chat");
      const privateSocket = root.io.socket("/private", { auth: { token: "secret" } });
      open.push(chat, privateSocket);
      chat.connect();
      privateSocket.connect();
      await Promise.all([next(chat, "connect"), next(privateSocket, "connect")]);
      assert.equal(await call(chat, "ack", "in chat"), "in chat");
      assert.equal(await call(privateSocket, "ack", "in private"), "in private");
      assert.notEqual(chat.id, root.id);
      // Rooms and broadcasts are per namespace.
      const rootBroadcasts = record(root, "broadcast");
      chat.emit("broadcast", "chat only");
      await next(chat, "broadcast");
      root.emit("echo", "sentinel");
      await next(root, "echo");
      assert.equal(rootBroadcasts.length, 0);
      await assert.rejects(connect(`${stack.url}/private`, transport), { message: "Private namespace" });
    });

    it("runs the commands of a backend's batch in order and refuses a batch nested in it", async () => {
      const socket = await client();
      const batched = record(socket, "batched");
      assert.equal(await call(socket, "batch", 5), "done");
      assert.deepEqual(batched.map(([n]) => n), [1, 2, 3, 4, 5]);
      const refusals = await call(socket, "refusals");
      assert.ok(refusals.some((m) => /BackendBatch may not hold another/.test(m)), JSON.stringify(refusals));
    });

    // test_backend never says it accepts batches: each event must reach it alone, or it would
    // drop the batch and the client would miss acks.
    it("writes a burst of events one at a time to a backend without batches, in order", async () => {
      const socket = await client();
      const answered = [];
      await Promise.all(
        Array.from({ length: 300 }, (_, i) => call(socket, "ack", i).then((n) => answered.push(n))),
      );
      assert.deepEqual(answered, Array.from({ length: 300 }, (_, i) => i));
    });

    it("answers an invalid backend command with an error instead of dropping it", async () => {
      const socket = await client();
      socket.emit("bad_emit");
      const [message] = await next(socket, "command_error");
      assert.match(message, /Emit\.args\.json/);
    });
  });
}
