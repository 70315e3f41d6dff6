package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

// Said is what room members receive for a message.
type Said struct {
	Room string `json:"room"`
	From string `json:"from"`
	Text string `json:"text"`
}

// Notice tells a room who came and went.
type Notice struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// newServer registers the chat's handlers: clients connect with auth {name}, join and leave
// rooms, and say things to a room.
func newServer() *socketio.Server {
	server := socketio.NewServer(socketio.WithName("go-chat"))

	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
		var user struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(auth, &user) != nil || strings.TrimSpace(user.Name) == "" {
			return socketio.Reject("a name is required", map[string]string{"hint": `connect with auth {"name": "..."}`})
		}
		return s.Session().Set("name", strings.TrimSpace(user.Name))
	})

	// join answers with the rooms the client is in.
	server.On("/", "join", func(ctx context.Context, s *socketio.Socket, room string) ([]string, error) {
		if room == "" {
			return nil, fmt.Errorf("join: the room name is empty")
		}
		if err := s.JoinRoom(ctx, room); err != nil {
			return nil, err
		}
		if err := s.Emit(ctx, "notice", Notice{Room: room, Text: name(s) + " joined"}, socketio.To(room)); err != nil {
			return nil, err
		}
		return s.Rooms(ctx)
	})

	server.On("/", "leave", func(ctx context.Context, s *socketio.Socket, room string) ([]string, error) {
		if err := s.LeaveRoom(ctx, room); err != nil {
			return nil, err
		}
		if err := s.Emit(ctx, "notice", Notice{Room: room, Text: name(s) + " left"}, socketio.To(room)); err != nil {
			return nil, err
		}
		return s.Rooms(ctx)
	})

	// say sends a message to a room the client is in, sender included.
	server.On("/", "say", func(ctx context.Context, s *socketio.Socket, room, text string) (bool, error) {
		rooms, err := s.Rooms(ctx)
		if err != nil {
			return false, err
		}
		if !contains(rooms, room) {
			return false, nil
		}
		return true, s.Emit(ctx, "said", Said{Room: room, From: name(s), Text: text}, socketio.To(room))
	})

	server.On("/", "rooms", func(ctx context.Context, s *socketio.Socket) ([]string, error) {
		return s.Rooms(ctx)
	})

	// A failing handler answers the client's ack with the error, instead of leaving it waiting.
	server.OnError("/", func(ctx context.Context, s *socketio.Socket, err error) []any {
		return []any{map[string]string{"error": err.Error()}}
	})
	return server
}

func name(s *socketio.Socket) string {
	var value string
	if _, err := s.Session().Get("name", &value); err != nil || value == "" {
		return "someone"
	}
	return value
}

func contains(items []string, item string) bool {
	for _, each := range items {
		if each == item {
			return true
		}
	}
	return false
}
