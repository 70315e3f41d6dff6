package main

import (
	"context"
	"encoding/json"
	"errors"
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

	t.Run("a client without a name is refused with a hint", func(t *testing.T) {
		client := socketiotest.NewClient(server, socketiotest.WithTB(t))
		defer client.Close()
		err := client.Connect(ctx, "/")
		var refused *socketiotest.ConnectError
		if !errors.As(err, &refused) || refused.Message != "a name is required" {
			t.Fatalf("got %v, want a refusal", err)
		}
		if !json.Valid(refused.Data) || string(refused.Data) == "null" {
			t.Fatalf("refusal data = %s", refused.Data)
		}
	})

	t.Run("messages reach the room's members with the sender's name", func(t *testing.T) {
		ann, bob, cid := connect(t, "ann"), connect(t, "bob"), connect(t, "cid")
		for _, client := range []*socketiotest.Client{ann, bob} {
			if _, err := client.EmitWithAck(ctx, "/", "join", "lobby"); err != nil {
				t.Fatal(err)
			}
		}
		ann.GetReceived("/")
		bob.GetReceived("/")
		ack, err := ann.EmitWithAck(ctx, "/", "say", "lobby", "hello")
		if err != nil || string(ack.Raw(0)) != "true" {
			t.Fatalf("say ack = %v, %v", ack, err)
		}
		for _, client := range []*socketiotest.Client{ann, bob} {
			got := client.GetReceived("/")
			if len(got) != 1 || got[0].Event != "said" {
				t.Fatalf("received %v", got)
			}
			var said Said
			if err := got[0].Args.Decode(0, &said); err != nil || said != (Said{Room: "lobby", From: "ann", Text: "hello"}) {
				t.Fatalf("said = %+v, %v", said, err)
			}
		}
		if got := cid.GetReceived("/"); len(got) != 0 {
			t.Fatalf("cid is not in the room but received %v", got)
		}
	})

	t.Run("say refuses rooms the sender is not in", func(t *testing.T) {
		dan := connect(t, "dan")
		ack, err := dan.EmitWithAck(ctx, "/", "say", "lobby", "sneaky")
		if err != nil || string(ack.Raw(0)) != "false" {
			t.Fatalf("say ack = %v, %v", ack, err)
		}
	})

	t.Run("rooms lists the client's rooms; join and leave notify the room", func(t *testing.T) {
		eve, fay := connect(t, "eve"), connect(t, "fay")
		if _, err := fay.EmitWithAck(ctx, "/", "join", "garden"); err != nil {
			t.Fatal(err)
		}
		fay.GetReceived("/")
		rooms, err := eve.EmitWithAck(ctx, "/", "join", "garden")
		if err != nil {
			t.Fatal(err)
		}
		var joined []string
		if err := rooms.Decode(0, &joined); err != nil || len(joined) != 2 {
			t.Fatalf("rooms after join = %v, %v", joined, err)
		}
		notices := fay.GetReceived("/")
		if len(notices) != 1 || notices[0].Event != "notice" {
			t.Fatalf("fay received %v", notices)
		}
		var notice Notice
		if err := notices[0].Args.Decode(0, &notice); err != nil || notice.Text != "eve joined" {
			t.Fatalf("notice = %+v, %v", notice, err)
		}
		if _, err := eve.EmitWithAck(ctx, "/", "leave", "garden"); err != nil {
			t.Fatal(err)
		}
		left, _ := eve.EmitWithAck(ctx, "/", "rooms")
		var after []string
		if err := left.Decode(0, &after); err != nil || len(after) != 1 {
			t.Fatalf("rooms after leave = %v, %v", after, err)
		}
	})

	t.Run("a failing handler answers with the error", func(t *testing.T) {
		gus := connect(t, "gus")
		ack, err := gus.EmitWithAck(ctx, "/", "join", "")
		if err != nil {
			t.Fatal(err)
		}
		var answer map[string]string
		if err := ack.Decode(0, &answer); err != nil || answer["error"] == "" {
			t.Fatalf("ack = %v, %v", ack, err)
		}
	})
}
