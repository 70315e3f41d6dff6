// The Node socket.io 4 server doing the benchmark's work, as the reference:
// "echo" acks its arguments, "join" joins a room (acked), "fanout" sends "tick"
// to a room, and POST /emit?room=R sends "tick" with the JSON array in the body
// to room R (the S4 job's endpoint: a server-side io.to(room).emit triggered
// over HTTP, the nearest equivalent of the sidecar's Admin Emit).
//   node server.mjs PORT
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 5100);
const httpServer = createServer((request, response) => {
  const url = new URL(request.url, "http://localhost");
  if (request.method !== "POST" || url.pathname !== "/emit") {
    response.writeHead(404).end();
    return;
  }
  const chunks = [];
  request.on("data", (chunk) => chunks.push(chunk));
  request.on("end", () => {
    try {
      const args = JSON.parse(Buffer.concat(chunks).toString());
      io.to(url.searchParams.get("room")).emit("tick", ...args);
      response.writeHead(200).end("ok");
    } catch (error) {
      response.writeHead(400).end(String(error));
    }
  });
});
const io = new Server(httpServer, { serveClient: false, cors: { origin: "*" } });
io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("fanout", (room, ...rest) => io.to(room).emit("tick", ...rest));
});
httpServer.listen(port, "127.0.0.1", () => console.log(`listening on ${port}`));
