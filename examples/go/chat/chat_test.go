package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio/socketiotest"
)

func TestChat(t *testing.T) {
	ctx := context.Background()
	server := newServer()
	connect := func(t *testing.T, name string) *socketiotest.Client {
		t.Helper()
		client := socketiotest.NewClient(server, socketiotest.WithTB(t))
		t.Cleanup(client.Close)
		if err := client.Connect(ctx, "/", socketiotest.Auth(map[string]string{"name": name})); err != nil {
			t.Fatalf("connect %s: %v", name, err)
		}
		return client
	}
	// call emits with an ack and decodes the ack's first argument into answer.
	call := func(t *testing.T, client *socketiotest.Client, answer any, event string, args ...any) {
		t.Helper()
		ack, err := client.EmitWithAck(ctx, "/", event, args...)
		if err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		if err := ack.Decode(0, answer); err != nil {
			t.Fatalf("%s: ack %v: %v", event, ack, err)
		}
	}
	// only returns the single event a client received since the last call, decoded into v.
	only := func(t *testing.T, client *socketiotest.Client, event string, v any) {
		t.Helper()
		got := client.GetReceived("/")
		if len(got) != 1 || got[0].Event != event {
			t.Fatalf("received %v, want one %q", got, event)
		}
		if err := got[0].Args.Decode(0, v); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
	}

	t.Run("a client without a name is refused with a hint", func(t *testing.T) {
		withoutName := [][]socketiotest.ConnectOption{nil, {socketiotest.Auth(map[string]string{"name": "  "})}}
		for _, options := range withoutName {
			client := socketiotest.NewClient(server, socketiotest.WithTB(t))
			err := client.Connect(ctx, "/", options...)
			client.Close()
			var refused *socketiotest.ConnectError
			if !errors.As(err, &refused) || refused.Message != "a name is required" {
				t.Fatalf("got %v, want a refusal", err)
			}
			var data struct{ Hint string }
			if err := json.Unmarshal(refused.Data, &data); err != nil || data.Hint == "" {
				t.Fatalf("refusal data = %s", refused.Data)
			}
		}
	})

	t.Run("messages reach the room's members with the sender's name", func(t *testing.T) {
		ann, bob, cid := connect(t, "ann"), connect(t, "bob"), connect(t, "cid")
		var rooms []string
		call(t, ann, &rooms, "join", "lobby")
		call(t, bob, &rooms, "join", "lobby")
		ann.GetReceived("/")
		bob.GetReceived("/")
		var sent bool
		call(t, ann, &sent, "message", Message{Room: "lobby", From: "mallory", Text: "hello"})
		if !sent {
			t.Fatal("message ack = false, want true")
		}
		for _, member := range []*socketiotest.Client{ann, bob} {
			var message Message
			only(t, member, "message", &message)
			if want := (Message{Room: "lobby", From: "ann", Text: "hello"}); message != want {
				t.Fatalf("message = %+v, want %+v", message, want)
			}
		}
		if got := cid.GetReceived("/"); len(got) != 0 {
			t.Fatalf("cid is not in the room but received %v", got)
		}
	})

	t.Run("a message to a room the sender is not in is refused", func(t *testing.T) {
		dan := connect(t, "dan")
		sent := true
		call(t, dan, &sent, "message", Message{Room: "lobby", Text: "sneaky"})
		if sent {
			t.Fatal("message ack = true, want false")
		}
	})

	t.Run("join and leave notify the room and answer with the client's rooms", func(t *testing.T) {
		eve, fay := connect(t, "eve"), connect(t, "fay")
		var rooms []string
		call(t, fay, &rooms, "join", "garden")
		fay.GetReceived("/")
		call(t, eve, &rooms, "join", "garden")
		if !slices.Equal(sorted(rooms), sorted([]string{eve.SID("/"), "garden"})) {
			t.Fatalf("rooms after join = %v", rooms)
		}
		var notice Notice
		only(t, fay, "notice", &notice)
		if notice != (Notice{Room: "garden", Text: "eve joined"}) {
			t.Fatalf("notice = %+v", notice)
		}
		call(t, eve, &rooms, "leave", "garden")
		if !slices.Equal(rooms, []string{eve.SID("/")}) {
			t.Fatalf("rooms after leave = %v", rooms)
		}
		only(t, fay, "notice", &notice)
		if notice != (Notice{Room: "garden", Text: "eve left"}) {
			t.Fatalf("notice = %+v", notice)
		}
		call(t, eve, &rooms, "rooms")
		if !slices.Equal(rooms, []string{eve.SID("/")}) {
			t.Fatalf("rooms = %v", rooms)
		}
	})

	t.Run("a failing handler answers with the error", func(t *testing.T) {
		gus := connect(t, "gus")
		var answer map[string]string
		call(t, gus, &answer, "join", "")
		if answer["error"] == "" {
			t.Fatalf("ack = %v, want an error", answer)
		}
	})
}

func sorted(items []string) []string {
	return slices.Sorted(slices.Values(items))
}
