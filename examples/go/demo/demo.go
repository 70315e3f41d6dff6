package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

// Response is the payload of every my_response event.
type Response struct {
	Data  string `json:"data"`
	Count int    `json:"count"`
}

// Message is what the demo page sends: some text, and a room for the room events.
type Message struct {
	Data string `json:"data"`
	Room string `json:"room"`
}

// Demo is Flask-SocketIO's example application as a class-based namespace: each OnXxx method
// handles the event xxx (OnMyEvent handles "my_event").
type Demo struct {
	Logger *slog.Logger
}

// OnConnect greets the client.
func (d Demo) OnConnect(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
	return s.Emit(ctx, "my_response", Response{Data: "Connected", Count: 0})
}

// OnDisconnect logs why the client left.
func (d Demo) OnDisconnect(ctx context.Context, s *socketio.Socket, reason string) {
	d.Logger.Info("client disconnected", "sid", s.SID(), "reason", reason)
}

// OnMyEvent echoes the message with the number of events the client sent.
func (d Demo) OnMyEvent(ctx context.Context, s *socketio.Socket, message Message) error {
	count, err := receiveCount(s)
	if err != nil {
		return err
	}
	return s.Emit(ctx, "my_response", Response{Data: message.Data, Count: count})
}

// OnMyBroadcastEvent echoes the message to every client.
func (d Demo) OnMyBroadcastEvent(ctx context.Context, s *socketio.Socket, message Message) error {
	count, err := receiveCount(s)
	if err != nil {
		return err
	}
	return s.Emit(ctx, "my_response", Response{Data: message.Data, Count: count}, socketio.Broadcast())
}

// OnJoin puts the client into a room and tells it which rooms it is in.
func (d Demo) OnJoin(ctx context.Context, s *socketio.Socket, message Message) error {
	if err := s.JoinRoom(ctx, message.Room); err != nil {
		return err
	}
	return d.reportRooms(ctx, s)
}

// OnLeave takes the client out of a room and tells it which rooms it is in.
func (d Demo) OnLeave(ctx context.Context, s *socketio.Socket, message Message) error {
	if err := s.LeaveRoom(ctx, message.Room); err != nil {
		return err
	}
	return d.reportRooms(ctx, s)
}

func (d Demo) reportRooms(ctx context.Context, s *socketio.Socket) error {
	rooms, err := s.Rooms(ctx)
	if err != nil {
		return err
	}
	count, err := receiveCount(s)
	if err != nil {
		return err
	}
	return s.Emit(ctx, "my_response", Response{Data: "In rooms: " + strings.Join(rooms, ", "), Count: count})
}

// OnCloseRoom warns a room's members, then empties it.
func (d Demo) OnCloseRoom(ctx context.Context, s *socketio.Socket, message Message) error {
	count, err := receiveCount(s)
	if err != nil {
		return err
	}
	if err := s.Emit(ctx, "my_response", Response{Data: "Room " + message.Room + " is closing.", Count: count}, socketio.To(message.Room)); err != nil {
		return err
	}
	return s.CloseRoom(ctx, message.Room)
}

// OnMyRoomEvent sends the message to a room.
func (d Demo) OnMyRoomEvent(ctx context.Context, s *socketio.Socket, message Message) error {
	count, err := receiveCount(s)
	if err != nil {
		return err
	}
	return s.Emit(ctx, "my_response", Response{Data: message.Data, Count: count}, socketio.To(message.Room))
}

// OnDisconnectRequest says goodbye and disconnects the client once it acknowledged the goodbye,
// so that the message is not lost.
func (d Demo) OnDisconnectRequest(ctx context.Context, s *socketio.Socket) error {
	count, err := receiveCount(s)
	if err != nil {
		return err
	}
	return s.Emit(ctx, "my_response", Response{Data: "Disconnected!", Count: count},
		socketio.Callback(func(sid string, args socketio.Args, err error) {
			if err != nil {
				d.Logger.Warn("no ack for the goodbye; staying connected", "sid", sid, "err", err)
				return
			}
			if err := s.Disconnect(context.Background()); err != nil {
				d.Logger.Warn("disconnect failed", "sid", sid, "err", err)
			}
		}))
}

// OnMyPing answers the page's latency probe.
func (d Demo) OnMyPing(ctx context.Context, s *socketio.Socket) error {
	return s.Emit(ctx, "my_pong")
}

// receiveCount counts the events the client sent, in its session.
func receiveCount(s *socketio.Socket) (int, error) {
	var count int
	if _, err := s.Session().Get("receive_count", &count); err != nil {
		return 0, err
	}
	count++
	return count, s.Session().Set("receive_count", count)
}

// emitServerEvents emits a numbered my_response to every client each interval until ctx ends
// (Flask-SocketIO's background thread).
func emitServerEvents(ctx context.Context, server *socketio.Server, interval time.Duration, logger *slog.Logger) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	count := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			count++
			err := server.Emit(ctx, "my_response", Response{Data: "Server generated event", Count: count})
			if err != nil && !errors.Is(err, socketio.ErrNotAttached) && ctx.Err() == nil {
				logger.Warn("background emit failed", "err", err)
			}
		}
	}
}
