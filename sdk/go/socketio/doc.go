// Package socketio writes Socket.IO backends in Go behind socketio-sidecar, with the handler model
// of Flask-SocketIO: the sidecar terminates the clients' connections and hands every event to
// this package over one gRPC stream (Backend.Attach); handlers answer with acks and commands.
//
//	server := socketio.NewServer()
//	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
//		return s.Emit(ctx, "welcome", "hello")
//	})
//	server.On("/", "add", func(ctx context.Context, s *socketio.Socket, a, b int) int {
//		return a + b // the client's ack
//	})
//	err := server.Run(ctx, "127.0.0.1:50051")
//
// # Handlers
//
// On registers a function taking (context.Context, *Socket) and then one parameter per event
// argument, decoded from JSON; its results are the ack the client asked for, and a final error
// result goes to the error handler. RawHandler is the same without reflection. Register turns
// the OnXxx methods of a value into handlers of event "xxx" (class-based namespaces). OnConnect
// accepts or rejects (Reject) connections, OnDisconnect learns why a socket left, OnAny catches
// events without a handler, OnError and OnErrorDefault receive handler errors and recovered
// panics: no handler can take down the stream or the process.
//
// The handlers of one socket run one at a time, in the order its events arrived; different
// sockets' handlers run concurrently (see WithAsyncHandlers).
//
// # Sockets, sessions and commands
//
// A handler's *Socket names the client (SID, Namespace, Handshake, Auth) and holds its Session, a
// key-value store kept by the sidecar: changes are saved when the handler returns. Socket.Emit,
// Send and Call talk to the client, or with To, Broadcast, SkipSID, IncludeSelf and Namespace to
// others; JoinRoom, LeaveRoom, Rooms, CloseRoom and Disconnect manage it. The Server has the same
// commands for use outside handlers.
//
// # Background work
//
// A background task is a goroutine: the Server is safe for concurrent use, so a goroutine may
// emit, join rooms or disconnect sockets at any time (commands return ErrNotAttached while no
// sidecar is attached). Flask-SocketIO's start_background_task and sleep are `go` and
// time.Sleep or a time.Ticker; give the goroutine the context you pass to Run so that it stops
// with the server.
//
// # Testing
//
// Package socketiotest drives a Server's handlers in-process through an in-memory sidecar, like
// Flask-SocketIO's test client.
package socketio
