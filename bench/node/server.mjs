// The Node socket.io 4 server doing the benchmark's work, as the reference:
// "echo" acks its arguments, "join" joins a room (acked), "fanout" sends "tick"
// to a room.  node server.mjs PORT
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] ?? 5100);
const httpServer = createServer();
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
