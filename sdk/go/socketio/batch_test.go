package socketio

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/internal/memstream"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

func TestHandlesTheMessagesOfASidecarBatchInOrder(t *testing.T) {
	server := quietServer()
	server.On("/", "n", func(ctx context.Context, s *Socket, n int) int { return n })
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{AlwaysConnect: true})
	sidecar.send(message(`batch {
		messages { adopted { sid: "s1" namespace: "/" } }
		messages { event { sid: "s1" namespace: "/" event: "n" args { json: "[1]" } ack_id: 1 } }
		messages { event { sid: "s1" namespace: "/" event: "n" args { json: "[2]" } ack_id: 2 } }
		messages { event { sid: "s1" namespace: "/" event: "n" args { json: "[3]" } ack_id: 3 } }
	}`))
	sidecar.expect(`ack { sid: "s1" namespace: "/" ack_id: 1 args { json: "[1]" } }`)
	sidecar.expect(`ack { sid: "s1" namespace: "/" ack_id: 2 args { json: "[2]" } }`)
	sidecar.expect(`ack { sid: "s1" namespace: "/" ack_id: 3 args { json: "[3]" } }`)
}

func TestHelloSaysTheBackendAcceptsBatches(t *testing.T) {
	server := quietServer()
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{})
	if !sidecar.hello.GetAcceptsBatches() {
		t.Error("Hello.accepts_batches is false")
	}
}

// heldStream is a gRPC-like stream (no Processed notices) whose next Send can be held in flight
// until the test releases it.
type heldStream struct {
	end      *memstream.BackendEnd
	mu       sync.Mutex
	hold     chan struct{}
	entered  chan struct{}
	released chan struct{}
}

func (h *heldStream) Send(message *sidecarpb.BackendMessage) error {
	h.mu.Lock()
	hold := h.hold
	h.hold = nil
	h.mu.Unlock()
	if hold != nil {
		close(h.entered)
		<-hold
	}
	return h.end.Send(message)
}

func (h *heldStream) Recv() (*sidecarpb.SidecarMessage, error) { return h.end.Recv() }
func (h *heldStream) CloseSend() error                         { return h.end.CloseSend() }

func (h *heldStream) holdNextSend() (entered, release chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold = make(chan struct{})
	h.entered = make(chan struct{})
	return h.entered, h.hold
}

// serveHeld attaches server over a heldStream, welcomed with acceptsBatches.
func serveHeld(t *testing.T, server *Server, acceptsBatches bool) (*heldStream, *memstream.SidecarEnd) {
	t.Helper()
	pipe := memstream.New()
	stream := &heldStream{end: pipe.Backend()}
	end := pipe.Sidecar()
	attached := make(chan struct{}, 1)
	server.OnAttach(func(AttachInfo) { attached <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, stream) }()
	t.Cleanup(func() {
		cancel()
		end.Close()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	if hello, err := end.Recv(); err != nil || hello.Message.GetHello() == nil {
		t.Fatalf("first message %v, %v; want Hello", hello.Message, err)
	}
	welcome := &sidecarpb.Welcome{AcceptsBatches: acceptsBatches}
	if err := end.Send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_Welcome{Welcome: welcome}}); err != nil {
		t.Fatal(err)
	}
	<-attached
	return stream, end
}

func nextCommand(t *testing.T, end *memstream.SidecarEnd) *sidecarpb.BackendMessage {
	t.Helper()
	got := make(chan memstream.Item, 1)
	go func() {
		item, _ := end.Recv()
		got <- item
	}()
	select {
	case item := <-got:
		if item.Message == nil {
			t.Fatal("the stream ended")
		}
		return item.Message
	case <-time.After(5 * time.Second):
		t.Fatal("no command from the backend")
	}
	return nil
}

func emittedArgs(message *sidecarpb.BackendMessage) string {
	if message.GetEmit() == nil {
		return fmt.Sprint(message)
	}
	return string(message.GetEmit().GetArgs().GetJson())
}

func TestCommandsSentDuringASendInFlightLeaveAsOneBatchInOrder(t *testing.T) {
	server := quietServer()
	stream, end := serveHeld(t, server, true)
	ctx := context.Background()
	entered, release := stream.holdNextSend()
	first := make(chan error, 1)
	go func() { first <- server.Emit(ctx, "e", 0) }()
	<-entered
	// Queued behind the send in flight: each returns at once.
	for i := 1; i <= 3; i++ {
		if err := server.Emit(ctx, "e", i); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := emittedArgs(nextCommand(t, end)); got != "[0]" {
		t.Errorf("first command %s, want the emit of 0", got)
	}
	batch := nextCommand(t, end).GetBatch()
	if len(batch.GetMessages()) != 3 {
		t.Fatalf("second command holds %d messages, want a batch of 3", len(batch.GetMessages()))
	}
	for i, each := range batch.GetMessages() {
		if got, want := emittedArgs(each), fmt.Sprintf("[%d]", i+1); got != want {
			t.Errorf("batch message %d = %s, want %s", i, got, want)
		}
	}
	// Idle again: the next command leaves alone, at once.
	if err := server.Emit(ctx, "e", 4); err != nil {
		t.Fatal(err)
	}
	if got := emittedArgs(nextCommand(t, end)); got != "[4]" {
		t.Errorf("command after the batch %s, want the emit of 4", got)
	}
}

func TestNeverSendsABatchToASidecarThatDoesNotAcceptThem(t *testing.T) {
	server := quietServer()
	stream, end := serveHeld(t, server, false)
	ctx := context.Background()
	entered, release := stream.holdNextSend()
	first := make(chan error, 1)
	go func() { first <- server.Emit(ctx, "e", 0) }()
	<-entered
	rest := make(chan error, 1)
	go func() {
		for i := 1; i <= 3; i++ {
			if err := server.Emit(ctx, "e", i); err != nil {
				rest <- err
				return
			}
		}
		rest <- nil
	}()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-rest; err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 3; i++ {
		if got, want := emittedArgs(nextCommand(t, end)), fmt.Sprintf("[%d]", i); got != want {
			t.Errorf("command %d = %s, want the emit of %d alone", i, got, i)
		}
	}
}
