package socketio

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

// EmitOption changes where and how an event is emitted. Emit and Call take options mixed with the
// event's arguments: a value implementing EmitOption is an option, never an argument.
type EmitOption interface{ applyEmit(*emitSettings) }

// CommandOption changes a room or disconnect command of the Server.
type CommandOption interface{ applyCommand(*commandSettings) }

type emitSettings struct {
	namespace   string
	rooms       []string
	exceptRooms []string
	exceptSIDs  []string
	excludeSelf bool
	broadcast   bool
	callback    func(sid string, args Args, err error)
	timeout     time.Duration
	volatile    bool
}

type commandSettings struct {
	namespace string
}

type emitOption func(*emitSettings)

func (o emitOption) applyEmit(settings *emitSettings) { o(settings) }

// NamespaceOption is both an EmitOption and a CommandOption; see Namespace.
type NamespaceOption string

func (o NamespaceOption) applyEmit(settings *emitSettings)       { settings.namespace = string(o) }
func (o NamespaceOption) applyCommand(settings *commandSettings) { settings.namespace = string(o) }

// Namespace chooses the namespace, instead of the socket's (for a Socket's methods) or "/" (for
// the Server's).
func Namespace(ns string) NamespaceOption { return NamespaceOption(ns) }

// To sends to the sockets in any of these rooms (a sid names a room holding just that socket),
// instead of to the socket itself (for Socket.Emit) or to the whole namespace (for Server.Emit).
// Several To options add up.
func To(rooms ...string) EmitOption {
	return emitOption(func(s *emitSettings) { s.rooms = append(s.rooms, rooms...) })
}

// Except leaves out the sockets in any of these rooms (socket.io's except).
func Except(rooms ...string) EmitOption {
	return emitOption(func(s *emitSettings) { s.exceptRooms = append(s.exceptRooms, rooms...) })
}

// SkipSID leaves out these sockets (Flask-SocketIO's skip_sid).
func SkipSID(sids ...string) EmitOption {
	return emitOption(func(s *emitSettings) { s.exceptSIDs = append(s.exceptSIDs, sids...) })
}

// IncludeSelf(false) leaves the emitting socket out of a broadcast or room emit
// (Flask-SocketIO's include_self, true by default). Only Socket's methods have a self.
func IncludeSelf(include bool) EmitOption {
	return emitOption(func(s *emitSettings) { s.excludeSelf = !include })
}

// Broadcast sends a Socket's emit to every socket of the namespace rather than to the socket
// (Flask-SocketIO's broadcast=True). Server.Emit broadcasts already.
func Broadcast() EmitOption {
	return emitOption(func(s *emitSettings) { s.broadcast = true })
}

// Callback asks every receiving client for an ack (Flask-SocketIO's callback). fn runs once per
// client: with its ack's arguments, or with ErrAckTimeout if it did not answer in time (see
// Timeout). Callbacks of one socket run in order with its handlers.
func Callback(fn func(sid string, args Args, err error)) EmitOption {
	return emitOption(func(s *emitSettings) { s.callback = fn })
}

// Timeout sets how long Callback and Call wait for acks (default WithAckTimeout's).
func Timeout(timeout time.Duration) EmitOption {
	return emitOption(func(s *emitSettings) { s.timeout = timeout })
}

// Volatile lets the sidecar drop the event for clients that are not keeping up, instead of
// queuing it (socket.io's volatile).
func Volatile() EmitOption {
	return emitOption(func(s *emitSettings) { s.volatile = true })
}

func splitEmitArgs(items []any) ([]any, emitSettings) {
	var settings emitSettings
	values := make([]any, 0, len(items))
	for _, item := range items {
		if option, ok := item.(EmitOption); ok {
			option.applyEmit(&settings)
			continue
		}
		values = append(values, item)
	}
	return values, settings
}

func commandNamespace(defaultNamespace string, options []CommandOption) string {
	settings := commandSettings{namespace: defaultNamespace}
	for _, option := range options {
		option.applyCommand(&settings)
	}
	return settings.namespace
}

// Emit sends an event to every socket of a namespace ("/" unless Namespace says otherwise), or to
// rooms with To. args are the event's arguments, mixed with EmitOptions. Emit returns once the
// event is on its way; a failure the sidecar reports later goes to the default error handler.
func (s *Server) Emit(ctx context.Context, event string, args ...any) error {
	values, settings := splitEmitArgs(args)
	return s.emit(ctx, nil, "/", event, values, settings)
}

// Send emits a "message" event, which clients receive with on("message") (Flask-SocketIO's send).
func (s *Server) Send(ctx context.Context, message any, options ...EmitOption) error {
	return s.Emit(ctx, "message", append([]any{message}, toAny(options)...)...)
}

// Call emits an event to one client, named by To(sid), and waits for its ack
// (Flask-SocketIO's call). It gives up with ErrAckTimeout after the Timeout option, the context's
// deadline or WithAckTimeout's, whichever comes first.
func (s *Server) Call(ctx context.Context, event string, args ...any) (Args, error) {
	values, settings := splitEmitArgs(args)
	return s.call(ctx, nil, "/", event, values, settings)
}

// JoinRoom puts the socket sid into room (Flask-SocketIO's join_room).
func (s *Server) JoinRoom(ctx context.Context, sid, room string, options ...CommandOption) error {
	return s.joinOrLeave(ctx, nil, commandNamespace("/", options), sid, room, true)
}

// LeaveRoom takes the socket sid out of room (leave_room).
func (s *Server) LeaveRoom(ctx context.Context, sid, room string, options ...CommandOption) error {
	return s.joinOrLeave(ctx, nil, commandNamespace("/", options), sid, room, false)
}

// CloseRoom takes every socket out of room (close_room).
func (s *Server) CloseRoom(ctx context.Context, room string, options ...CommandOption) error {
	return s.closeRoom(ctx, nil, commandNamespace("/", options), room)
}

// Rooms lists the rooms the socket sid is in, including its own sid (rooms).
func (s *Server) Rooms(ctx context.Context, sid string, options ...CommandOption) ([]string, error) {
	info, err := s.getSocket(ctx, sid, commandNamespace("/", options))
	if err != nil {
		return nil, err
	}
	return roomNames(info), nil
}

// Disconnect disconnects the socket sid from its namespace (disconnect); the client sees
// "io server disconnect" and does not reconnect by itself.
func (s *Server) Disconnect(ctx context.Context, sid string, options ...CommandOption) error {
	return s.disconnect(ctx, nil, commandNamespace("/", options), sid)
}

// Emit sends an event to this client (Flask-SocketIO's emit in a handler), or elsewhere with
// To, Broadcast, Namespace...; args are the event's arguments, mixed with EmitOptions. Emit
// returns once the event is on its way; a failure the sidecar reports later goes to the default
// error handler. Emits from the connect handler reach the client after it is accepted.
func (s *Socket) Emit(ctx context.Context, event string, args ...any) error {
	values, settings := splitEmitArgs(args)
	return s.server.emit(ctx, s.conn, s.conn.namespace, event, values, settings)
}

// Send emits a "message" event to this client, or elsewhere with options (Flask-SocketIO's send).
func (s *Socket) Send(ctx context.Context, message any, options ...EmitOption) error {
	return s.Emit(ctx, "message", append([]any{message}, toAny(options)...)...)
}

// Call emits an event to this client and waits for its ack; see Server.Call. It returns
// ErrConnecting from the connect handler.
func (s *Socket) Call(ctx context.Context, event string, args ...any) (Args, error) {
	s.conn.mu.Lock()
	connecting := s.conn.deferring
	s.conn.mu.Unlock()
	if connecting {
		return Args{}, fmt.Errorf("socketio: Call(%q): %w", event, ErrConnecting)
	}
	values, settings := splitEmitArgs(args)
	return s.server.call(ctx, s.conn, s.conn.namespace, event, values, settings)
}

// JoinRoom puts this socket into room.
func (s *Socket) JoinRoom(ctx context.Context, room string) error {
	return s.server.joinOrLeave(ctx, s.conn, s.conn.namespace, s.conn.sid, room, true)
}

// LeaveRoom takes this socket out of room.
func (s *Socket) LeaveRoom(ctx context.Context, room string) error {
	return s.server.joinOrLeave(ctx, s.conn, s.conn.namespace, s.conn.sid, room, false)
}

// CloseRoom takes every socket of this namespace out of room.
func (s *Socket) CloseRoom(ctx context.Context, room string) error {
	return s.server.closeRoom(ctx, s.conn, s.conn.namespace, room)
}

// Rooms lists the rooms this socket is in, including its own sid.
func (s *Socket) Rooms(ctx context.Context) ([]string, error) {
	info, err := s.server.getSocket(ctx, s.conn.sid, s.conn.namespace)
	if err != nil {
		return nil, err
	}
	return roomNames(info), nil
}

// Disconnect disconnects this socket from its namespace. Its disconnect handler runs after the
// current handler.
func (s *Socket) Disconnect(ctx context.Context) error {
	return s.server.disconnect(ctx, s.conn, s.conn.namespace, s.conn.sid)
}

func toAny(options []EmitOption) []any {
	items := make([]any, len(options))
	for i, option := range options {
		items[i] = option
	}
	return items
}

func roomNames(info *sidecarpb.SocketInfo) []string {
	rooms := make([]string, len(info.GetRooms()))
	for i, room := range info.GetRooms() {
		rooms[i] = string(room)
	}
	return rooms
}

func bytesList(items []string) [][]byte {
	if len(items) == 0 {
		return nil
	}
	list := make([][]byte, len(items))
	for i, item := range items {
		list[i] = []byte(item)
	}
	return list
}

// emitMessage builds an Emit. via is the emitting socket, or nil for the Server's emits.
func emitMessage(via *conn, defaultNamespace, event string, values []any, settings emitSettings) (*sidecarpb.Emit, error) {
	if event == "" {
		return nil, fmt.Errorf("socketio: emit needs an event name")
	}
	payload, err := EncodePayload(values...)
	if err != nil {
		return nil, err
	}
	ns := defaultNamespace
	if settings.namespace != "" {
		ns = settings.namespace
	}
	target := &sidecarpb.Target{
		Rooms:       bytesList(settings.rooms),
		ExceptRooms: bytesList(settings.exceptRooms),
		ExceptSids:  settings.exceptSIDs,
	}
	if via != nil {
		if len(settings.rooms) == 0 && !settings.broadcast {
			target.Sids = []string{via.sid}
		}
		if settings.excludeSelf {
			target.ExceptSids = append(target.ExceptSids, via.sid)
		}
	}
	return &sidecarpb.Emit{Namespace: ns, Event: []byte(event), Args: payload, Target: target, IsVolatile: settings.volatile}, nil
}

func (s *Server) emit(ctx context.Context, via *conn, defaultNamespace, event string, values []any, settings emitSettings) error {
	emit, err := emitMessage(via, defaultNamespace, event, values, settings)
	if err != nil {
		return err
	}
	message := &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_Emit{Emit: emit}}
	if settings.callback == nil {
		if err := s.sendVia(via, message); err != nil {
			return fmt.Errorf("socketio: emit %q: %w", event, err)
		}
		return nil
	}
	a := s.current()
	if a == nil {
		return fmt.Errorf("socketio: emit %q: %w", event, ErrNotAttached)
	}
	emit.WantAck = true
	emit.AckTimeoutMs = ackTimeoutMs(ctx, settings.timeout, s.cfg.ackTimeout)
	emit.RequestId = s.nextRequestID.Add(1)
	callback := settings.callback
	runCallback := func(sid string, args Args, ackErr error) {
		run := func() {
			if err := safely(func() error { callback(sid, args, ackErr); return nil }); err != nil {
				s.reportError(a.ctx, emit.GetNamespace(), nil, err)
			}
		}
		if c := s.existingConn(sid); c != nil {
			a.enqueue(c, nil, run)
		} else {
			go run()
		}
	}
	request := &pendingRequest{
		onAck: func(ack *sidecarpb.ClientAck) {
			args, err := NewArgs(ack.GetArgs())
			runCallback(ack.GetSid(), args, err)
		},
		onResult: func(result *sidecarpb.CommandResult, _ uint64) {
			for _, sid := range result.GetAckTimedOutSids() {
				runCallback(sid, Args{}, ErrAckTimeout)
			}
			if err := resultError("Emit", result); err != nil {
				go s.reportError(a.ctx, emit.GetNamespace(), nil, fmt.Errorf("socketio: emit %q: %w", event, err))
			}
		},
		onClose: func(reason error) {
			go s.reportError(a.ctx, emit.GetNamespace(), nil, fmt.Errorf("socketio: emit %q, waiting for acks: %w", event, reason))
		},
	}
	if err := a.register(emit.RequestId, request); err != nil {
		return fmt.Errorf("socketio: emit %q: %w", event, err)
	}
	if err := s.sendVia(via, message); err != nil {
		a.unregister(emit.RequestId)
		return fmt.Errorf("socketio: emit %q: %w", event, err)
	}
	return nil
}

func (s *Server) call(ctx context.Context, via *conn, defaultNamespace, event string, values []any, settings emitSettings) (Args, error) {
	emit, err := emitMessage(via, defaultNamespace, event, values, settings)
	if err != nil {
		return Args{}, err
	}
	a := s.current()
	if a == nil {
		return Args{}, fmt.Errorf("socketio: call %q: %w", event, ErrNotAttached)
	}
	emit.WantAck = true
	emit.AckTimeoutMs = ackTimeoutMs(ctx, settings.timeout, s.cfg.ackTimeout)
	emit.RequestId = s.nextRequestID.Add(1)
	type answer struct {
		args Args
		err  error
	}
	answers := make(chan answer, 1)
	deliver := func(got answer) {
		select {
		case answers <- got:
		default: // the first answer wins
		}
	}
	request := &pendingRequest{
		onAck: func(ack *sidecarpb.ClientAck) {
			args, err := NewArgs(ack.GetArgs())
			deliver(answer{args, err})
		},
		onResult: func(result *sidecarpb.CommandResult, _ uint64) {
			if err := resultError("Emit", result); err != nil {
				deliver(answer{err: err})
			} else if result.GetSocketCount() == 0 {
				deliver(answer{err: ErrNoSocket})
			} else {
				deliver(answer{err: ErrAckTimeout})
			}
		},
		onClose: func(reason error) { deliver(answer{err: reason}) },
	}
	if err := a.register(emit.RequestId, request); err != nil {
		return Args{}, fmt.Errorf("socketio: call %q: %w", event, err)
	}
	if err := s.sendVia(via, &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_Emit{Emit: emit}}); err != nil {
		a.unregister(emit.RequestId)
		return Args{}, fmt.Errorf("socketio: call %q: %w", event, err)
	}
	select {
	case got := <-answers:
		if got.err != nil {
			return Args{}, fmt.Errorf("socketio: call %q: %w", event, got.err)
		}
		return got.args, nil
	case <-ctx.Done():
		return Args{}, fmt.Errorf("socketio: call %q: %w", event, ctx.Err())
	}
}

// ackTimeoutMs is the ack timeout to ask the sidecar for: the option's, else the default, cut
// short by the context's deadline.
func ackTimeoutMs(ctx context.Context, option, fallback time.Duration) uint32 {
	timeout := fallback
	if option > 0 {
		timeout = option
	}
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	ms := timeout.Milliseconds()
	switch {
	case ms < 1:
		return 1
	case ms > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(ms)
}

// sendVia sends a command, or, while via's connect handler runs, keeps it until the decision.
func (s *Server) sendVia(via *conn, message *sidecarpb.BackendMessage) error {
	if via != nil {
		via.mu.Lock()
		if via.deferring {
			via.deferred = append(via.deferred, message)
			via.mu.Unlock()
			return nil
		}
		via.mu.Unlock()
	}
	return s.send(message)
}

// requestSpec describes a command sent with a request id.
type requestSpec struct {
	// via is the socket on whose behalf the command goes, if any: while its connect handler runs,
	// the command follows the connect decision and nobody waits for it.
	via     *conn
	command string
	message *sidecarpb.BackendMessage
	// wait: return the CommandResult. Otherwise return once sent; a failure goes to the error
	// handler.
	wait bool
	// assigned, if set, learns the request id before the command is sent.
	assigned func(id uint64)
	// then, if set, sees the result on the read loop before anyone else; it must not block.
	then func(result *sidecarpb.CommandResult, seq uint64)
}

// request sends a command with a fresh request id and, if asked, waits for its CommandResult.
func (s *Server) request(ctx context.Context, spec requestSpec) (*sidecarpb.CommandResult, error) {
	a := s.current()
	if a == nil {
		return nil, ErrNotAttached
	}
	id := s.nextRequestID.Add(1)
	setRequestID(spec.message, id)
	if spec.assigned != nil {
		spec.assigned(id)
	}
	waiting := spec.wait
	namespace := ""
	if spec.via != nil {
		namespace = spec.via.namespace
		spec.via.mu.Lock()
		waiting = waiting && !spec.via.deferring
		spec.via.mu.Unlock()
	}
	results := make(chan *sidecarpb.CommandResult, 1)
	closed := make(chan error, 1)
	request := &pendingRequest{
		onResult: func(result *sidecarpb.CommandResult, seq uint64) {
			if spec.then != nil {
				spec.then(result, seq)
			}
			if waiting {
				results <- result
			} else if err := resultError(spec.command, result); err != nil {
				go s.reportError(a.ctx, namespace, nil, err)
			}
		},
		onClose: func(reason error) { closed <- reason },
	}
	if err := a.register(id, request); err != nil {
		return nil, err
	}
	if err := s.sendVia(spec.via, spec.message); err != nil {
		a.unregister(id)
		return nil, err
	}
	if !waiting {
		return nil, nil
	}
	select {
	case result := <-results:
		if err := resultError(spec.command, result); err != nil {
			return nil, err
		}
		return result, nil
	case reason := <-closed:
		return nil, reason
	case <-ctx.Done():
		a.unregister(id)
		return nil, ctx.Err()
	}
}

func setRequestID(message *sidecarpb.BackendMessage, id uint64) {
	switch kind := message.GetKind().(type) {
	case *sidecarpb.BackendMessage_Emit:
		kind.Emit.RequestId = id
	case *sidecarpb.BackendMessage_JoinRooms:
		kind.JoinRooms.RequestId = id
	case *sidecarpb.BackendMessage_LeaveRooms:
		kind.LeaveRooms.RequestId = id
	case *sidecarpb.BackendMessage_Disconnect:
		kind.Disconnect.RequestId = id
	case *sidecarpb.BackendMessage_CloseRoom:
		kind.CloseRoom.RequestId = id
	case *sidecarpb.BackendMessage_SetSession:
		kind.SetSession.RequestId = id
	case *sidecarpb.BackendMessage_GetSocket:
		kind.GetSocket.RequestId = id
	}
}

func resultError(command string, result *sidecarpb.CommandResult) error {
	if result.GetCode() == sidecarpb.Code_CODE_OK_UNSPECIFIED {
		return nil
	}
	return &CommandError{Command: command, Code: result.GetCode(), Message: result.GetMessage()}
}

func (s *Server) joinOrLeave(ctx context.Context, via *conn, ns, sid, room string, join bool) error {
	target := &sidecarpb.Target{Sids: []string{sid}}
	rooms := [][]byte{[]byte(room)}
	command := "JoinRooms"
	message := &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_JoinRooms{JoinRooms: &sidecarpb.JoinRooms{Namespace: ns, Target: target, Rooms: rooms}}}
	if !join {
		command = "LeaveRooms"
		message = &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_LeaveRooms{LeaveRooms: &sidecarpb.LeaveRooms{Namespace: ns, Target: target, Rooms: rooms}}}
	}
	result, err := s.request(ctx, requestSpec{via: via, command: command, message: message, wait: true})
	if err == nil && result != nil && result.GetSocketCount() == 0 {
		err = ErrNoSocket
	}
	if err != nil {
		return fmt.Errorf("socketio: %s %q for %s in %s: %w", command, room, sid, ns, err)
	}
	return nil
}

func (s *Server) closeRoom(ctx context.Context, via *conn, ns, room string) error {
	message := &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_CloseRoom{CloseRoom: &sidecarpb.CloseRoom{Namespace: ns, Room: []byte(room)}}}
	if _, err := s.request(ctx, requestSpec{via: via, command: "CloseRoom", message: message, wait: true}); err != nil {
		return fmt.Errorf("socketio: CloseRoom %q in %s: %w", room, ns, err)
	}
	return nil
}

func (s *Server) disconnect(ctx context.Context, via *conn, ns, sid string) error {
	message := &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_Disconnect{Disconnect: &sidecarpb.Disconnect{Namespace: ns, Target: &sidecarpb.Target{Sids: []string{sid}}}}}
	if _, err := s.request(ctx, requestSpec{via: via, command: "Disconnect", message: message, wait: true}); err != nil {
		return fmt.Errorf("socketio: Disconnect %s from %s: %w", sid, ns, err)
	}
	return nil
}

func (s *Server) getSocket(ctx context.Context, sid, ns string) (*sidecarpb.SocketInfo, error) {
	message := &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_GetSocket{GetSocket: &sidecarpb.GetSocket{Sid: sid, Namespace: ns}}}
	result, err := s.request(ctx, requestSpec{command: "GetSocket", message: message, wait: true})
	if err != nil {
		return nil, fmt.Errorf("socketio: GetSocket %s in %s: %w", sid, ns, err)
	}
	return result.GetSocket(), nil
}

// writeSession sends a socket's session and, if wait, waits until the sidecar stored it. Until the
// sidecar confirms it, and for every event that left the sidecar before that, handlers see this
// session rather than the one the event carries (see conn.localSession).
func (s *Server) writeSession(ctx context.Context, c *conn, encoded []byte, wait bool) error {
	message := &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_SetSession{SetSession: &sidecarpb.SetSession{Sid: c.sid, Namespace: c.namespace, SessionJson: encoded}}}
	_, err := s.request(ctx, requestSpec{
		via:     c,
		command: "SetSession",
		message: message,
		wait:    wait,
		assigned: func(id uint64) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.localSession = encoded
			c.sessionRequest = id
			c.sessionFreshAfter = math.MaxUint64
		},
		then: func(result *sidecarpb.CommandResult, seq uint64) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.sessionRequest == result.GetRequestId() {
				c.sessionFreshAfter = seq
			}
		},
	})
	if err != nil {
		err = fmt.Errorf("socketio: saving the session of %s: %w", c.sid, err)
		if !wait {
			s.reportError(ctx, c.namespace, nil, err)
		}
	}
	return err
}
