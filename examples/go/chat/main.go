// Command chat is a small chat with rooms on socketio-sidecar, served with its page
// (examples/web/chat.html): clients connect with a name, join rooms and talk in them.
//
//	chat --sidecar=127.0.0.1:50051
//
// SIDECAR_ADDRESS gives a default for the flag. It prints "attached" each time it has attached
// to the sidecar.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

func main() {
	address := os.Getenv("SIDECAR_ADDRESS")
	if address == "" {
		address = "127.0.0.1:50051"
	}
	sidecar := flag.String("sidecar", address, "gRPC address of the sidecar")
	flag.Parse()

	server := newServer()
	server.OnAttach(func(socketio.AttachInfo) { fmt.Println("attached") })
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, *sidecar); err != nil {
		log.Fatal(err)
	}
}
