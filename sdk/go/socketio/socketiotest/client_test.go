package socketiotest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio/socketiotest"
)

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func echoServer() *socketio.Server {
	server := socketio.NewServer()
	server.On("/", "echo", socketio.RawHandler(func(ctx context.Context, s *socketio.Socket, args socketio.Args) ([]any, error) {
		return nil, s.Emit(ctx, "echo", args.Spread()...)
	}))
	return server
}

func TestClientMisuseIsReported(t *testing.T) {
	server := echoServer()
	client := socketiotest.NewClient(server, socketiotest.WithTB(t))
	ctx := testContext(t)
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"emit before connecting", func() error { return client.Emit(ctx, "/", "echo") }, "not connected"},
		{"disconnect before connecting", func() error { return client.Disconnect(ctx, "/") }, "not connected"},
		{"connect", func() error { return client.Connect(ctx, "") }, ""},
		{"connect twice", func() error { return client.Connect(ctx, "/") }, "already connected"},
		{"reserved event", func() error { return client.Emit(ctx, "/", "disconnect") }, "reserved event name"},
		{"unencodable argument", func() error { return client.Emit(ctx, "/", "echo", func() {}) }, "encoding arguments"},
	}
	for _, test := range tests {
		err := test.do()
		if (test.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), test.want) {
			t.Errorf("%s: %v, want %q", test.name, err, test.want)
		}
	}
}

func TestGetReceivedReturnsEventsOnceInOrder(t *testing.T) {
	client := socketiotest.NewClient(echoServer(), socketiotest.WithTB(t))
	ctx := testContext(t)
	if err := client.Connect(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := client.Emit(ctx, "/", "echo", i, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	received := client.GetReceived("")
	if len(received) != 3 {
		t.Fatalf("received %d events, want 3", len(received))
	}
	for i, event := range received {
		binary, ok := event.Args.Bytes(1)
		if event.Namespace != "/" || event.Event != "echo" || string(event.Args.Raw(0)) != fmt.Sprint(i) || !ok || binary[0] != byte(i) {
			t.Errorf("event %d = %+v", i, event)
		}
	}
	if again := client.GetReceived("/"); len(again) != 0 {
		t.Errorf("second GetReceived = %v, want nothing", again)
	}
}

func TestTheServerReattachesAfterTheLastClientClosed(t *testing.T) {
	server := echoServer()
	attaches := make(chan struct{}, 2)
	server.OnAttach(func(socketio.AttachInfo) { attaches <- struct{}{} })
	ctx := testContext(t)
	for round := range 2 {
		client := socketiotest.NewClient(server)
		if err := client.Connect(ctx, "/"); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := client.Emit(ctx, "/", "echo", round); err != nil {
			t.Fatal(err)
		}
		if got := len(client.GetReceived("/")); got != 1 {
			t.Errorf("round %d: received %d events", round, got)
		}
		client.Close()
		client.Close()
		if err := client.Emit(ctx, "/", "echo"); !errors.Is(err, socketiotest.ErrNotConnected) {
			t.Errorf("Emit after Close = %v", err)
		}
	}
	if len(attaches) != 2 {
		t.Errorf("attached %d times, want 2", len(attaches))
	}
	if err := server.Emit(ctx, "x"); !errors.Is(err, socketio.ErrNotAttached) {
		t.Errorf("server.Emit with no clients = %v, want ErrNotAttached", err)
	}
}

func TestCloseRunsDisconnectHandlers(t *testing.T) {
	server := echoServer()
	reasons := make(chan string, 2)
	server.OnDisconnect("/", func(ctx context.Context, s *socketio.Socket, reason string) { reasons <- "/ " + reason })
	server.OnDisconnect("/chat", func(ctx context.Context, s *socketio.Socket, reason string) { reasons <- "/chat " + reason })
	ctx := testContext(t)
	client := socketiotest.NewClient(server)
	for _, namespace := range []string{"/", "/chat"} {
		if err := client.Connect(ctx, namespace); err != nil {
			t.Fatal(err)
		}
	}
	client.Close()
	got := map[string]bool{<-reasons: true, <-reasons: true}
	if !got["/ transport close"] || !got["/chat transport close"] {
		t.Errorf("reasons = %v", got)
	}
}

// Several clients of one server share rooms and broadcasts, as clients of one sidecar do.
func ExampleNewClient() {
	server := socketio.NewServer()
	server.On("/", "join", func(ctx context.Context, s *socketio.Socket, room string) error {
		return s.JoinRoom(ctx, room)
	})
	server.On("/", "shout", func(ctx context.Context, s *socketio.Socket, room, text string) error {
		return s.Emit(ctx, "shouted", text, socketio.To(room))
	})

	ctx := context.Background()
	ada, bob, cy := socketiotest.NewClient(server), socketiotest.NewClient(server), socketiotest.NewClient(server)
	for _, client := range []*socketiotest.Client{ada, bob, cy} {
		defer client.Close()
		if err := client.Connect(ctx, "/"); err != nil {
			log.Fatal(err)
		}
	}
	for _, client := range []*socketiotest.Client{ada, bob} {
		if err := client.Emit(ctx, "/", "join", "red"); err != nil {
			log.Fatal(err)
		}
	}
	if err := cy.Emit(ctx, "/", "shout", "red", "hello reds"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ada.GetReceived("/"))
	fmt.Println(bob.GetReceived("/"))
	fmt.Println(cy.GetReceived("/"))
	// Output:
	// [{/ shouted ["hello reds"]}]
	// [{/ shouted ["hello reds"]}]
	// []
}

func TestARecoveredSocketKeepsItsSidRoomsAndSessionAndTheHandlerKnows(t *testing.T) {
	server := socketio.NewServer()
	type connected struct {
		sid       string
		recovered bool
		visits    int
	}
	connects := make(chan connected, 4)
	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, _ json.RawMessage) error {
		var visits int
		if _, err := s.Session().Get("visits", &visits); err != nil {
			return err
		}
		visits++
		if err := s.Session().Set("visits", visits); err != nil {
			return err
		}
		if !s.Recovered() {
			if err := s.JoinRoom(ctx, "news"); err != nil {
				return err
			}
		}
		connects <- connected{s.SID(), s.Recovered(), visits}
		return nil
	})
	server.On("/", "rooms", func(ctx context.Context, s *socketio.Socket) ([]string, error) {
		return s.Rooms(ctx)
	})
	client := socketiotest.NewClient(server, socketiotest.WithTB(t))
	ctx := testContext(t)

	// Nothing dropped yet: Recover gives a normal connect.
	if err := client.Connect(ctx, "/", socketiotest.Recover()); err != nil {
		t.Fatal(err)
	}
	first := <-connects
	if first.recovered || first.visits != 1 {
		t.Fatalf("first connect: %+v, want a new socket on its first visit", first)
	}
	if err := client.DropTransport(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if client.IsConnected("/") {
		t.Fatal("still connected after the transport dropped")
	}
	if err := client.Connect(ctx, "/", socketiotest.Recover()); err != nil {
		t.Fatal(err)
	}
	second := <-connects
	if !second.recovered || second.sid != first.sid || second.visits != 2 {
		t.Fatalf("after recovery: %+v, want sid %s recovered on its second visit", second, first.sid)
	}
	answer, err := client.EmitWithAck(ctx, "/", "rooms")
	if err != nil {
		t.Fatal(err)
	}
	var rooms []string
	if err := answer.Decode(0, &rooms); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rooms, "news") {
		t.Fatalf("rooms %v, want news kept", rooms)
	}

	// A deliberate disconnect leaves nothing to recover.
	if err := client.Disconnect(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if err := client.Connect(ctx, "/", socketiotest.Recover()); err != nil {
		t.Fatal(err)
	}
	if third := <-connects; third.recovered || third.sid == first.sid {
		t.Fatalf("after a disconnect: %+v, want a new socket", third)
	}
}
