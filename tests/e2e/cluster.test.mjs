// A cluster of three sidecars sharing a real redis-server, each with its own
// test backend, and real socket.io-client connections spread over them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { call, connect, next, record, startStack, stopAll } from "./harness.mjs";
import { adminClient, bytes, grpc, haveRedis, json, startRedis, startRoundRobinProxy, text } from "./cluster.mjs";

const skip = haveRedis() ? false : "redis-server is not installed (scripts/setup.sh installs it)";

// Waits until `check()` stops throwing, or rethrows its last error.
async function eventually(check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

// Resolves once every socket saw `event` `count` times, then checks nobody saw it more often.
async function expectExactly(seen, count, others = []) {
  await eventually(() => {
    for (const [name, events] of Object.entries(seen)) assert.equal(events.length, count, `${name} saw ${events.length}`);
  });
  await sleep(300);
  for (const [name, events] of Object.entries(seen)) assert.equal(events.length, count, `${name} saw ${events.length} in the end`);
  for (const [name, events] of Object.entries(others)) assert.equal(events.length, 0, `${name} should have seen nothing`);
}

describe("a cluster of three sidecars over Redis", { skip }, () => {
  let redis;
  let nodes;
  let clients;
  let admins;

  before(async () => {
    redis = await startRedis();
    nodes = [];
    for (let i = 0; i < 3; i++) nodes.push(await startStack([`--redis_url=${redis.url}`, "--channel=e2e", "--ping_interval=1", "--ping_timeout=1"]));
    admins = nodes.map((node) => adminClient(node.grpcAddress));
    // Every node must know the others before clients are spread over them.
    await eventually(async () => assert.equal((await admins[0].Stats()).nodes.length, 3));
    clients = {};
    for (let i = 0; i < 6; i++) {
      const socket = await connect(nodes[i % 3].url, { transports: ["websocket"] });
      socket.on("question", (value, ack) => ack(`c${i} got ${value}`));
      clients[`c${i}`] = socket;
    }
  });

  after(async () => {
    for (const socket of Object.values(clients ?? {})) socket.close();
    for (const admin of admins ?? []) admin.close();
    await stopAll([...(nodes ?? []), redis]);
  });

  test("a backend's broadcast reaches every client on every replica exactly once", async () => {
    const seen = Object.fromEntries(Object.entries(clients).map(([name, socket]) => [name, record(socket, "broadcast")]));
    clients.c0.emit("broadcast", "hello all");
    await expectExactly(seen, 1);
    for (const events of Object.values(seen)) assert.deepEqual(events[0], ["hello all"]);
  });

  test("a room emit reaches the room's members on every replica, and no one else", async () => {
    for (const name of ["c0", "c4", "c5"]) await call(clients[name], "join", "cluster-room");
    const seen = Object.fromEntries(["c0", "c4", "c5"].map((name) => [name, record(clients[name], "room_message")]));
    const others = Object.fromEntries(["c1", "c2", "c3"].map((name) => [name, record(clients[name], "room_message")]));
    clients.c1.emit("to_room", "cluster-room", "for the room");
    await expectExactly(seen, 1, others);
    for (const name of ["c0", "c4", "c5"]) await call(clients[name], "leave", "cluster-room");
  });

  test("an Admin emit on one replica reaches clients on all of them", async () => {
    const seen = Object.fromEntries(Object.entries(clients).map(([name, socket]) => [name, record(socket, "news")]));
    const response = await admins[2].Emit({ namespace: "/", event: bytes("news"), args: json(["from a job", 7]) });
    assert.equal(response.socket_count, 6);
    await expectExactly(seen, 1);
    assert.deepEqual(seen.c0[0], ["from a job", 7]);
  });

  test("an Admin emit to sids on other replicas reaches exactly those sockets", async () => {
    const seen = { c1: record(clients.c1, "direct"), c5: record(clients.c5, "direct") };
    const others = Object.fromEntries(["c0", "c2", "c3", "c4"].map((name) => [name, record(clients[name], "direct")]));
    const response = await admins[0].Emit({
      event: bytes("direct"),
      args: json(["just you"]),
      target: { sids: [clients.c1.id, clients.c5.id] },
    });
    assert.equal(response.socket_count, 2);
    await expectExactly(seen, 1, others);
  });

  test("an Admin emit waiting for acks gathers every client's answer across replicas", async () => {
    const response = await admins[1].Emit({
      event: bytes("question"),
      args: json(["q1"]),
      want_ack: true,
      ack_timeout_ms: 5000,
    });
    assert.equal(response.socket_count, 6);
    assert.deepEqual(response.ack_timed_out_sids, []);
    const answers = Object.fromEntries(response.acks.map((ack) => [ack.sid, JSON.parse(text(ack.args.json))]));
    for (const [name, socket] of Object.entries(clients)) assert.deepEqual(answers[socket.id], [`${name} got q1`]);
  });

  test("a client that does not answer is reported as timed out, the others' acks still arrive", async () => {
    const silent = await connect(nodes[1].url, { transports: ["websocket"] });
    silent.on("question", () => {});
    try {
      const response = await admins[0].Emit({ event: bytes("question"), args: json(["q2"]), want_ack: true, ack_timeout_ms: 500 });
      assert.equal(response.socket_count, 7);
      assert.equal(response.acks.length, 6);
      assert.deepEqual(response.ack_timed_out_sids, [silent.id]);
    } finally {
      silent.close();
    }
  });

  test("ListSockets, GetSocket, ListRooms and Stats see the whole cluster from any replica", async () => {
    await call(clients.c2, "join", "listed");
    await call(clients.c3, "join", "listed");
    for (const admin of admins) {
      const { sockets } = await admin.ListSockets({ namespace: "/" });
      assert.deepEqual(sockets.map((s) => s.sid).sort(), Object.values(clients).map((s) => s.id).sort());
      const listed = await admin.ListSockets({ target: { rooms: [bytes("listed")] } });
      assert.deepEqual(listed.sockets.map((s) => s.sid).sort(), [clients.c2.id, clients.c3.id].sort());
      assert.ok(listed.sockets[0].rooms.map(text).includes("listed"));
      assert.equal(listed.sockets[0].handshake.transport, "websocket");
      const rooms = await admin.ListRooms({});
      assert.deepEqual(rooms.rooms.map((room) => [text(room.name), room.socket_count]), [["listed", 2]]);
    }
    const { socket } = await admins[0].GetSocket({ sid: clients.c2.id });
    assert.equal(socket.sid, clients.c2.id);
    assert.deepEqual(socket.rooms.map(text).sort(), [clients.c2.id, "listed"].sort());
    const stats = await admins[1].Stats();
    assert.equal(stats.nodes.length, 3);
    assert.equal(stats.socket_count, 6);
    assert.ok(stats.nodes.every((node) => node.redis_state === "connected" && node.backend_count === 1));
    await call(clients.c2, "leave", "listed");
    await call(clients.c3, "leave", "listed");
  });

  test("JoinRooms, LeaveRooms and CloseRoom act on sockets of every replica", async () => {
    const joined = await admins[0].JoinRooms({ target: { sids: [clients.c1.id, clients.c2.id, clients.c3.id] }, rooms: [bytes("ops")] });
    assert.equal(joined.socket_count, 3);
    // Everyone in "ops" also joins "ops2": selection by room works across replicas.
    assert.equal((await admins[1].JoinRooms({ target: { rooms: [bytes("ops")] }, rooms: [bytes("ops2")] })).socket_count, 3);
    assert.equal((await admins[2].LeaveRooms({ target: { sids: [clients.c3.id] }, rooms: [bytes("ops"), bytes("ops2")] })).socket_count, 1);
    const seen = { c1: record(clients.c1, "room_message"), c2: record(clients.c2, "room_message") };
    clients.c0.emit("to_room", "ops2", "ops only");
    await expectExactly(seen, 1, { c3: record(clients.c3, "room_message") });
    assert.equal((await admins[0].CloseRoom({ room: bytes("ops") })).socket_count, 2);
    assert.equal((await admins[0].CloseRoom({ room: bytes("ops2") })).socket_count, 2);
    assert.deepEqual((await admins[1].ListRooms({})).rooms, []);
  });

  test("DisconnectSockets disconnects a socket on another replica", async () => {
    const victim = await connect(nodes[2].url, { transports: ["websocket"] });
    const sid = victim.id;
    const reason = next(victim, "disconnect");
    const response = await admins[0].DisconnectSockets({ target: { sids: [sid] } });
    assert.equal(response.socket_count, 1);
    assert.equal((await reason)[0], "io server disconnect");
    await assert.rejects(admins[1].GetSocket({ sid }), (error) => error.code === grpc.status.NOT_FOUND);
  });

  test("polling clients behind a round-robin proxy without sticky sessions stay connected", async () => {
    const proxy = await startRoundRobinProxy(nodes.map((node) => node.port));
    const polling = [];
    try {
      for (let i = 0; i < 4; i++) polling.push(await connect(proxy.url, { transports: ["polling"] }));
      const upgraded = await connect(proxy.url);
      await eventually(() => assert.equal(upgraded.io.engine.transport.name, "websocket"));
      polling.push(upgraded);
      const dropped = polling.map((socket) => record(socket, "disconnect"));
      // Several ping intervals: pings, pongs and long polls all cross the proxy.
      for (let round = 0; round < 6; round++) {
        for (const socket of polling) assert.deepEqual(await call(socket, "ack", [round, "x"]), [round, "x"]);
        await sleep(500);
      }
      assert.deepEqual(dropped.flat(), []);
      // A room spanning the replicas that own these sessions.
      for (const socket of polling) await call(socket, "join", "behind-proxy");
      const seen = Object.fromEntries(polling.map((socket, i) => [`p${i}`, record(socket, "room_message")]));
      polling[0].emit("to_room", "behind-proxy", "via proxy");
      await expectExactly(seen, 1);
      for (const socket of polling) assert.ok(socket.connected);
    } finally {
      for (const socket of polling) socket.close();
      await proxy.stop();
    }
  });

  test("when Redis dies, each replica keeps serving its own clients; the cluster heals when it returns", async () => {
    const seen = Object.fromEntries(Object.entries(clients).map(([name, socket]) => [name, record(socket, "broadcast")]));
    const local = { c0: seen.c0, c3: seen.c3 };
    await redis.kill();
    try {
      // Local delivery: c0 and c3 share node 0.
      clients.c0.emit("broadcast", "during outage");
      await eventually(() => {
        assert.equal(local.c0.length, 1);
        assert.equal(local.c3.length, 1);
      });
      assert.equal(await call(clients.c1, "ack", "still here"), "still here");
      await eventually(async () => {
        const stats = await admins[0].Stats();
        assert.equal(stats.nodes.length, 1);
        assert.equal(stats.nodes[0].redis_state, "disconnected");
      });
      const readiness = await fetch(`${nodes[0].opsUrl}/readyz`);
      assert.equal(readiness.status, 503);
      assert.match(await readiness.text(), /Redis is unreachable/);
      const metrics = await (await fetch(`${nodes[0].opsUrl}/metrics`)).text();
      assert.match(metrics, /^socketio_sidecar_redis_connected 0$/m);
    } finally {
      await redis.restart();
    }
    await eventually(async () => assert.equal((await admins[0].Stats()).nodes.length, 3), 15000);
    assert.equal((await fetch(`${nodes[0].opsUrl}/readyz`)).status, 200);
    // The other replicas get what node 0 kept in its outbox, then what follows.
    await expectExactly(seen, 1);
    clients.c4.emit("broadcast", "healed");
    await expectExactly(seen, 2);
    for (const events of Object.values(seen)) assert.deepEqual(events, [["during outage"], ["healed"]]);
    for (const socket of Object.values(clients)) assert.ok(socket.connected);
  });
});

describe("Redis SIGKILLed in the middle of a stream of broadcasts", { skip }, () => {
  test("local clients get every message in order; the other replica gets the rest once Redis is back", async () => {
    const redis = await startRedis();
    const nodes = [];
    const sockets = [];
    try {
      for (let i = 0; i < 2; i++) nodes.push(await startStack([`--redis_url=${redis.url}`, "--channel=midstream"]));
      const admin = adminClient(nodes[0].grpcAddress);
      await eventually(async () => assert.equal((await admin.Stats()).nodes.length, 2));
      // sender and local share node 0; remote is on node 1.
      for (const node of [nodes[0], nodes[0], nodes[1]]) sockets.push(await connect(node.url, { transports: ["websocket"] }));
      const [sender, local, remote] = sockets;
      const seen = record(local, "broadcast");
      const far = record(remote, "broadcast");
      const total = 400;
      for (let n = 0; n < total; n++) {
        sender.emit("broadcast", n);
        if (n === total / 2) await redis.kill();
      }
      await eventually(() => assert.equal(seen.length, total), 15000);
      assert.deepEqual(seen.map(([n]) => n), [...Array(total).keys()], "every local message, in order");
      const waiting = await (await fetch(`${nodes[0].opsUrl}/metrics`)).text();
      assert.match(waiting, /^socketio_sidecar_redis_outbox_messages [1-9]\d*$/m, "node 0 keeps what node 1 missed");
      await redis.restart();
      // The outbox: what node 0 published while Redis was down reaches node 1 once it is back,
      // in order. A command Redis ran just before dying, whose answer was lost, is sent again.
      await eventually(() => assert.equal(new Set(far.map(([n]) => n)).size, total), 20000);
      const firsts = far.map(([n]) => n).filter((n, i, all) => all.indexOf(n) === i);
      assert.deepEqual(firsts, [...Array(total).keys()], "every message reaches the other replica, in order");
      await eventually(async () => assert.equal((await admin.Stats()).nodes.length, 2), 15000);
      const metrics = await (await fetch(`${nodes[0].opsUrl}/metrics`)).text();
      assert.match(metrics, /^socketio_sidecar_redis_outbox_messages 0$/m);
      assert.match(metrics, /^socketio_sidecar_redis_outbox_dropped_total 0$/m);
      const healed = record(remote, "broadcast");
      sender.emit("broadcast", "healed");
      await eventually(() => assert.deepEqual(healed.map(([n]) => n), ["healed"]));
      for (const socket of sockets) assert.ok(socket.connected);
      for (const node of nodes) assert.equal(node.sidecar.exitCode, null, "the sidecar is still running");
      admin.close();
    } finally {
      for (const socket of sockets) socket.close();
      await stopAll([...nodes, redis]);
    }
  });
});

describe("SIGTERM with an Admin call waiting on another replica", { skip }, () => {
  // gRPC's Shutdown waits for every callback call to finish, whatever its deadline.
  test("the call is answered UNAVAILABLE and the sidecar exits within its drain timeout", async () => {
    const redis = await startRedis();
    const nodes = [];
    let socket;
    let admin;
    try {
      for (let i = 0; i < 2; i++) nodes.push(await startStack([`--redis_url=${redis.url}`, "--channel=stopping"]));
      admin = adminClient(nodes[0].grpcAddress);
      await eventually(async () => assert.equal((await admin.Stats()).nodes.length, 2));
      socket = await connect(nodes[1].url, { transports: ["websocket"] });
      // Never acked: node 0 waits a minute for node 1's answer.
      const asked = next(socket, "never_acked");
      socket.on("never_acked", () => {});
      const answer = admin
        .Emit({ event: bytes("never_acked"), args: json([]), target: { sids: [socket.id] }, want_ack: true, ack_timeout_ms: 60000 })
        .then(() => null, (error) => error);
      await asked;
      // stop() fails the test if the sidecar is still running 10.5 s after SIGTERM.
      await nodes[0].stop();
      const error = await answer;
      assert.ok(error, "the call failed");
      assert.equal(error.code, grpc.status.UNAVAILABLE, error.message);
      assert.match(error.details, /the sidecar is stopping/);
    } finally {
      socket?.close();
      admin?.close();
      await stopAll([...nodes, redis]);
    }
  });
});

describe("the Admin service", () => {
  let stack;
  let admin;

  before(async () => {
    stack = await startStack();
    admin = adminClient(stack.grpcAddress);
  });

  after(async () => {
    admin?.close();
    await stack?.stop();
  });

  test("emits binary payloads with their attachments", async () => {
    const socket = await connect(stack.url);
    try {
      const got = next(socket, "file");
      await admin.Emit({
        event: bytes("file"),
        args: { json: bytes('[{"name":"a.bin","data":{"_placeholder":true,"num":0}}]'), binary: [Buffer.from([1, 2, 3])] },
      });
      const [file] = await got;
      assert.equal(file.name, "a.bin");
      assert.deepEqual([...new Uint8Array(file.data)], [1, 2, 3]);
    } finally {
      socket.close();
    }
  });

  test("refuses malformed requests with INVALID_ARGUMENT naming the field", async () => {
    const invalid = (error) => error.code === grpc.status.INVALID_ARGUMENT;
    await assert.rejects(admin.Emit({ namespace: "chat", event: bytes("x") }), (error) => invalid(error) && /must start with '\/'/.test(error.details));
    await assert.rejects(admin.Emit({ event: bytes("") }), (error) => invalid(error) && /event is empty/.test(error.details));
    await assert.rejects(admin.Emit({ event: bytes("x"), args: { json: bytes("{not json"), binary: [] } }), (error) => invalid(error) && /args\.json/.test(error.details));
    await assert.rejects(admin.CloseRoom({ room: bytes("") }), (error) => invalid(error) && /room is empty/.test(error.details));
    await assert.rejects(admin.GetSocket({ sid: "" }), (error) => invalid(error) && /sid is empty/.test(error.details));
  });

  test("GetSocket of an unknown sid is NOT_FOUND", async () => {
    await assert.rejects(admin.GetSocket({ sid: "nope" }), (error) => error.code === grpc.status.NOT_FOUND);
  });

  test("Stats of a single sidecar reports it with Redis disabled", async () => {
    const socket = await connect(stack.url);
    try {
      const stats = await admin.Stats();
      assert.equal(stats.nodes.length, 1);
      assert.equal(stats.nodes[0].redis_state, "disabled");
      assert.equal(stats.client_count, 1);
      assert.equal(stats.socket_count, 1);
      assert.deepEqual(stats.nodes[0].namespaces.map((n) => [n.namespace, n.socket_count]), [["/", 1]]);
    } finally {
      socket.close();
    }
  });
});

describe("an Admin token", () => {
  test("is required when configured", async () => {
    const stack = await startStack([], { backend: false, env: { SIDECAR_ADMIN_TOKEN: "s3cret" } });
    const anonymous = adminClient(stack.grpcAddress);
    const wrong = adminClient(stack.grpcAddress, "guess");
    const right = adminClient(stack.grpcAddress, "s3cret");
    try {
      await assert.rejects(anonymous.Stats(), (error) => error.code === grpc.status.UNAUTHENTICATED);
      await assert.rejects(wrong.Stats(), (error) => error.code === grpc.status.UNAUTHENTICATED);
      assert.equal((await right.Stats()).nodes.length, 1);
    } finally {
      for (const client of [anonymous, wrong, right]) client.close();
      await stack.stop();
    }
  });
});
