package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

// Message is a chat line. Clients send {room, text}; the room's members receive it as a
// "message" event with From set to the sender's name.
type Message struct {
	Room string `json:"room"`
	From string `json:"from,omitempty"`
	Text string `json:"text"`
}

// Notice tells a room who came and went.
type Notice struct {
	Room string `json:"room"`
	Text string `json:"text"`
}

// newServer registers the chat's handlers: clients connect with auth {name}, join and leave
// rooms, and send messages to the rooms they are in.
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

	// join and leave answer with the rooms the client is in, as rooms does.
	server.On("/", "join", func(ctx context.Context, s *socketio.Socket, room string) ([]string, error) {
		if room == "" {
			return nil, errors.New("join: the room name is empty")
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

	server.On("/", "rooms", func(ctx context.Context, s *socketio.Socket) ([]string, error) {
		return s.Rooms(ctx)
	})

	// A message goes to everyone in its room, sender included; the ack is false when the sender
	// is not in that room.
	server.OnMessage("/", func(ctx context.Context, s *socketio.Socket, message Message) (bool, error) {
		rooms, err := s.Rooms(ctx)
		if err != nil {
			return false, err
		}
		if !slices.Contains(rooms, message.Room) {
			return false, nil
		}
		message.From = name(s)
		return true, s.Send(ctx, message, socketio.To(message.Room))
	})

	// A failing handler answers the client's ack with the error, instead of leaving it waiting.
	server.OnError("/", func(ctx context.Context, s *socketio.Socket, err error) []any {
		return []any{map[string]string{"error": err.Error()}}
	})
	return server
}

// name is the name the client connected with, kept in its session.
func name(s *socketio.Socket) string {
	var value string
	if _, err := s.Session().Get("name", &value); err != nil || value == "" {
		return "someone"
	}
	return value
}
