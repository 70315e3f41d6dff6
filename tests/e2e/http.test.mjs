// What the sidecar answers at the HTTP and wire level: errors, CORS, cookies,
// compression, and malformed packets. Raw fetch and ws, no socket.io-client.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { io } from "socket.io-client";
import { call, connect, next, startStack } from "./harness.mjs";

const handshake = (url, init) => fetch(`${url}/socket.io/?EIO=4&transport=polling`, init);

async function openPolling(url) {
  const response = await handshake(url);
  const body = await response.text();
  return JSON.parse(body.slice(1)).sid;
}

describe("with default options", () => {
  let stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.stop());

  // EIO=3 without --allow_eio3: eio3.test.mjs.
  it("refuses an unsupported or missing EIO with 400 and the Engine.IO error", async () => {
    for (const query of ["EIO=5&transport=polling", "EIO=2&transport=polling", "EIO=abc&transport=polling", "transport=polling"]) {
      const response = await fetch(`${stack.url}/socket.io/?${query}`);
      assert.equal(response.status, 400, query);
      assert.deepEqual(await response.json(), { code: 5, message: "Unsupported protocol version" });
    }
  });

  it("refuses unknown transports and handshakes that are not GET", async () => {
    const unknown = await fetch(`${stack.url}/socket.io/?EIO=4&transport=carrier-pigeon`);
    assert.equal(unknown.status, 400);
    assert.deepEqual(await unknown.json(), { code: 0, message: "Transport unknown" });
    const post = await handshake(stack.url, { method: "POST", body: "40" });
    assert.equal(post.status, 400);
    assert.deepEqual(await post.json(), { code: 2, message: "Bad handshake method" });
  });

  it("answers an unknown sid with 400 and the Engine.IO error JSON", async () => {
    for (const sid of ["AAAAAAAAAAAAAAAAAAAA", "short", "z".repeat(20)]) {
      const response = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(response.status, 400, sid);
      assert.deepEqual(await response.json(), { code: 1, message: "Session ID unknown" });
    }
  });

  it("answers an oversize polling body with 413", async () => {
    const sid = await openPolling(stack.url);
    const response = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST",
      body: "4" + "x".repeat(1_000_001),
    });
    assert.equal(response.status, 413);
  });

  it("refuses a foreign or null Origin under the same-origin default, and allows its own", async () => {
    for (const origin of ["http://evil.example", "null", `http://127.0.0.1:${stack.port}.evil.example`]) {
      const response = await handshake(stack.url, { headers: { origin } });
      assert.equal(response.status, 403, origin);
      assert.deepEqual(await response.json(), { code: 4, message: "Forbidden" });
    }
    const own = await handshake(stack.url, { headers: { origin: stack.url } });
    assert.equal(own.status, 200);
    assert.equal(own.headers.get("access-control-allow-origin"), stack.url);
    assert.equal(own.headers.get("access-control-allow-credentials"), "true");
  });

  it("refuses a WebSocket upgrade from a foreign Origin", async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket`, {
      origin: "http://evil.example",
    });
    const status = await new Promise((resolve) => {
      socket.on("unexpected-response", (_, response) => resolve(response.statusCode));
      socket.on("open", () => resolve(101));
    });
    assert.equal(status, 403);
  });

  it("compresses large polling responses when the client accepts gzip", async () => {
    const sid = await openPolling(stack.url);
    const poll = `${stack.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    await fetch(poll, { method: "POST", body: "40" });
    const connected = await (await fetch(poll)).text();
    assert.match(connected, /^40\{"sid":"/);
    const echo = `42["echo","${"a".repeat(5000)}"]`;
    await fetch(poll, { method: "POST", body: echo });
    // The small "welcome" may come first; poll until the large echo arrives.
    for (let i = 0; i < 5; i++) {
      const response = await fetch(poll, { headers: { "accept-encoding": "gzip" } });
      const body = await response.text(); // fetch decompresses
      if (!body.includes(echo)) continue;
      assert.equal(response.headers.get("content-encoding"), "gzip");
      return;
    }
    assert.fail("the echo never arrived");
  });

  it("closes a connection that sends a malformed packet and keeps serving others", async () => {
    const bystander = await connect(stack.url, { transports: ["websocket"] });
    for (const bad of ["42{}", "4abc", '42abc["x"]', '42["connect"', "x"]) {
      const socket = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket`);
      await new Promise((resolve) => socket.once("message", resolve)); // open packet
      socket.send("40");
      await new Promise((resolve) => socket.once("message", resolve)); // CONNECT reply
      socket.send(bad);
      const code = await new Promise((resolve) => socket.once("close", resolve));
      assert.ok(code >= 1000, `${bad} closed with ${code}`);
    }
    assert.equal(await call(bystander, "ack", "still here"), "still here");
    bystander.close();
  });
});

describe("with options", () => {
  let stack;
  before(async () => {
    stack = await startStack([
      "--cors_allowed_origins=http://app.example,http://other.example",
      "--cookie=io",
      "--http_compression=false",
    ]);
  });
  after(() => stack.stop());

  it("allows exactly the listed origins", async () => {
    const allowed = await handshake(stack.url, { headers: { origin: "http://app.example" } });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get("access-control-allow-origin"), "http://app.example");
    const refused = await handshake(stack.url, { headers: { origin: "http://app.example.evil" } });
    assert.equal(refused.status, 403);
    const preflight = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling`, {
      method: "OPTIONS",
      headers: { origin: "http://other.example", "access-control-request-headers": "x-token" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-headers"), "x-token");
    assert.match(preflight.headers.get("access-control-allow-methods"), /POST/);
  });

  it("sets the session cookie on the handshake", async () => {
    const response = await handshake(stack.url);
    const { sid } = JSON.parse((await response.text()).slice(1));
    assert.match(response.headers.get("set-cookie"), new RegExp(`^io=${sid}; Path=/; HttpOnly; SameSite=Lax`));
  });

  it("does not compress when http_compression is off", async () => {
    const sid = await openPolling(stack.url);
    const poll = `${stack.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    await fetch(poll, { method: "POST", body: "40" });
    await fetch(poll);
    const echo = `42["echo","${"a".repeat(5000)}"]`;
    await fetch(poll, { method: "POST", body: echo });
    for (let i = 0; i < 5; i++) {
      const response = await fetch(poll, { headers: { "accept-encoding": "gzip" } });
      if (!(await response.text()).includes(echo)) continue;
      assert.equal(response.headers.get("content-encoding"), null);
      return;
    }
    assert.fail("the echo never arrived");
  });
});

describe("with always_connect and a short ping", () => {
  let stack;
  before(async () => {
    stack = await startStack(["--always_connect=true", "--ping_interval=0.2", "--ping_timeout=0.2"]);
  });
  after(() => stack.stop());

  it("accepts first and disconnects when the backend rejects", async () => {
    // Listen before connecting: the disconnect may arrive right behind the accept.
    const socket = io(stack.url, { transports: ["websocket"], auth: { token: "reject" }, reconnection: false });
    const connected = next(socket, "connect");
    const disconnected = next(socket, "disconnect");
    await connected;
    assert.equal((await disconnected)[0], "io server disconnect");
  });

  it("closes a session whose client stops answering pings, and tells the backend", async () => {
    const silent = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket`);
    await new Promise((resolve) => silent.once("message", resolve));
    silent.send("40");
    const sid = await new Promise((resolve) =>
      silent.on("message", (data) => {
        const text = data.toString();
        if (text.startsWith("40")) resolve(JSON.parse(text.slice(2)).sid);
      }),
    );
    await new Promise((resolve) => silent.once("close", resolve));
    const observer = await connect(stack.url, { transports: ["websocket"] });
    let reasons = [];
    for (let i = 0; i < 50 && !reasons.some(([s]) => s === sid); i++) {
      reasons = await call(observer, "disconnects");
    }
    assert.deepEqual(reasons.find(([s]) => s === sid), [sid, "/", "ping timeout"]);
    observer.close();
  });
});

describe("with a custom path, no upgrades and a small buffer", () => {
  let stack;
  before(async () => {
    stack = await startStack(["--path=/rt", "--allow_upgrades=false", "--max_http_buffer_size=1000"]);
  });
  after(() => stack.stop());

  it("serves Socket.IO at the configured path only", async () => {
    assert.equal((await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling`)).status, 404);
    const response = await fetch(`${stack.url}/rt/?EIO=4&transport=polling`);
    assert.equal(response.status, 200);
    const open = JSON.parse((await response.text()).slice(1));
    assert.deepEqual(open.upgrades, []);
    assert.equal(open.maxPayload, 1000);
  });

  it("keeps a client on polling when upgrades are off", async () => {
    const socket = await connect(stack.url, { path: "/rt" });
    assert.equal(await call(socket, "ack", "on polling"), "on polling");
    assert.equal(socket.io.engine.transport.name, "polling");
    const probe = new WebSocket(`ws://127.0.0.1:${stack.port}/rt/?EIO=4&transport=websocket&sid=${socket.io.engine.id}`);
    await new Promise((resolve) => probe.once("close", resolve));
    assert.equal(await call(socket, "ack", "still polling"), "still polling");
    socket.close();
  });

  it("closes a WebSocket whose message exceeds max_http_buffer_size", async () => {
    const socket = await connect(stack.url, { path: "/rt", transports: ["websocket"] });
    const closed = new Promise((resolve) => socket.once("disconnect", resolve));
    socket.emit("echo", "x".repeat(2000));
    assert.equal(await closed, "transport close");
  });
});

describe("with WebSocket as the only transport", () => {
  let stack;
  before(async () => {
    stack = await startStack(["--transports=websocket"]);
  });
  after(() => stack.stop());

  it("refuses polling and serves WebSocket", async () => {
    const response = await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling`);
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { code: 0, message: "Transport unknown" });
    const socket = await connect(stack.url, { transports: ["websocket"] });
    assert.equal(await call(socket, "ack", "ws only"), "ws only");
    socket.close();
  });
});

// Sends raw bytes and resolves with the status line of the answer ("" if the connection closed
// without one).
function rawStatusLine(port, bytes) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(bytes));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("close", () => resolve(answer.split("\r\n")[0]));
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer within 5 s")));
  });
}

describe("requests HTTP/1.1 does not allow", () => {
  let stack;
  before(async () => {
    stack = await startStack([], { backend: false });
  });
  after(() => stack?.stop());

  const polling = "/socket.io/?EIO=4&transport=polling";
  const cases = {
    "both Content-Length and Transfer-Encoding (request smuggling)":
      `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    "two Content-Length headers": `GET ${polling} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
    "a 100 kB chunk extension": `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;${"a".repeat(100000)}\r\nhello\r\n0\r\n\r\n`,
    // Beast 1.81 neither limits trailers nor survives a trailer field over 64 kB (it throws).
    "a 100 kB trailer field": `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\nX-Trailer: ${"a".repeat(100000)}\r\n\r\n`,
    "a chunk size beyond 64 bits": `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n40\r\n0\r\n\r\n`,
    "a Content-Length beyond 64 bits": `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n`,
    "a negative Content-Length": `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`,
    "Transfer-Encoding that does not end in chunked": `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n2\r\n40\r\n0\r\n\r\n`,
    "a space between a field name and its colon": `GET ${polling} HTTP/1.1\r\nHost : x\r\n\r\n`,
    "a trailer of 5000 fields": `POST ${polling}&sid=AAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n40\r\n0\r\n${Array.from({ length: 5000 }, (_, i) => `X-${i}: v\r\n`).join("")}\r\n`,
  };
  for (const [name, bytes] of Object.entries(cases)) {
    it(`answers 400 to ${name}, and keeps serving`, async () => {
      assert.equal(await rawStatusLine(stack.port, bytes), "HTTP/1.1 400 Bad Request");
      const handshake = await fetch(`${stack.url}${polling}`);
      assert.equal(handshake.status, 200);
    });
  }
});

// Opens a raw WebSocket to the Engine.IO endpoint, sends `frame`, and resolves with the close
// code of the server's close frame (or null if it closed without one).
function rawWebSocketClose(port, frame) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () =>
      socket.write(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ),
    );
    let received = Buffer.alloc(0);
    let upgraded = false;
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (!upgraded && received.includes("\r\n\r\n")) {
        upgraded = true;
        received = received.subarray(received.indexOf("\r\n\r\n") + 4);
        socket.write(frame);
      }
    });
    socket.on("close", () => {
      // Frames from the server: skip to the close frame (opcode 8) and read its code.
      for (let at = 0; at + 2 <= received.length; ) {
        const opcode = received[at] & 0x0f;
        let length = received[at + 1] & 0x7f;
        let start = at + 2;
        if (length === 126) {
          length = received.readUInt16BE(at + 2);
          start += 2;
        }
        if (opcode === 8) return resolve(length >= 2 ? received.readUInt16BE(start) : null);
        at = start + length;
      }
      resolve(null);
    });
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy(new Error("the server kept the connection open")));
  });
}

// A client frame: FIN, opcode, masked payload (or unmasked, or a forged 64-bit length).
function clientFrame(opcode, payload, { rsv = 0, masked = true, length64 } = {}) {
  const key = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload).map((byte, i) => (masked ? byte ^ key[i % 4] : byte));
  let length = Buffer.from([(masked ? 0x80 : 0) | body.length]);
  if (length64 !== undefined) {
    length = Buffer.alloc(9);
    length[0] = (masked ? 0x80 : 0) | 127;
    length.writeBigUInt64BE(length64, 1);
  }
  return Buffer.concat([Buffer.from([0x80 | rsv | opcode]), length, masked ? key : Buffer.alloc(0), body]);
}

describe("WebSocket frames RFC 6455 forbids (as Autobahn sections 1-7 probe them)", () => {
  let stack;
  before(async () => {
    stack = await startStack([], { backend: false });
  });
  after(() => stack?.stop());

  const cases = [
    ["an unmasked client frame", clientFrame(1, "40", { masked: false }), 1002],
    ["RSV1 set without a negotiated extension", clientFrame(1, "40", { rsv: 0x40 }), 1002],
    ["a reserved opcode", clientFrame(3, "x"), 1002],
    ["a 64-bit length with its high bit set", clientFrame(1, "", { length64: 0x8000000000000005n }), 1009],
  ];
  for (const [name, frame, code] of cases) {
    it(`closes the connection with ${code} on ${name}, and keeps serving`, async () => {
      assert.equal(await rawWebSocketClose(stack.port, frame), code);
      assert.equal((await fetch(`${stack.url}/socket.io/?EIO=4&transport=polling`)).status, 200);
    });
  }
});
