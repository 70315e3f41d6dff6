package main

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio/socketiotest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func demoServer(t *testing.T) *socketio.Server {
	t.Helper()
	server, err := newServer(quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return server
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connect(t *testing.T, server *socketio.Server) *socketiotest.Client {
	t.Helper()
	client := socketiotest.NewClient(server, socketiotest.WithTB(t))
	if err := client.Connect(testContext(t), "/"); err != nil {
		t.Fatal(err)
	}
	return client
}

// responses decodes the my_response events a client received; other events appear by name.
func responses(t *testing.T, client *socketiotest.Client) []string {
	t.Helper()
	var got []string
	for _, event := range client.GetReceived("/") {
		if event.Event != "my_response" {
			got = append(got, event.Event)
			continue
		}
		var response Response
		if err := event.Args.Decode(0, &response); err != nil {
			t.Fatal(err)
		}
		got = append(got, response.Data+" #"+strconv.Itoa(response.Count))
	}
	return got
}

func expect(t *testing.T, name string, client *socketiotest.Client, want ...string) {
	t.Helper()
	if got := responses(t, client); !slices.Equal(got, want) {
		t.Errorf("%s received %q, want %q", name, got, want)
	}
}

func TestDemoEvents(t *testing.T) {
	server := demoServer(t)
	ctx := testContext(t)
	ada, bob := connect(t, server), connect(t, server)
	expect(t, "ada", ada, "Connected #0")
	expect(t, "bob", bob, "Connected #0")

	emit := func(client *socketiotest.Client, event string, args ...any) {
		t.Helper()
		if err := client.Emit(ctx, "/", event, args...); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
	}
	emit(ada, "my_event", Message{Data: "hello"})
	emit(ada, "my_event", Message{Data: "again"})
	expect(t, "ada", ada, "hello #1", "again #2")
	expect(t, "bob", bob)

	emit(bob, "my_broadcast_event", Message{Data: "to all"})
	expect(t, "ada", ada, "to all #1")
	expect(t, "bob", bob, "to all #1")

	emit(ada, "join", Message{Room: "red"})
	got := responses(t, ada)
	if len(got) != 1 || !strings.Contains(got[0], "red") || !strings.Contains(got[0], ada.SID("/")) || !strings.HasSuffix(got[0], "#3") {
		t.Errorf("join: ada received %q, want her rooms red and her sid", got)
	}
	emit(bob, "my_room_event", Message{Room: "red", Data: "hi reds"})
	expect(t, "ada", ada, "hi reds #2")
	expect(t, "bob", bob)

	emit(ada, "leave", Message{Room: "red"})
	expect(t, "ada", ada, "In rooms: "+ada.SID("/")+" #4")
	emit(bob, "my_room_event", Message{Room: "red", Data: "anyone?"})
	expect(t, "ada", ada)

	emit(ada, "join", Message{Room: "blue"})
	responses(t, ada)
	emit(bob, "close_room", Message{Room: "blue"})
	expect(t, "ada", ada, "Room blue is closing. #4")
	emit(bob, "my_room_event", Message{Room: "blue", Data: "closed?"})
	expect(t, "ada", ada)

	emit(ada, "my_ping")
	expect(t, "ada", ada, "my_pong")
}

func TestDisconnectRequestDisconnectsAfterTheClientAcknowledged(t *testing.T) {
	server := demoServer(t)
	client := connect(t, server)
	client.On("/", "my_response", func(args socketio.Args) []any { return nil })
	if err := client.Emit(testContext(t), "/", "disconnect_request"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for client.IsConnected("/") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if client.IsConnected("/") {
		t.Fatal("still connected after disconnect_request")
	}
	expect(t, "client", client, "Connected #0", "Disconnected! #1")
}

func TestServerGeneratedEventsReachEveryClient(t *testing.T) {
	server := demoServer(t)
	client := connect(t, server)
	responses(t, client)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		emitServerEvents(ctx, server, 5*time.Millisecond, quietLogger())
	}()
	var got []string
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		got = append(got, responses(t, client)...)
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if len(got) < 2 || got[0] != "Server generated event #1" || got[1] != "Server generated event #2" {
		t.Errorf("received %q, want numbered server events", got)
	}
}
