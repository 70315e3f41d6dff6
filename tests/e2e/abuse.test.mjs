// Hostile Socket.IO and Engine.IO input, each case sent by a raw client (ws or fetch) while a
// bystander socket.io-client stays connected: the bad client gets a clear HTTP error or its
// connection closed, the backend hears nothing it should not, and the bystander keeps working.
// tests/HARDENING.md lists every case and where it is tested.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { call, connect, startStack } from "./harness.mjs";

// A raw Engine.IO WebSocket connected to namespace "/": {ws, sid, messages, closed}.
async function rawSocket(stack, { query = "" } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket${query}`);
  const messages = [];
  const waiters = [];
  ws.on("message", (data, isBinary) => {
    messages.push(isBinary ? Buffer.from(data) : data.toString());
    for (const waiter of waiters.splice(0)) waiter();
  });
  const closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  ws.on("close", () => {
    for (const waiter of waiters.splice(0)) waiter();
  });
  ws.on("error", () => {});
  const until = async (predicate) => {
    while (!messages.some(predicate) && ws.readyState !== WebSocket.CLOSED) {
      await new Promise((resolve) => waiters.push(resolve));
    }
    return messages.find(predicate);
  };
  await until((m) => typeof m === "string" && m.startsWith("0{"));
  ws.send("40");
  const connected = await until((m) => typeof m === "string" && m.startsWith("40"));
  assert.ok(connected, `not connected: ${messages}`);
  const sid = JSON.parse(connected.slice(2)).sid;
  return { ws, sid, messages, closed, until };
}

// The reason the backend was given for a socket's disconnect, asked through `observer`.
async function disconnectReason(observer, sid) {
  for (let i = 0; i < 100; i++) {
    const reasons = await call(observer, "disconnects");
    const found = reasons.find(([s]) => s === sid);
    if (found) return found[2];
  }
  return undefined;
}

const polling = (stack, sid = "") =>
  `${stack.url}/socket.io/?EIO=4&transport=polling${sid ? `&sid=${sid}` : ""}`;

async function openPolling(stack) {
  const body = await (await fetch(polling(stack))).text();
  return JSON.parse(body.slice(1)).sid;
}

describe("hostile Socket.IO packets", () => {
  let stack;
  let bystander;
  before(async () => {
    stack = await startStack(["--max_http_buffer_size=10000"]);
    bystander = await connect(stack.url, { transports: ["websocket"] });
  });
  after(async () => {
    bystander?.close();
    await stack?.stop();
  });

  // Sends `frames` after connecting; expects the connection closed with "parse error" told to
  // the backend, nothing echoed, and the bystander still served.
  async function expectParseError(frames, { completeFirst = false } = {}) {
    const client = await rawSocket(stack);
    for (const data of frames) client.ws.send(data);
    await client.closed;
    // Only a packet that was complete before the offending frame may have been answered.
    const answers = client.messages.filter((m) => typeof m !== "string" || /^4[25]/.test(m) && !m.startsWith('42["welcome"'));
    if (!completeFirst) assert.equal(answers.length, 0, `the backend answered: ${client.messages}`);
    assert.equal(await disconnectReason(bystander, client.sid), "parse error");
    assert.equal(await call(bystander, "ack", "still here"), "still here");
  }

  it("delivers a well-formed binary event with its attachment (the control case)", async () => {
    const client = await rawSocket(stack);
    client.ws.send('451-["echo",{"_placeholder":true,"num":0}]');
    client.ws.send(Buffer.from([1, 2, 3]));
    const echo = await client.until((m) => typeof m === "string" && m.startsWith("451-"));
    assert.equal(echo, '451-["echo",{"_placeholder":true,"num":0}]');
    const attachment = await client.until((m) => typeof m !== "string");
    assert.deepEqual(attachment, Buffer.from([1, 2, 3]));
    client.ws.close();
  });

  const cases = {
    "fewer attachments than announced, then a text packet": ['452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', Buffer.from([1]), '42["echo"]'],
    "an attachment nobody announced": [Buffer.from([1, 2, 3])],
    "a placeholder naming an attachment beyond the count": ['451-["echo",{"_placeholder":true,"num":1}]', Buffer.from([1])],
    "a negative placeholder number": ['451-["echo",{"_placeholder":true,"num":-1}]', Buffer.from([1])],
    "a placeholder number that is not an integer": ['452-["echo",{"_placeholder":true,"num":0.5}]', Buffer.from([1]), Buffer.from([2])],
    "a placeholder number given as a string": ['451-["echo",{"_placeholder":true,"num":"0"}]', Buffer.from([1])],
    "a placeholder in a packet without attachments": ['42["echo",{"_placeholder":true,"num":0}]'],
    "a placeholder spelled with \\u escapes": ['42["echo",{"\\u005fplaceholder":true,"num":0}]'],
    "an attachment count with a sign": ['45+1-["echo"]'],
    "more than 1000 attachments announced": ['451001-["echo"]'],
    "attachments adding up to more than max_http_buffer_size": ['453-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]', Buffer.alloc(6000), Buffer.alloc(6000)],
    "JSON nested 4000 levels deep": [`42["echo",${"[".repeat(4000)}${"]".repeat(4000)}]`],
    "JSON nested one level beyond the limit of 64": [`42["echo",${"[".repeat(64)}${"]".repeat(64)}]`],
    "invalid JSON": ['42["echo",}'],
    "a lone surrogate escape": ['42["echo","\\ud800"]'],
    "an event name that is not a string": ["42[1,2]"],
    "an unknown Socket.IO packet type": ['47["echo"]'],
    "a CONNECT_ERROR from the client": ['44{"message":"x"}'],
    "an ack id beyond 2^53": ['429007199254740993["echo"]'],
  };
  for (const [name, frames] of Object.entries(cases)) {
    it(`closes a client that sends ${name}`, async () => {
      await expectParseError(frames);
    });
  }

  it("closes a client that sends more attachments than announced (the complete packet before may be answered)", async () => {
    await expectParseError(['451-["echo",{"_placeholder":true,"num":0}]', Buffer.from([1]), Buffer.from([2])], { completeFirst: true });
  });

  it("closes a client that sends invalid UTF-8 in a text frame with 1007", async () => {
    const client = await rawSocket(stack);
    // ws refuses to send invalid UTF-8 as text; write the frame on the socket underneath.
    const payload = Buffer.concat([Buffer.from('42["echo","'), Buffer.from([0xc3, 0x28]), Buffer.from('"]')]);
    const header = Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]);
    client.ws._socket.write(Buffer.concat([header, payload]));
    assert.equal(await client.closed, 1007);
    assert.equal(await disconnectReason(bystander, client.sid), "transport close");
  });

  it("keeps object keys like __proto__ and toString verbatim, in both directions", async () => {
    const client = await rawSocket(stack);
    const packet = '42["echo",{"__proto__":{"polluted":true},"toString":"x","constructor":{"prototype":1},"hasOwnProperty":null}]';
    client.ws.send(packet);
    assert.equal(await client.until((m) => m.startsWith?.('42["echo"')), packet);
    assert.equal(({}).polluted, undefined);
    client.ws.close();
  });

  it("drops events named after reserved or prototype names, and keeps the connection", async () => {
    const client = await rawSocket(stack);
    for (const name of ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener", "__proto__", "toString", "constructor", "hasOwnProperty"]) {
      client.ws.send(`42${JSON.stringify([name, "x"])}`);
    }
    client.ws.send('421["ack","after reserved"]');
    assert.equal(await client.until((m) => m.startsWith?.("431")), '431["after reserved"]');
    assert.equal(client.ws.readyState, WebSocket.OPEN);
    client.ws.close();
  });

  it("refuses each of 1000 undeclared namespaces on one connection, keeping no state, and keeps serving it", async () => {
    const client = await rawSocket(stack);
    for (let i = 0; i < 1000; i++) client.ws.send(`40/ns-${i},`);
    await client.until((m) => m === '44/ns-999,{"message":"Invalid namespace"}');
    assert.equal(client.messages.filter((m) => m.startsWith?.("44/ns-")).length, 1000);
    client.ws.send('421["ack","one connection, still served"]');
    assert.equal(await client.until((m) => m.startsWith?.("431")), '431["one connection, still served"]');
    client.ws.close();
  });

  it("ignores a second CONNECT to a namespace the client is already in", async () => {
    const client = await rawSocket(stack);
    client.ws.send("40");
    client.ws.send('421["ack","once"]');
    assert.equal(await client.until((m) => m.startsWith?.("431")), '431["once"]');
    assert.equal(client.messages.filter((m) => m.startsWith?.("40")).length, 1);
    client.ws.close();
  });
});

describe("hostile Engine.IO requests", () => {
  let stack;
  let bystander;
  before(async () => {
    stack = await startStack();
    bystander = await connect(stack.url, { transports: ["polling"] });
  });
  after(async () => {
    bystander?.close();
    await stack?.stop();
  });

  it("closes a session whose polling body has an unknown packet type, and forgets its sid", async () => {
    const sid = await openPolling(stack);
    const post = await fetch(polling(stack, sid), { method: "POST", body: "9hello" });
    assert.equal(post.status, 400);
    const poll = await fetch(polling(stack, sid));
    assert.equal(poll.status, 400);
    assert.deepEqual(await poll.json(), { code: 1, message: "Session ID unknown" });
    assert.equal(await call(bystander, "ack", "ok"), "ok");
  });

  it("never accepts a sid again once its session closed", async () => {
    const sid = await openPolling(stack);
    assert.equal((await fetch(polling(stack, sid), { method: "POST", body: "1" })).status, 200);
    for (const method of ["GET", "POST"]) {
      const response = await fetch(polling(stack, sid), { method, body: method === "POST" ? "40" : undefined });
      assert.equal(response.status, 400, method);
      assert.deepEqual(await response.json(), { code: 1, message: "Session ID unknown" });
    }
    const ws = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    ws.on("error", () => {});
    const outcome = await new Promise((resolve) => {
      ws.once("unexpected-response", (_, response) => resolve(response.statusCode));
      ws.once("close", () => resolve("closed"));
    });
    assert.ok(outcome === 400 || outcome === "closed", `the upgrade got ${outcome}`);
  });

  it("answers the later of two concurrent GETs with 400 and closes the session, releasing the held one", async () => {
    const sid = await openPolling(stack);
    // Whichever arrives first is held (nothing to send yet); the other ends the session.
    const answers = await Promise.all([0, 1].map(async () => {
      const response = await fetch(polling(stack, sid));
      return { status: response.status, body: await response.text() };
    }));
    answers.sort((a, b) => a.status - b.status);
    assert.equal(answers[0].status, 200);
    assert.match(answers[0].body, /(^|\x1e)1$/);
    assert.equal(answers[1].status, 400);
    assert.equal((await fetch(polling(stack, sid))).status, 400);
  });

  it("closes a polling session whose JSON holds invalid UTF-8", async () => {
    const sid = await openPolling(stack);
    await fetch(polling(stack, sid), { method: "POST", body: "40" });
    const connected = (await (await fetch(polling(stack, sid))).text()).split("\x1e")[0];
    const socketSid = JSON.parse(connected.slice(2)).sid;
    const body = Buffer.concat([Buffer.from('42["echo","'), Buffer.from([0xff, 0xfe]), Buffer.from('"]')]);
    assert.equal((await fetch(polling(stack, sid), { method: "POST", body })).status, 200);
    const poll = await fetch(polling(stack, sid));
    assert.equal(poll.status, 400);
    assert.equal(await disconnectReason(bystander, socketSid), "parse error");
  });

  it("refuses polling requests for a session that upgraded to WebSocket", async () => {
    const socket = await connect(stack.url, { transports: ["polling", "websocket"] });
    while (socket.io.engine.transport.name !== "websocket") await new Promise((resolve) => socket.io.engine.once("upgrade", resolve));
    // The client reports the upgrade once it has sent "5"; an answer over WebSocket shows the
    // server has read it.
    assert.equal(await call(socket, "ack", "upgraded"), "upgraded");
    const sid = socket.io.engine.id;
    const get = await fetch(polling(stack, sid));
    assert.equal(get.status, 400);
    const post = await fetch(polling(stack, sid), { method: "POST", body: '42["echo","smuggled"]' });
    assert.equal(post.status, 400);
    assert.equal(await call(socket, "ack", "still upgraded"), "still upgraded");
    socket.close();
  });

  it("closes a second WebSocket for a session already on WebSocket, keeping the first", async () => {
    const client = await rawSocket(stack);
    const engineSid = JSON.parse(client.messages[0].slice(1)).sid;
    const intruder = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket&sid=${engineSid}`);
    intruder.on("error", () => {});
    await new Promise((resolve) => intruder.once("close", resolve));
    client.ws.send('421["ack","first still works"]');
    assert.equal(await client.until((m) => m.startsWith?.("431")), '431["first still works"]');
    client.ws.close();
  });

  it("lets one of two racing upgrade probes win and closes the other", async () => {
    const sid = await openPolling(stack);
    await fetch(polling(stack, sid), { method: "POST", body: "40" });
    await fetch(polling(stack, sid)); // the CONNECT reply
    const probes = [0, 1].map(() => new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`));
    const outcomes = await Promise.all(probes.map((probe) => new Promise((resolve) => {
      probe.on("error", () => {});
      probe.once("open", () => {
        probe.send("2probe");
        probe.once("message", (data) => resolve(data.toString()));
      });
      probe.once("close", () => resolve("closed"));
    })));
    const winner = probes[outcomes.indexOf("3probe")];
    assert.deepEqual([...outcomes].sort(), ["3probe", "closed"]);
    winner.send("5");
    winner.send('421["ack","upgraded"]');
    const answer = await new Promise((resolve) => winner.on("message", (data) => {
      if (data.toString().startsWith("431")) resolve(data.toString());
    }));
    assert.equal(answer, '431["upgraded"]');
    winner.close();
  });

  it("drops an upgrade probe that sends 5 without 2probe, and keeps the session on polling", async () => {
    const sid = await openPolling(stack);
    await fetch(polling(stack, sid), { method: "POST", body: "40" });
    await fetch(polling(stack, sid));
    const probe = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    probe.on("error", () => {});
    await new Promise((resolve) => probe.once("open", resolve));
    probe.send("5");
    await new Promise((resolve) => probe.once("close", resolve));
    await fetch(polling(stack, sid), { method: "POST", body: '421["ack","polling"]' });
    assert.match(await (await fetch(polling(stack, sid))).text(), /431\["polling"\]/);
  });

  it("closes a session flooding pings without reading the pongs, once its queue is full", async () => {
    const sid = await openPolling(stack);
    const body = Array.from({ length: 1500 }, () => "2").join("\x1e");
    assert.equal((await fetch(polling(stack, sid), { method: "POST", body })).status, 200);
    const poll = await fetch(polling(stack, sid));
    assert.equal(poll.status, 400);
    assert.deepEqual(await poll.json(), { code: 1, message: "Session ID unknown" });
    assert.equal(await call(bystander, "ack", "unaffected"), "unaffected");
  });

  it("answers a pong for each ping it can queue", async () => {
    const sid = await openPolling(stack);
    const body = Array.from({ length: 100 }, (_, i) => `2${i}`).join("\x1e");
    await fetch(polling(stack, sid), { method: "POST", body });
    const pongs = (await (await fetch(polling(stack, sid))).text()).split("\x1e");
    assert.deepEqual(pongs, Array.from({ length: 100 }, (_, i) => `3${i}`));
  });

  it("answers 431 to a header flood and to a 20 kB query, and serves the next client", async () => {
    const headers = {};
    for (let i = 0; i < 200; i++) headers[`x-flood-${i}`] = "v".repeat(100);
    const flood = await rawRequest(stack.port, "/socket.io/?EIO=4&transport=polling", headers);
    assert.match(flood, /^HTTP\/1\.1 431 /);
    const longQuery = await rawRequest(stack.port, `/socket.io/?EIO=4&transport=polling&q=${"a".repeat(20000)}`);
    assert.match(longQuery, /^HTTP\/1\.1 431 /);
    assert.equal((await fetch(polling(stack))).status, 200);
  });

  it("accepts a query of 1000 small parameters within the header limit", async () => {
    const params = Array.from({ length: 1000 }, (_, i) => `p${i}=${i}`).join("&");
    const response = await fetch(`${polling(stack)}&${params}`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^0\{"sid"/);
  });
});

// Sends one HTTP/1.1 request on a raw connection and resolves with the whole answer.
function rawRequest(port, target, headers = {}) {
  return new Promise((resolve, reject) => {
    const lines = [`GET ${target} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    const socket = net.connect(port, "127.0.0.1", () => socket.write(lines.join("\r\n") + "\r\n\r\n"));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk));
    socket.on("close", () => resolve(answer));
    socket.on("error", reject);
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer within 5 s")));
  });
}

describe("Origin checks on every transport", () => {
  let stack;
  before(async () => {
    stack = await startStack(["--cors_allowed_origins=https://app.example"], { backend: false });
  });
  after(() => stack?.stop());

  const refused = [
    "null",
    "https://app.example.evil.example",
    "https://evil-app.example",
    "https://app.example:443",
    "https://app.example/",
    "http://app.example",
    "HTTPS://APP.EXAMPLE",
    "https://app.example@evil.example",
    "https://xn--app-exmple-2ji.example",
  ];
  for (const origin of refused) {
    it(`refuses Origin ${JSON.stringify(origin)} on polling and on the WebSocket upgrade`, async () => {
      const response = await fetch(polling(stack), { headers: { origin } });
      assert.equal(response.status, 403);
      assert.deepEqual(await response.json(), { code: 4, message: "Forbidden" });
      const ws = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket`, { origin });
      ws.on("error", () => {});
      const status = await new Promise((resolve) => {
        ws.once("unexpected-response", (_, res) => resolve(res.statusCode));
        ws.once("open", () => resolve(101));
      });
      assert.equal(status, 403);
    });
  }

  it("accepts the listed Origin on both transports", async () => {
    const response = await fetch(polling(stack), { headers: { origin: "https://app.example" } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("access-control-allow-origin"), "https://app.example");
    const ws = new WebSocket(`ws://127.0.0.1:${stack.port}/socket.io/?EIO=4&transport=websocket`, { origin: "https://app.example" });
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("unexpected-response", (_, res) => reject(new Error(`status ${res.statusCode}`)));
    });
    ws.close();
  });
});

describe("with max_outbound_bytes=100000", () => {
  let stack;
  let bystander;
  before(async () => {
    stack = await startStack(["--max_outbound_bytes=100000"]);
    bystander = await connect(stack.url, { transports: ["websocket"] });
  });
  after(async () => {
    bystander?.close();
    await stack?.stop();
  });

  // A polling client connected to "/" that does not poll: returns {sid, socketSid}.
  async function idlePollingClient() {
    const sid = await openPolling(stack);
    await fetch(polling(stack, sid), { method: "POST", body: "40" });
    const connected = (await (await fetch(polling(stack, sid))).text()).split("\x1e")[0];
    return { sid, socketSid: JSON.parse(connected.slice(2)).sid };
  }
  const echo = (stack, sid, i) =>
    fetch(polling(stack, sid), { method: "POST", body: `42["echo","${String(i).repeat(30000)}"]` });

  it("delivers what a client that does not read has queued below the limit", async () => {
    const { sid } = await idlePollingClient();
    for (let i = 1; i <= 2; i++) await echo(stack, sid, i);
    let body = "";
    while (!body.includes(`"${"2".repeat(30000)}"`)) body += await (await fetch(polling(stack, sid))).text();
    assert.ok(body.includes(`"${"1".repeat(30000)}"`));
  });

  it("closes a client that lets more bytes than that pile up, and keeps serving others", async () => {
    const { sid, socketSid } = await idlePollingClient();
    for (let i = 1; i <= 6; i++) await echo(stack, sid, i);
    assert.equal(await disconnectReason(bystander, socketSid), "transport error");
    const poll = await fetch(polling(stack, sid));
    assert.equal(poll.status, 400);
    assert.equal(await call(bystander, "ack", "unaffected"), "unaffected");
  });
});

describe("hostile Engine.IO v3 polling bodies (with --allow_eio3)", () => {
  let stack;
  let bystander;
  before(async () => {
    stack = await startStack(["--allow_eio3=true"]);
    bystander = await connect(stack.url, { transports: ["polling"] });
  });
  after(async () => {
    bystander?.close();
    await stack?.stop();
  });

  const v3 = (sid = "") => `${stack.url}/socket.io/?EIO=3&transport=polling${sid ? `&sid=${sid}` : ""}`;
  const cases = {
    "a length longer than the body": "9:4hello",
    "a length of 20 digits": "99999999999999999999:4",
    "a length that is not a number": "x:4",
    "a zero length": "0:",
    "trailing bytes after the last packet": "3:4hi7",
    "a base64 packet that is not a message": "4:b2AA",
    "invalid base64": "5:b4@@@",
  };
  for (const [name, body] of Object.entries(cases)) {
    it(`answers 400 to ${name} and closes the session, serving others`, async () => {
      const opened = await (await fetch(v3())).text();
      const sid = /"sid":"([^"]+)"/.exec(opened)[1];
      const post = await fetch(v3(sid), { method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8" } });
      assert.equal(post.status, 400);
      assert.equal((await fetch(v3(sid))).status, 400);
      assert.equal(await call(bystander, "ack", name), name);
    });
  }
});
