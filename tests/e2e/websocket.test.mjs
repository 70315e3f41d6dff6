// WebSocket framing as RFC 6455 requires, in cases modelled on the Autobahn|Testsuite sections
// 1-7 and 9 (the suite itself needs Python 2 or Docker). A raw TCP client sends hand-made frames
// to the sidecar's raw Engine.IO echo endpoint, which answers each message "4<text>" with the
// same message; every case checks what came back, or the close code the connection ended with,
// and that the server still serves a new connection afterwards.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { startStack } from "./harness.mjs";

const MAX_MESSAGE = 100_000;

// Opcodes.
const CONTINUATION = 0x0;
const TEXT = 0x1;
const BINARY = 0x2;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

// A masked client frame. `fin` false leaves the message open; `rsv` sets RSV bits (0x40, 0x20,
// 0x10); `length` forges the length field.
function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0 } = {}) {
  const body = Buffer.from(payload);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  let header;
  if (body.length < 126) {
    header = Buffer.from([(fin ? 0x80 : 0) | rsv | opcode, 0x80 | body.length]);
  } else if (body.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = (fin ? 0x80 : 0) | rsv | opcode;
    header[1] = 0x80 | 126;
    header.writeUInt16BE(body.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | rsv | opcode;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(body.length), 2);
  }
  const masked = Buffer.alloc(body.length);
  for (let i = 0; i < body.length; i++) masked[i] = body[i] ^ key[i % 4];
  return Buffer.concat([header, key, masked]);
}

const text = (data, options) => frame(TEXT, Buffer.from(data), options);
const closeFrame = (code, reason = Buffer.alloc(0)) => {
  if (code === undefined) return frame(CLOSE);
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code);
  return frame(CLOSE, Buffer.concat([payload, Buffer.from(reason)]));
};

// A WebSocket client on a raw TCP connection, reading the server's frames one by one.
class RawWebSocket {
  static open(port, path = "/engine.io/?EIO=4&transport=websocket", extraHeaders = "") {
    return new Promise((resolve, reject) => {
      const ws = new RawWebSocket();
      ws.socket = net.connect(port, "127.0.0.1", () =>
        ws.socket.write(
          `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
        ),
      );
      ws.socket.on("data", (chunk) => {
        ws.received = Buffer.concat([ws.received, chunk]);
        if (ws.response === undefined) {
          const end = ws.received.indexOf("\r\n\r\n");
          if (end < 0) return;
          ws.response = ws.received.subarray(0, end).toString();
          ws.received = ws.received.subarray(end + 4);
          if (!ws.response.startsWith("HTTP/1.1 101")) return reject(new Error(ws.response));
          resolve(ws);
        }
        ws.parse();
      });
      ws.socket.on("close", () => {
        ws.ended = true;
        ws.wake();
      });
      ws.socket.on("error", () => {});
      ws.socket.setTimeout(10000, () => ws.socket.destroy());
    });
  }

  constructor() {
    this.received = Buffer.alloc(0);
    this.frames = [];
    this.waiters = [];
    this.ended = false;
  }

  parse() {
    for (;;) {
      if (this.received.length < 2) return;
      const fin = (this.received[0] & 0x80) !== 0;
      const opcode = this.received[0] & 0x0f;
      let length = this.received[1] & 0x7f;
      let start = 2;
      if (length === 126) {
        if (this.received.length < 4) return;
        length = this.received.readUInt16BE(2);
        start = 4;
      } else if (length === 127) {
        if (this.received.length < 10) return;
        length = Number(this.received.readBigUInt64BE(2));
        start = 10;
      }
      if (this.received.length < start + length) return;
      this.frames.push({ fin, opcode, payload: this.received.subarray(start, start + length) });
      this.received = this.received.subarray(start + length);
      this.wake();
    }
  }

  wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(...frames) {
    this.socket.write(Buffer.concat(frames));
  }

  // The next frame from the server, or null once the connection has ended without one.
  async next() {
    while (this.frames.length === 0 && !this.ended) await new Promise((resolve) => this.waiters.push(resolve));
    return this.frames.shift() ?? null;
  }

  // The next data frame, skipping Engine.IO pings.
  async message() {
    for (;;) {
      const received = await this.next();
      if (received === null || received.opcode !== TEXT || received.payload.toString() !== "2") return received;
    }
  }

  // Resolves once the TCP connection has ended, with the code of the server's close frame
  // (null for a close frame without one, undefined for no close frame at all).
  async closeCode() {
    for (;;) {
      const received = await this.next();
      if (received === null) return undefined;
      if (received.opcode === CLOSE) {
        while (!this.ended) await new Promise((resolve) => this.waiters.push(resolve));
        return received.payload.length >= 2 ? received.payload.readUInt16BE(0) : null;
      }
    }
  }

  destroy() {
    this.socket.destroy();
  }
}

describe("WebSocket framing (Autobahn sections 1-7 and 9)", () => {
  let stack;
  const sockets = [];
  // A raw WebSocket on the echo endpoint, past Engine.IO's open packet.
  async function open() {
    const ws = await RawWebSocket.open(stack.port);
    sockets.push(ws);
    const opening = await ws.next();
    assert.equal(opening.opcode, TEXT);
    assert.match(opening.payload.toString(), /^0\{"sid":"/);
    return ws;
  }
  // Sends the frames, expects the connection to end with `code`, then checks the server still
  // echoes on a new connection.
  async function expectClose(frames, code) {
    const ws = await open();
    ws.send(...frames);
    assert.equal(await ws.closeCode(), code);
    const other = await open();
    other.send(text("4still serving"));
    assert.equal((await other.message()).payload.toString(), "4still serving");
  }
  async function expectEcho(frames, expected, opcode = TEXT) {
    const ws = await open();
    ws.send(...frames);
    for (const payload of [].concat(expected)) {
      const received = await ws.message();
      assert.ok(received, "the connection ended instead of echoing");
      assert.equal(received.opcode, opcode);
      assert.equal(received.fin, true);
      assert.deepEqual(Buffer.from(received.payload), Buffer.from(payload));
    }
    return ws;
  }

  before(async () => {
    stack = await startStack(["--raw_engineio=true", `--max_http_buffer_size=${MAX_MESSAGE}`], { backend: false });
  });
  after(async () => {
    for (const ws of sockets) ws.destroy();
    await stack?.stop();
  });

  describe("1: text and binary messages of every length encoding", () => {
    for (const length of [0, 1, 124, 125, 126, 127, 128, 65535, 65536, MAX_MESSAGE - 1]) {
      it(`echoes a ${length + 1}-byte text message and a ${length}-byte binary message`, async () => {
        const payload = "4" + "*".repeat(length);
        await expectEcho([text(payload)], payload);
        const binary = Buffer.alloc(length, 0xfe);
        await expectEcho([frame(BINARY, binary)], binary, BINARY);
      });
    }
  });

  describe("2: pings and pongs", () => {
    it("answers a ping without payload with a pong without payload", async () => {
      const ws = await open();
      ws.send(frame(PING));
      const pong = await ws.message();
      assert.equal(pong.opcode, PONG);
      assert.equal(pong.payload.length, 0);
    });

    it("answers a ping with 125 bytes of binary payload with a pong carrying the same bytes", async () => {
      const payload = Buffer.alloc(125).map((_, i) => 255 - i);
      const ws = await open();
      ws.send(frame(PING, payload));
      const pong = await ws.message();
      assert.equal(pong.opcode, PONG);
      assert.deepEqual(Buffer.from(pong.payload), payload);
    });

    it("answers ten pings with ten pongs, in order", async () => {
      const ws = await open();
      ws.send(...Array.from({ length: 10 }, (_, i) => frame(PING, `ping ${i}`)));
      for (let i = 0; i < 10; i++) {
        const pong = await ws.message();
        assert.equal(pong.opcode, PONG);
        assert.equal(pong.payload.toString(), `ping ${i}`);
      }
    });

    it("ignores an unsolicited pong, and keeps echoing", async () => {
      await expectEcho([frame(PONG, "unsolicited"), text("4after pong")], "4after pong");
    });

    it("closes with 1002 on a ping with 126 bytes of payload (control frames carry at most 125)", async () => {
      await expectClose([frame(PING, Buffer.alloc(126, 0x61))], 1002);
    });
  });

  describe("3: reserved bits", () => {
    for (const [name, rsv] of [["RSV1", 0x40], ["RSV2", 0x20], ["RSV3", 0x10], ["RSV1+RSV2+RSV3", 0x70]]) {
      it(`closes with 1002 on a text frame with ${name} set`, async () => {
        await expectClose([text("4x", { rsv })], 1002);
      });
    }
    it("closes with 1002 on a ping with RSV2 set, after echoing the message before it", async () => {
      const ws = await expectEcho([text("4first"), frame(PING, "x", { rsv: 0x20 })], "4first");
      assert.equal(await ws.closeCode(), 1002);
    });
  });

  describe("4: opcodes", () => {
    for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      it(`closes with 1002 on reserved opcode ${opcode}`, async () => {
        await expectClose([frame(opcode, "reserved")], 1002);
      });
    }
  });

  describe("5: fragmentation", () => {
    it("echoes a text message sent in two fragments as one message", async () => {
      await expectEcho([text("4frag", { fin: false }), frame(CONTINUATION, "mented")], "4fragmented");
    });

    it("echoes a text message sent in 1000 one-byte fragments", async () => {
      const payload = "4" + "f".repeat(999);
      const fragments = [...payload].map((char, i) =>
        frame(i === 0 ? TEXT : CONTINUATION, char, { fin: i === payload.length - 1 }),
      );
      await expectEcho(fragments, payload);
    });

    it("echoes a message whose fragments include empty ones", async () => {
      await expectEcho(
        [text("", { fin: false }), frame(CONTINUATION, "4a", { fin: false }), frame(CONTINUATION, "", { fin: false }), frame(CONTINUATION, "")],
        "4a",
      );
    });

    it("answers a ping sent between fragments first, then echoes the message", async () => {
      const ws = await open();
      ws.send(text("4one", { fin: false }), frame(PING, "in between"), frame(CONTINUATION, " two"));
      const pong = await ws.message();
      assert.equal(pong.opcode, PONG);
      assert.equal(pong.payload.toString(), "in between");
      assert.equal((await ws.message()).payload.toString(), "4one two");
    });

    it("ignores a pong sent between fragments", async () => {
      await expectEcho([text("4a", { fin: false }), frame(PONG, "x"), frame(CONTINUATION, "b")], "4ab");
    });

    it("closes with 1002 on a fragmented ping", async () => {
      await expectClose([frame(PING, "part", { fin: false }), frame(CONTINUATION, "rest")], 1002);
    });

    it("closes with 1002 on a continuation frame that continues nothing", async () => {
      await expectClose([frame(CONTINUATION, "4orphan")], 1002);
    });

    it("closes with 1002 on a new text frame while a message is still open", async () => {
      await expectClose([text("4open", { fin: false }), text("4again")], 1002);
    });

    it("closes with 1002 on a binary frame while a text message is still open", async () => {
      await expectClose([text("4open", { fin: false }), frame(BINARY, "x")], 1002);
    });
  });

  describe("6: UTF-8 in text messages", () => {
    const valid = {
      "Greek (2-byte sequences)": "κόσμε",
      "a 3-byte sequence": "€",
      "a 4-byte sequence": "😀",
      "the largest code point": "\u{10ffff}",
      "the last code point before the surrogates": "\ud7ff",
    };
    for (const [name, value] of Object.entries(valid)) {
      it(`echoes ${name}`, async () => {
        await expectEcho([text("4" + value)], "4" + value);
      });
    }

    it("echoes a 4-byte sequence split across fragments", async () => {
      const bytes = Buffer.from("4😀");
      await expectEcho([text(bytes.subarray(0, 3), { fin: false }), frame(CONTINUATION, bytes.subarray(3))], bytes);
    });

    const invalid = {
      "a lone 0xff byte": [0xff],
      "an overlong encoding of '/'": [0xc0, 0xaf],
      "a UTF-16 surrogate": [0xed, 0xa0, 0x80],
      "a code point above U+10FFFF": [0xf4, 0x90, 0x80, 0x80],
      "a lone continuation byte": [0x80],
      "a sequence cut short at the end of the message": [0xe2, 0x82],
    };
    for (const [name, bytes] of Object.entries(invalid)) {
      it(`closes with 1007 on ${name}`, async () => {
        await expectClose([text(Buffer.concat([Buffer.from("4ok"), Buffer.from(bytes)]))], 1007);
      });
    }

    it("closes with 1007 on invalid UTF-8 in a later fragment, before the message completes", async () => {
      await expectClose([text("4valid", { fin: false }), frame(CONTINUATION, Buffer.from([0xce, 0xba, 0xff]), { fin: false })], 1007);
    });

    it("closes with 1007 when fragments join into an invalid sequence", async () => {
      await expectClose([text(Buffer.from([0x34, 0xe2]), { fin: false }), frame(CONTINUATION, Buffer.from([0x28, 0xa1]))], 1007);
    });

    it("passes invalid UTF-8 in a binary message through untouched", async () => {
      const bytes = Buffer.from([0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80]);
      await expectEcho([frame(BINARY, bytes)], bytes, BINARY);
    });
  });

  describe("7: closing", () => {
    it("answers a close frame without payload with 1000 and ends the connection", async () => {
      await expectClose([closeFrame()], 1000);
    });

    it("echoes the close code of a close with a reason, and ignores frames after the close", async () => {
      const ws = await open();
      ws.send(closeFrame(1000, "bye"), text("4after close"));
      const received = [];
      for (let next = await ws.next(); next !== null; next = await ws.next()) received.push(next);
      assert.deepEqual(received.map((f) => f.opcode), [CLOSE]);
      assert.equal(received[0].payload.readUInt16BE(0), 1000);
    });

    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]) {
      it(`echoes the valid close code ${code}`, async () => {
        await expectClose([closeFrame(code)], code);
      });
    }

    for (const code of [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 1100, 2000, 2999]) {
      it(`closes with 1002 on the invalid close code ${code}`, async () => {
        await expectClose([closeFrame(code)], 1002);
      });
    }

    // RFC 6455 defines nothing above 4999; Autobahn's 7.13 cases only report what happens.
    for (const code of [5000, 65535]) {
      it(`echoes the undefined close code ${code}, as Beast does (Autobahn 7.13, informational)`, async () => {
        await expectClose([closeFrame(code)], code);
      });
    }

    it("closes with 1002 on a close frame with a 1-byte payload", async () => {
      await expectClose([frame(CLOSE, Buffer.from([0x03]))], 1002);
    });

    it("closes with 1002 on a close reason that is not valid UTF-8", async () => {
      await expectClose([closeFrame(1000, Buffer.from([0xce, 0xba, 0xff]))], 1002);
    });

    it("closes with 1002 on a close frame with 124 bytes of payload split over fragments", async () => {
      await expectClose([frame(CLOSE, Buffer.alloc(10), { fin: false }), frame(CONTINUATION, Buffer.alloc(114))], 1002);
    });
  });

  describe("9: limits and bulk", () => {
    it(`echoes a ${MAX_MESSAGE}-byte message, the most max_http_buffer_size allows`, async () => {
      const payload = "4" + "m".repeat(MAX_MESSAGE - 1);
      await expectEcho([text(payload)], payload);
    });

    it("closes with 1009 on a message one byte over max_http_buffer_size", async () => {
      await expectClose([text("4" + "m".repeat(MAX_MESSAGE))], 1009);
    });

    it("closes with 1009 on fragments that add up to more than max_http_buffer_size", async () => {
      const fragment = "x".repeat(MAX_MESSAGE / 4);
      await expectClose(
        [text("4", { fin: false }), ...Array.from({ length: 4 }, () => frame(CONTINUATION, fragment, { fin: false })), frame(CONTINUATION, "")],
        1009,
      );
    });

    it("echoes 240 messages of 50 kB to a client that reads only once it sent them all, each whole and in order", async () => {
      // 12 MB of echoes outgrow the kernel's socket buffers while the client does not read, so
      // the server queues them and later gathers them into writes that end mid-frame.
      const ws = await open();
      ws.socket.pause();
      const payloads = Array.from({ length: 240 }, (_, i) => `4${i}:`.padEnd(50_000, String.fromCharCode(97 + (i % 26))));
      // Resume once the kernel took every frame: the server has read them while the client did not.
      await new Promise((resolve) => ws.socket.write(Buffer.concat(payloads.map((payload) => text(payload))), resolve));
      ws.socket.resume();
      for (const payload of payloads) {
        const received = await ws.message();
        assert.ok(received, "the connection ended before every echo arrived");
        assert.equal(received.opcode, TEXT);
        assert.equal(received.payload.toString(), payload);
      }
    });

    it("echoes 500 messages sent in one burst, each once and in order", async () => {
      const payloads = Array.from({ length: 500 }, (_, i) => `4message ${i}`);
      await expectEcho(payloads.map((p) => text(p)), payloads);
    });
  });

  it("refuses an upgrade without a Sec-WebSocket-Key with 400, and another protocol version with 426", async () => {
    const handshake = (headers) =>
      new Promise((resolve) => {
        const socket = net.connect(stack.port, "127.0.0.1", () =>
          socket.write(
            `GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
              `Connection: Upgrade\r\n${headers}\r\n`,
          ),
        );
        let received = "";
        socket.on("data", (chunk) => (received += chunk));
        socket.on("close", () => resolve(received));
        socket.on("error", () => {});
      });
    assert.match(await handshake("Sec-WebSocket-Version: 13\r\n"), /^HTTP\/1\.1 400 /);
    const old = await handshake("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n");
    assert.match(old, /^HTTP\/1\.1 426 /);
    assert.match(old, /\r\nSec-WebSocket-Version: 13\r\n/i);
    const ws = await RawWebSocket.open(stack.port);
    sockets.push(ws);
    assert.match(ws.response, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=(\r\n|$)/i);
  });

  it("does not negotiate permessage-deflate when a client offers it", async () => {
    const ws = await RawWebSocket.open(stack.port, undefined, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
    sockets.push(ws);
    assert.doesNotMatch(ws.response, /sec-websocket-extensions/i);
    // A compressed frame (RSV1) is then a protocol error.
    await ws.next();
    ws.send(text("4x", { rsv: 0x40 }));
    assert.equal(await ws.closeCode(), 1002);
  });
});
