package socketio

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

// grpcSidecar serves Backend.Attach on a loopback port with a test-chosen behaviour per stream.
type grpcSidecar struct {
	sidecarpb.UnimplementedBackendServer
	attach func(stream sidecarpb.Backend_AttachServer) error
}

func (g *grpcSidecar) Attach(stream sidecarpb.Backend_AttachServer) error { return g.attach(stream) }

func startGRPCSidecar(t *testing.T, attach func(sidecarpb.Backend_AttachServer) error) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	sidecarpb.RegisterBackendServer(server, &grpcSidecar{attach: attach})
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	return listener.Addr().String()
}

func TestRunReattachesAfterTheStreamBreaksAndStopsGracefully(t *testing.T) {
	hellos := make(chan *sidecarpb.Hello, 4)
	var attempts atomic.Int32
	address := startGRPCSidecar(t, func(stream sidecarpb.Backend_AttachServer) error {
		attempt := attempts.Add(1)
		first, err := stream.Recv()
		if err != nil {
			return err
		}
		hellos <- first.GetHello()
		if err := stream.Send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_Welcome{Welcome: &sidecarpb.Welcome{SidecarVersion: "grpc-test"}}}); err != nil {
			return err
		}
		if attempt == 1 {
			return status.Error(codes.Unavailable, "restarting")
		}
		// Wait for the backend to close its side, as the sidecar does.
		for {
			if _, err := stream.Recv(); err != nil {
				return nil
			}
		}
	})
	server := quietServer(WithName("run-test"), WithBackoff(time.Millisecond, 10*time.Millisecond))
	server.On("/", "e", func(ctx context.Context, s *Socket) {})
	versions := make(chan string, 4)
	server.OnAttach(func(info AttachInfo) { versions <- info.SidecarVersion })
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- server.Run(ctx, address) }()
	for range 2 {
		select {
		case hello := <-hellos:
			if hello.GetName() != "run-test" || len(hello.GetNamespaces()) != 1 {
				t.Errorf("Hello = %v", hello)
			}
			if version := <-versions; version != "grpc-test" {
				t.Errorf("attached to %q", version)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the backend did not (re)attach")
		}
	}
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run = %v, want nil after cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

func TestRunStopsWhenTheSidecarRefusesTheBackend(t *testing.T) {
	address := startGRPCSidecar(t, func(stream sidecarpb.Backend_AttachServer) error {
		if _, err := stream.Recv(); err != nil {
			return err
		}
		return status.Error(codes.InvalidArgument, "Hello declares no namespace")
	})
	server := quietServer(WithBackoff(time.Millisecond, time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := server.Run(ctx, address)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Run = %v, want the InvalidArgument refusal", err)
	}
}

func TestRunKeepsRetryingWhileNoSidecarListens(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close()
	server := quietServer(WithBackoff(time.Millisecond, 5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := server.Run(ctx, address); err != nil {
		t.Errorf("Run = %v, want nil when ctx ends while retrying", err)
	}
	if err := server.Emit(context.Background(), "x"); !errors.Is(err, ErrNotAttached) {
		t.Errorf("Emit = %v, want ErrNotAttached", err)
	}
}
