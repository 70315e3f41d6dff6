// Command demo is Flask-SocketIO's example application as a socketio-sidecar backend: it attaches
// to the sidecar over gRPC and serves the demo page's events (my_event, rooms, broadcasts, ping,
// disconnect_request), and emits a server-generated event every few seconds.
//
//	demo --sidecar=127.0.0.1:50051 --interval=10
//
// SIDECAR_ADDRESS and DEMO_INTERVAL give defaults for the flags. It prints "attached" each time it
// has attached to the sidecar.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

func main() {
	sidecar := flag.String("sidecar", envOr("SIDECAR_ADDRESS", "127.0.0.1:50051"), "gRPC address of the sidecar")
	interval := flag.Int("interval", envInt("DEMO_INTERVAL", 10), "seconds between server-generated events; 0 for none")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	server, err := newServer(logger)
	if err != nil {
		logger.Error("setting up handlers", "err", err)
		os.Exit(1)
	}
	server.OnAttach(func(info socketio.AttachInfo) {
		fmt.Println("attached")
		logger.Info("attached to the sidecar", "address", *sidecar, "version", info.SidecarVersion)
	})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *interval > 0 {
		go emitServerEvents(ctx, server, time.Duration(*interval)*time.Second, logger)
	}
	if err := server.Run(ctx, *sidecar); err != nil {
		logger.Error("stopped", "err", err)
		os.Exit(1)
	}
}

func newServer(logger *slog.Logger) (*socketio.Server, error) {
	server := socketio.NewServer(socketio.WithName("go-demo"), socketio.WithLogger(logger))
	if err := server.Register("/", Demo{Logger: logger}); err != nil {
		return nil, err
	}
	return server, nil
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func envInt(name string, fallback int) int {
	if value, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return value
	}
	return fallback
}
