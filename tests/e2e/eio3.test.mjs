// Socket.IO 2.x clients (Engine.IO v3, Socket.IO protocol v4) beside 4.x clients, with
// --allow_eio3: socket.io-client 2.2.0 and 2.5.0 from npm -> sidecar -> test_backend and the
// demo backends, over long-polling, WebSocket and the upgrade; and the raw v3 framings
// (binary payloads, JSONP) over HTTP.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import sioc220 from "sioc220";
import sioc250 from "sioc250";
import { setTimeout as sleep } from "node:timers/promises";
import { adminClient, haveRedis, startRedis, startRoundRobinProxy, text } from "./cluster.mjs";
import { TRANSPORTS, connect, demoBackends, next, startExample, startStack, stopAll } from "./harness.mjs";

const CLIENTS = { "2.2.0": sioc220, "2.5.0": sioc250 };
const TIMEOUT_MS = 5000;

// A 2.x socket, with its first `welcome` listened for before it connects (it may arrive in the
// same read as the CONNECT). Resolves once connected; rejects with the server's `error` (a
// refused namespace) or the transport's connect_error.
function connect2(io, url, options = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, timeout: TIMEOUT_MS, ...options });
  const welcome = next(socket, "welcome", TIMEOUT_MS);
  welcome.catch(() => {});
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve({ socket, welcome }));
    const fail = (error) => {
      socket.close();
      reject(error);
    };
    socket.once("error", fail);
    socket.once("connect_error", fail);
  });
}

// socket.io-client 2.x has no emitWithAck.
function call2(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), TIMEOUT_MS);
    socket.emit(event, ...args, (...answer) => {
      clearTimeout(timer);
      resolve(answer);
    });
  });
}

for (const [version, io] of Object.entries(CLIENTS)) {
  for (const [name, transport] of Object.entries(TRANSPORTS)) {
    describe(`socket.io-client ${version} over ${name}`, () => {
      let stack;
      const open = [];
      const client = async (nsp = "/", options = {}) => {
        const connected = await connect2(io, stack.url + (nsp === "/" ? "" : nsp), { ...transport, ...options });
        open.push(connected.socket);
        return connected;
      };

      before(async () => {
        stack = await startStack(["--allow_eio3"]);
      });
      after(async () => {
        for (const socket of open) socket.close();
        await stack.stop();
      });

      it("is connected to / without asking, with its session id as socket id", async () => {
        const { socket, welcome } = await client("/", { query: { room: "lobby" } });
        const [info] = await welcome;
        assert.equal(info.sid, socket.id);
        assert.equal(socket.id, socket.io.engine.id);
        assert.equal(info.namespace, "/");
        assert.equal(info.eio, 3);
        assert.equal(info.query.EIO, "3");
        assert.equal(info.query.room, "lobby");
        assert.deepEqual(info.auth, {});
        assert.equal(info.transport, transport.transports[0]);
      });

      it("upgrades to WebSocket when polling is not forced", { skip: name !== "upgrade" }, async () => {
        const { socket } = await client();
        if (socket.io.engine.transport.name !== "websocket") await next(socket.io.engine, "upgrade");
        assert.equal(socket.io.engine.transport.name, "websocket");
        assert.deepEqual(await call2(socket, "ack", "after upgrade"), ["after upgrade"]);
      });

      it("delivers events both ways with text and binary arguments", async () => {
        const { socket } = await client();
        const binary = Buffer.from([0, 1, 2, 255]);
        const text = "h\u00e9llo \u{1F600} \u2028";
        socket.emit("echo", text, 42, { nested: [true, null], bytes: Buffer.from([9]) }, binary);
        const [echoedText, number, object, bytes] = await next(socket, "echo");
        assert.equal(echoedText, text);
        assert.equal(number, 42);
        assert.deepEqual(object.nested, [true, null]);
        assert.deepEqual(Buffer.from(object.bytes), Buffer.from([9]));
        assert.deepEqual(Buffer.from(bytes), binary);
      });

      it("gets the backend's ack to its emit, binary included", async () => {
        const { socket } = await client();
        const [text, bytes] = await call2(socket, "ack", "text", Buffer.from([7, 8]));
        assert.equal(text, "text");
        assert.deepEqual(Buffer.from(bytes), Buffer.from([7, 8]));
      });

      it("answers the backend's emit with an ack, binary included", async () => {
        const { socket } = await client();
        socket.once("question", (question, answer) => {
          assert.equal(question, "what is your name?");
          answer(`client ${version}`, Buffer.from([3, 1]));
        });
        const answered = next(socket, "answer");
        socket.emit("ask_client", 2000);
        const [name, bytes] = await answered;
        assert.equal(name, `client ${version}`);
        assert.deepEqual(Buffer.from(bytes), Buffer.from([3, 1]));
      });

      it("connects to a namespace with credentials in its query string", async () => {
        const { socket, welcome } = await client("/private", { query: { token: "secret" } });
        const [info] = await welcome;
        assert.equal(info.namespace, "/private");
        assert.deepEqual(info.auth, { token: "secret" });
        assert.equal(info.sid, socket.id);
        assert.equal(socket.id, `/private#${socket.io.engine.id}`);
        // A command for that sid reaches it.
        const [rooms] = await call2(socket, "rooms");
        assert.deepEqual(rooms, [socket.id]);
      });

      it("is refused with the backend's error data, as a string message without data", async () => {
        await assert.rejects(client("/private", { query: { token: "wrong" } }), (error) => {
          assert.deepEqual(error, { reason: "secret needed" });
          return true;
        });
        await assert.rejects(client("/nowhere"), (error) => {
          assert.equal(error, "Invalid namespace");
          return true;
        });
      });

      it("is disconnected by the backend", async () => {
        const { socket } = await client();
        const gone = next(socket, "disconnect");
        socket.emit("disconnect_me");
        assert.deepEqual(await gone, ["io server disconnect"]);
      });

      it("shares a room with a 4.x client, each getting a broadcast in its own framing", async () => {
        const { socket: old } = await client();
        const modern = await connect(stack.url, transport);
        open.push(modern);
        const room = `mixed-${version}-${name}`;
        assert.deepEqual(await call2(old, "join", room), [1]);
        assert.equal(await modern.timeout(TIMEOUT_MS).emitWithAck("join", room), 1);
        const oldGot = next(old, "room_message");
        const modernGot = next(modern, "room_message");
        modern.emit("room_echo", room, "from 4.x", Buffer.from([1, 2, 3]));
        for (const [text, bytes] of [await oldGot, await modernGot]) {
          assert.equal(text, "from 4.x");
          assert.deepEqual(Buffer.from(bytes), Buffer.from([1, 2, 3]));
        }
        const modernGot2 = next(modern, "room_message");
        old.emit("room_echo", room, { from: version }, Buffer.from([4]));
        const [object, bytes] = await modernGot2;
        assert.deepEqual(object, { from: version });
        assert.deepEqual(Buffer.from(bytes), Buffer.from([4]));
      });
    });
  }
}

describe("Engine.IO v3 over raw HTTP", () => {
  let stack;
  before(async () => {
    stack = await startStack(["--allow_eio3"]);
  });
  after(async () => {
    await stack.stop();
  });

  const polling = (query) => `${stack.url}/socket.io/?EIO=3&transport=polling&${query}`;
  const unscript = (script) => {
    const match = /^___eio\[(\d+)\]\((".*")\);$/s.exec(script);
    assert.ok(match, `not a JSONP script: ${script}`);
    return [match[1], JSON.parse(match[2])];
  };
  // A text payload's packets (`<length>:<packet>`, lengths in UTF-16 code units); `b4` packets
  // as Buffers.
  const textPackets = (payload) => {
    const out = [];
    for (let i = 0; i < payload.length; ) {
      const colon = payload.indexOf(":", i);
      const length = Number(payload.slice(i, colon));
      const packet = payload.substr(colon + 1, length);
      out.push(packet.startsWith("b4") ? Buffer.from(packet.slice(2), "base64") : packet);
      i = colon + 1 + length;
    }
    return out;
  };
  // A binary payload's packets: text as strings, binary messages as Buffers without the type.
  const binaryPackets = (bytes) => {
    const out = [];
    for (let i = 0; i < bytes.length; ) {
      const binary = bytes[i++] === 1;
      let length = 0;
      while (bytes[i] !== 255) length = length * 10 + bytes[i++];
      const packet = bytes.subarray(i + 1, i + 1 + length);
      out.push(binary ? Buffer.from(packet.subarray(1)) : packet.toString());
      i += 1 + length;
    }
    return out;
  };
  // GETs until `done(packets so far)`; returns the packets and each response's content type.
  const pollUntil = async (query, done) => {
    const packets = [];
    const types = [];
    while (!done(packets)) {
      const response = await fetch(polling(query));
      assert.equal(response.status, 200);
      const type = response.headers.get("content-type");
      types.push(type);
      if (type.startsWith("text/javascript")) packets.push(...textPackets(unscript(await response.text())[1]));
      else if (type === "application/octet-stream") packets.push(...binaryPackets(Buffer.from(await response.arrayBuffer())));
      else packets.push(...textPackets(await response.text()));
    }
    return { packets, types };
  };
  const isEvent = (name) => (p) => typeof p === "string" && p.startsWith("4") && p.includes(`["${name}"`);

  it("polls with JSONP: scripts out, forms in, lengths in UTF-16 units", async () => {
    const handshake = await fetch(polling("j=3"));
    assert.equal(handshake.status, 200);
    assert.match(handshake.headers.get("content-type"), /^text\/javascript/);
    const [index, payload] = unscript(await handshake.text());
    assert.equal(index, "3");
    const [open] = textPackets(payload);
    const { sid, maxPayload } = JSON.parse(open.slice(1));
    assert.equal(maxPayload, undefined);
    const connected = await pollUntil(`j=3&sid=${sid}`, (p) => p.some(isEvent("welcome")));
    assert.equal(connected.packets[0], "40");

    const text = "\u{1F600}\u2028 a\\nb";
    const event = `42${JSON.stringify(["echo", text])}`;
    // As engine.io-client 3 writes a JSONP form: backslash-n as two backslashes and n, a newline as backslash-n.
    const escaped = `${event.length}:${event}`.replace(/\\n/g, "\\\n").replace(/\n/g, "\\n");
    const body = new URLSearchParams({ d: escaped });
    const posted = await fetch(polling(`j=3&sid=${sid}`), { method: "POST", body });
    assert.equal(await posted.text(), "ok");
    const { packets } = await pollUntil(`j=3&sid=${sid}`, (p) => p.some(isEvent("echo")));
    assert.deepEqual(JSON.parse(packets.find(isEvent("echo")).slice(2)), ["echo", text]);
  });

  it("sends binary payloads to clients that support them, and base64 to b64=1 clients", async () => {
    for (const b64 of [false, true]) {
      const query = b64 ? "b64=1" : "";
      const [open] = textPackets(await (await fetch(polling(query))).text());
      const { sid } = JSON.parse(open.slice(1));
      await pollUntil(`${query}&sid=${sid}`, (p) => p.some(isEvent("welcome")));

      // A binary event as a binary payload: the event, then the attachment [1, 2, 3].
      const event = '451-["echo",{"_placeholder":true,"num":0}]';
      const digits = (n) => [...String(n)].map(Number);
      const body = Buffer.concat([
        Buffer.from([0, ...digits(event.length), 255]),
        Buffer.from(event),
        Buffer.from([1, ...digits(4), 255, 4, 1, 2, 3]),
      ]);
      // A poll is (usually) held when the echo arrives: it must carry the attachment too.
      const echoed = pollUntil(`${query}&sid=${sid}`, (p) => p.some((x) => Buffer.isBuffer(x)));
      const posted = await fetch(polling(`${query}&sid=${sid}`), {
        method: "POST",
        body,
        headers: { "content-type": "application/octet-stream" },
      });
      assert.equal(await posted.text(), "ok");
      const { packets, types } = await echoed;
      assert.deepEqual(packets, [event, Buffer.from([1, 2, 3])]);
      assert.equal(types.length, 1, "the event and its attachment come in one response");
      if (b64) assert.match(types[0], /^text\/plain/);
      else assert.equal(types[0], "application/octet-stream");
    }
  });
});

describe("the Engine.IO v3 heartbeat", () => {
  let stack;
  before(async () => {
    stack = await startStack(["--allow_eio3", "--ping_interval=0.2", "--ping_timeout=1"]);
  });
  after(async () => {
    await stack.stop();
  });

  for (const [name, transport] of Object.entries(TRANSPORTS)) {
    it(`answers a 2.x client's pings over ${name}`, async () => {
      const { socket } = await connect2(sioc250, stack.url, transport);
      try {
        for (let i = 0; i < 3; i++) await next(socket, "pong");
        assert.ok(socket.connected);
        assert.deepEqual(await call2(socket, "ack", "still here"), ["still here"]);
      } finally {
        socket.close();
      }
    });
  }

  it("closes a session whose client stops pinging, telling a held poll", async () => {
    const url = `${stack.url}/socket.io/?EIO=3&transport=polling`;
    const handshake = await (await fetch(url)).text();
    const { sid } = JSON.parse(handshake.slice(handshake.indexOf(":") + 2));
    // The client never pings: polls are held until the session ends with a close packet.
    let body = "";
    while (!body.endsWith("1:1")) {
      const response = await fetch(`${url}&sid=${sid}`);
      assert.equal(response.status, 200);
      body = await response.text();
    }
    assert.equal((await fetch(`${url}&sid=${sid}`)).status, 400);
  });
});

describe("without --allow_eio3", () => {
  let stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.stop();
  });

  it("refuses EIO=3 with HTTP 400 naming the flag", async () => {
    const response = await fetch(`${stack.url}/socket.io/?EIO=3&transport=polling`);
    assert.equal(response.status, 400);
    const body = await response.json();
    assert.equal(body.code, 5);
    assert.match(body.message, /allow_eio3/);
  });

  it("and a 2.x client gets a connect_error", async () => {
    await assert.rejects(connect2(sioc250, stack.url, { transports: ["polling"] }));
  });
});

describe("2.x clients in a cluster, behind a round-robin proxy", { skip: haveRedis() ? false : "redis-server is not installed" }, () => {
  let redis;
  let nodes;
  let admins;
  let proxy;
  before(async () => {
    redis = await startRedis();
    nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await startStack([`--redis_url=${redis.url}`, "--channel=eio3", "--allow_eio3"]));
    admins = nodes.map((node) => adminClient(node.grpcAddress));
    for (let tries = 0; (await admins[0].Stats()).nodes.length < 3; tries++) {
      assert.ok(tries < 100, "the replicas did not find each other");
      await sleep(100);
    }
    proxy = await startRoundRobinProxy(nodes.map((node) => node.port));
  });
  after(async () => {
    await proxy?.stop();
    for (const admin of admins ?? []) admin.close();
    await stopAll([...(nodes ?? []), redis]);
  });

  it("keeps polling and upgraded 2.x sockets on namespaces, reached by their nsp#sid ids from any replica", async () => {
    const sockets = [];
    try {
      for (const transports of [["polling"], ["polling"], ["polling", "websocket"]]) {
        const { socket } = await connect2(sioc250, `${proxy.url}/private`, { transports, query: { token: "secret" } });
        sockets.push(socket);
      }
      const modern = await connect(nodes[1].url + "/private", { transports: ["websocket"], auth: { token: "secret" } });
      sockets.push(modern);
      for (const socket of sockets.slice(0, 3)) assert.deepEqual(await call2(socket, "join", "spread"), [1]);
      assert.equal(await modern.timeout(TIMEOUT_MS).emitWithAck("join", "spread"), 1);
      const got = sockets.map((socket) => next(socket, "room_message"));
      sockets[0].emit("room_echo", "spread", "everyone", Buffer.from([5, 6]));
      for (const [message, bytes] of await Promise.all(got)) {
        assert.equal(message, "everyone");
        assert.deepEqual(Buffer.from(bytes), Buffer.from([5, 6]));
      }
      for (const [i, admin] of admins.entries()) {
        const { socket } = await admin.GetSocket({ namespace: "/private", sid: sockets[i].id });
        assert.equal(text(socket.sid), sockets[i].id);
        assert.deepEqual(socket.rooms.map(text).sort(), [sockets[i].id, "spread"].sort());
      }
      const gone = next(sockets[1], "disconnect");
      await admins[2].DisconnectSockets({ namespace: "/private", target: { sids: [sockets[1].id] } });
      assert.deepEqual(await gone, ["io server disconnect"]);
    } finally {
      for (const socket of sockets) socket.close();
    }
  });
});

for (const backend of demoBackends()) {
  describe(`the ${backend.name} demo backend with socket.io-client 2.5.0 beside 4.x`, { skip: backend.skip }, () => {
    let example;
    const open = [];
    const responseWhere = (socket, predicate) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no matching my_response")), TIMEOUT_MS * 2);
        const listener = (message, callback) => {
          if (!predicate(message)) return;
          clearTimeout(timer);
          socket.off("my_response", listener);
          resolve({ message, callback });
        };
        socket.on("my_response", listener);
      });
    const greeted = async (io) => {
      const socket = io(example.url, { forceNew: true, reconnection: false, timeout: TIMEOUT_MS * 2 });
      open.push(socket);
      const { message } = await responseWhere(socket, (m) => m.data === "Connected");
      assert.deepEqual(message, { data: "Connected", count: 0 });
      return socket;
    };

    before(async () => {
      example = await startExample(backend.binary(), ["--interval=1"], ["--allow_eio3"]);
    });
    after(async () => {
      for (const socket of open) socket.close();
      await example?.stop();
    });

    it("echoes, joins a room shared with a 4.x client, and says goodbye", async () => {
      const { io: io4 } = await import("socket.io-client");
      const old = await greeted(sioc250);
      const modern = await greeted(io4);

      const echo = responseWhere(old, (m) => m.data === "hello");
      old.emit("my_event", { data: "hello" });
      assert.equal((await echo).message.count, 1);

      const room = `demo-${backend.name}`;
      for (const socket of [old, modern]) {
        const joined = responseWhere(socket, (m) => m.data.startsWith("In rooms: "));
        socket.emit("join", { room });
        assert.ok((await joined).message.data.includes(room));
      }
      const oldGot = responseWhere(old, (m) => m.data === "to the room");
      const modernGot = responseWhere(modern, (m) => m.data === "to the room");
      modern.emit("my_room_event", { data: "to the room", room });
      await Promise.all([oldGot, modernGot]);

      const everyone = responseWhere(modern, (m) => m.data === "to all");
      old.emit("my_broadcast_event", { data: "to all" });
      await everyone;

      const goodbye = responseWhere(old, (m) => m.data === "Disconnected!");
      const gone = next(old, "disconnect", TIMEOUT_MS);
      old.emit("disconnect_request");
      const { callback } = await goodbye;
      callback();
      assert.equal((await gone)[0], "io server disconnect");
    });
  });
}
