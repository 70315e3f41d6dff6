// Command backend is the benchmarks' Go backend, on the Go SDK, doing exactly what
// bench/backend/bench_backend.cc does: "echo" acks its arguments, "join" joins the room in its
// first argument (acked), "fanout" sends "tick" with the rest of its arguments to the room in its
// first.
//
//	backend --sidecar=127.0.0.1:50051
//
// It prints "attached" once attached to the sidecar.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

func main() {
	sidecar := flag.String("sidecar", "127.0.0.1:50051", "gRPC address of the sidecar")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	server := socketio.NewServer(socketio.WithName("bench-go"), socketio.WithLogger(logger))
	// RawHandlers: the arguments go back as they came, without decoding them (as the C++ backend
	// hands its Args back).
	server.On("/", "echo", socketio.RawHandler(func(_ context.Context, _ *socketio.Socket, args socketio.Args) ([]any, error) {
		return args.Spread(), nil
	}))
	server.On("/", "join", socketio.RawHandler(func(ctx context.Context, s *socketio.Socket, args socketio.Args) ([]any, error) {
		var room string
		if err := args.Decode(0, &room); err != nil {
			return nil, err
		}
		return []any{}, s.JoinRoom(ctx, room)
	}))
	server.On("/", "fanout", socketio.RawHandler(func(ctx context.Context, s *socketio.Socket, args socketio.Args) ([]any, error) {
		var room string
		if err := args.Decode(0, &room); err != nil {
			return nil, err
		}
		tick := append(args.From(1).Spread(), socketio.To(room))
		return []any{}, s.Emit(ctx, "tick", tick...)
	}))
	server.OnAttach(func(socketio.AttachInfo) { fmt.Println("attached") })

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, *sidecar); err != nil {
		logger.Error("stopped", "err", err)
		os.Exit(1)
	}
}
