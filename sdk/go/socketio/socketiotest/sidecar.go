package socketiotest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/internal/memstream"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

const maxSessionBytes = 64 * 1024

// sidecar plays socketio-sidecar's part of one Backend.Attach stream, in memory: sockets, rooms,
// sessions, acks both ways, connect decisions. Its rules follow the proto's comments and the real
// sidecar's behaviour. Clients of one server share it.
type sidecar struct {
	server *socketio.Server
	end    *memstream.SidecarEnd
	cancel context.CancelFunc
	// Closed when Serve returned and the read loop ended.
	served   chan struct{}
	loopDone chan struct{}
	ready    chan struct{}
	serveErr error
	// Clients using it; guarded by registry.mu.
	refs int

	mu            sync.Mutex
	alwaysConnect bool
	// Namespace -> declared events; a nil set means every event.
	declared map[string]map[string]bool
	sockets  map[string]*socket
	// Namespace -> room -> sids.
	rooms    map[string]map[string]map[string]bool
	waiters  map[*sidecarpb.SidecarMessage]chan struct{}
	nextID   int
	shutdown bool
}

// socket is one client's connection to one namespace.
type socket struct {
	sid       string
	namespace string
	client    *Client
	connected bool
	rejection *ConnectError
	session   []byte
	handshake *sidecarpb.Handshake
	// Server emits awaiting this client's ack: ack id -> the emit's collector.
	nextAckID   uint64
	pendingAcks map[uint64]*ackCollector
	// Client emits awaiting the server's ack: ack id -> where the answer goes.
	nextClientAckID uint64
	awaiting        map[uint64]chan socketio.Args
}

// ackCollector gathers the acks of one Emit with want_ack.
type ackCollector struct {
	requestID uint64
	count     uint32
	awaiting  map[string]bool
	timedOut  []string
	timer     *time.Timer
	finished  bool
}

var registry = struct {
	mu       sync.Mutex
	sidecars map[*socketio.Server]*sidecar
}{sidecars: make(map[*socketio.Server]*sidecar)}

// acquire returns the server's in-memory sidecar, attaching the server to a new one if needed.
func acquire(server *socketio.Server, alwaysConnect bool) (*sidecar, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if existing := registry.sidecars[server]; existing != nil {
		existing.refs++
		return existing, nil
	}
	pipe := memstream.New()
	ctx, cancel := context.WithCancel(context.Background())
	s := &sidecar{
		server:        server,
		end:           pipe.Sidecar(),
		cancel:        cancel,
		served:        make(chan struct{}),
		loopDone:      make(chan struct{}),
		ready:         make(chan struct{}),
		refs:          1,
		alwaysConnect: alwaysConnect,
		declared:      make(map[string]map[string]bool),
		sockets:       make(map[string]*socket),
		rooms:         make(map[string]map[string]map[string]bool),
		waiters:       make(map[*sidecarpb.SidecarMessage]chan struct{}),
	}
	go s.loop()
	go func() {
		defer close(s.served)
		s.serveErr = server.Serve(ctx, pipe.Backend())
	}()
	select {
	case <-s.ready:
	case <-s.served:
		cancel()
		s.end.Close()
		<-s.loopDone
		return nil, fmt.Errorf("socketiotest: the server did not attach: %w", s.serveErr)
	}
	registry.sidecars[server] = s
	return s, nil
}

// release drops a client's reference; the last one detaches the server.
func (s *sidecar) release() {
	registry.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last {
		delete(registry.sidecars, s.server)
	}
	registry.mu.Unlock()
	if !last {
		return
	}
	s.cancel()
	<-s.served
	// Serve closed its side; closing ours ends its read loop if it still runs.
	s.end.Close()
	<-s.loopDone
}

// loop reads the backend's commands and notices until it closes its side.
func (s *sidecar) loop() {
	defer close(s.loopDone)
	greeted := false
	for {
		item, err := s.end.Recv()
		if err != nil {
			break
		}
		s.mu.Lock()
		switch {
		case item.Processed != nil:
			if waiter, ok := s.waiters[item.Processed]; ok {
				close(waiter)
				delete(s.waiters, item.Processed)
			}
		case !greeted:
			greeted = s.greet(item.Message)
		default:
			s.handle(item.Message)
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = true
	for message, waiter := range s.waiters {
		close(waiter)
		delete(s.waiters, message)
	}
	s.end.Close()
}

func (s *sidecar) greet(message *sidecarpb.BackendMessage) bool {
	hello := message.GetHello()
	if hello == nil || len(hello.GetNamespaces()) == 0 {
		s.end.Close()
		return false
	}
	for _, declared := range hello.GetNamespaces() {
		var events map[string]bool
		for _, event := range declared.GetEvents() {
			if string(event) == "*" {
				events = nil
				break
			}
			if events == nil {
				events = make(map[string]bool)
			}
			events[string(event)] = true
		}
		s.declared[declared.GetNamespace()] = events
	}
	s.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_Welcome{Welcome: &sidecarpb.Welcome{
		SidecarVersion:           "socketiotest",
		AlwaysConnect:            s.alwaysConnect,
		ConnectDecisionTimeoutMs: 5000,
	}}})
	close(s.ready)
	return true
}

// send passes a message to the backend; s.mu is held.
func (s *sidecar) send(message *sidecarpb.SidecarMessage) {
	// Fails only once the stream is closed, when nobody listens any more.
	_ = s.end.Send(message)
}

// sendAndWait sends a message and returns a channel closed once the backend processed it (its
// handler returned and the commands it sent were handled here); s.mu is held.
func (s *sidecar) sendAndWait(message *sidecarpb.SidecarMessage) <-chan struct{} {
	waiter := make(chan struct{})
	if s.shutdown {
		close(waiter)
		return waiter
	}
	s.waiters[message] = waiter
	s.send(message)
	return waiter
}

func (s *sidecar) newID() string {
	s.nextID++
	return fmt.Sprintf("test-sid-%d", s.nextID)
}

func (s *sidecar) handles(namespace, event string) bool {
	events, ok := s.declared[namespace]
	return ok && (events == nil || events[event])
}

// result reports a command's outcome: always with a request id, and failures without one.
func (s *sidecar) result(requestID uint64, code sidecarpb.Code, message string, count uint32) {
	if requestID == 0 && code == sidecarpb.Code_CODE_OK_UNSPECIFIED {
		return
	}
	s.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_CommandResult{CommandResult: &sidecarpb.CommandResult{
		RequestId:   requestID,
		Code:        code,
		Message:     message,
		SocketCount: count,
	}}})
}

func (s *sidecar) handle(message *sidecarpb.BackendMessage) {
	switch kind := message.GetKind().(type) {
	case *sidecarpb.BackendMessage_Hello:
		s.result(0, sidecarpb.Code_CODE_FAILED_PRECONDITION, "Hello was already sent on this stream", 0)
	case *sidecarpb.BackendMessage_ConnectDecision:
		s.decide(kind.ConnectDecision)
	case *sidecarpb.BackendMessage_Emit:
		s.emit(kind.Emit)
	case *sidecarpb.BackendMessage_Ack:
		s.ack(kind.Ack)
	case *sidecarpb.BackendMessage_JoinRooms:
		command := kind.JoinRooms
		sockets := s.resolve(command.GetNamespace(), command.GetTarget())
		for _, member := range sockets {
			for _, room := range command.GetRooms() {
				s.join(member, string(room))
			}
		}
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_OK_UNSPECIFIED, "", uint32(len(sockets)))
	case *sidecarpb.BackendMessage_LeaveRooms:
		command := kind.LeaveRooms
		sockets := s.resolve(command.GetNamespace(), command.GetTarget())
		for _, member := range sockets {
			for _, room := range command.GetRooms() {
				s.leave(member, string(room))
			}
		}
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_OK_UNSPECIFIED, "", uint32(len(sockets)))
	case *sidecarpb.BackendMessage_Disconnect:
		command := kind.Disconnect
		sockets := s.resolve(command.GetNamespace(), command.GetTarget())
		for _, member := range sockets {
			s.remove(member, "server namespace disconnect")
			if command.GetCloseTransport() {
				for _, other := range member.client.sockets {
					s.remove(other, "forced server close")
				}
			}
		}
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_OK_UNSPECIFIED, "", uint32(len(sockets)))
	case *sidecarpb.BackendMessage_CloseRoom:
		command := kind.CloseRoom
		members := s.rooms[command.GetNamespace()][string(command.GetRoom())]
		count := uint32(len(members))
		for sid := range members {
			s.leave(s.sockets[sid], string(command.GetRoom()))
		}
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_OK_UNSPECIFIED, "", count)
	case *sidecarpb.BackendMessage_SetSession:
		s.setSession(kind.SetSession)
	case *sidecarpb.BackendMessage_GetSocket:
		s.getSocket(kind.GetSocket)
	default:
		s.result(0, sidecarpb.Code_CODE_INVALID_ARGUMENT, "empty BackendMessage", 0)
	}
}

func (s *sidecar) find(sid, namespace string) *socket {
	found := s.sockets[sid]
	if found == nil || found.namespace != namespace {
		return nil
	}
	return found
}

func (s *sidecar) decide(decision *sidecarpb.ConnectDecision) {
	if decision.GetErrorDataJson() != nil && !json.Valid(decision.GetErrorDataJson()) {
		s.result(0, sidecarpb.Code_CODE_INVALID_ARGUMENT, "ConnectDecision.error_data_json is not JSON", 0)
		return
	}
	if decision.GetSessionJson() != nil && !json.Valid(decision.GetSessionJson()) {
		s.result(0, sidecarpb.Code_CODE_INVALID_ARGUMENT, "ConnectDecision.session_json is not JSON", 0)
		return
	}
	member := s.find(decision.GetSid(), decision.GetNamespace())
	if member == nil {
		return
	}
	if member.connected {
		// always_connect: a late rejection disconnects.
		if !decision.GetAccept() {
			s.remove(member, "server namespace disconnect")
		}
		return
	}
	if !decision.GetAccept() {
		message := string(decision.GetErrorMessage())
		if message == "" {
			message = "Connection rejected by server"
		}
		member.rejection = &ConnectError{Message: message, Data: decision.GetErrorDataJson()}
		delete(s.sockets, member.sid)
		delete(member.client.sockets, member.namespace)
		return
	}
	if len(decision.GetSessionJson()) > 0 {
		member.session = decision.GetSessionJson()
	}
	s.accept(member)
}

func (s *sidecar) accept(member *socket) {
	member.connected = true
	s.join(member, member.sid)
}

func (s *sidecar) join(member *socket, room string) {
	if member == nil || !member.connected {
		return
	}
	rooms := s.rooms[member.namespace]
	if rooms == nil {
		rooms = make(map[string]map[string]bool)
		s.rooms[member.namespace] = rooms
	}
	if rooms[room] == nil {
		rooms[room] = make(map[string]bool)
	}
	rooms[room][member.sid] = true
}

func (s *sidecar) leave(member *socket, room string) {
	if member == nil {
		return
	}
	rooms := s.rooms[member.namespace]
	delete(rooms[room], member.sid)
	if len(rooms[room]) == 0 {
		delete(rooms, room)
	}
}

// remove takes a socket out of its namespace and tells the backend why; s.mu is held.
func (s *sidecar) remove(member *socket, reason string) {
	if message := s.unlink(member, reason); message != nil {
		s.send(message)
	}
}

// removeAndWait is remove, returning a channel closed once the backend processed the
// Disconnected; s.mu is held.
func (s *sidecar) removeAndWait(member *socket, reason string) <-chan struct{} {
	message := s.unlink(member, reason)
	if message == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return s.sendAndWait(message)
}

// unlink forgets a socket and returns the Disconnected to send, or nil if it was gone already.
func (s *sidecar) unlink(member *socket, reason string) *sidecarpb.SidecarMessage {
	if s.sockets[member.sid] != member {
		return nil
	}
	for room, members := range s.rooms[member.namespace] {
		if members[member.sid] {
			s.leave(member, room)
		}
	}
	delete(s.sockets, member.sid)
	delete(member.client.sockets, member.namespace)
	member.connected = false
	for _, collector := range member.pendingAcks {
		s.ackTimedOut(collector, member.sid)
	}
	member.pendingAcks = nil
	return &sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_Disconnected{Disconnected: &sidecarpb.Disconnected{
		Sid:         member.sid,
		Namespace:   member.namespace,
		Reason:      reason,
		SessionJson: member.sessionOrEmpty(),
	}}}
}

// resolve lists the connected sockets a Target names.
func (s *sidecar) resolve(namespace string, target *sidecarpb.Target) []*socket {
	rooms := s.rooms[namespace]
	included := make(map[string]bool)
	if len(target.GetRooms()) == 0 && len(target.GetSids()) == 0 {
		for sid, member := range s.sockets {
			if member.namespace == namespace && member.connected {
				included[sid] = true
			}
		}
	}
	for _, room := range target.GetRooms() {
		for sid := range rooms[string(room)] {
			included[sid] = true
		}
	}
	for _, sid := range target.GetSids() {
		if member := s.find(sid, namespace); member != nil && member.connected {
			included[sid] = true
		}
	}
	for _, room := range target.GetExceptRooms() {
		for sid := range rooms[string(room)] {
			delete(included, sid)
		}
	}
	for _, sid := range target.GetExceptSids() {
		delete(included, sid)
	}
	sockets := make([]*socket, 0, len(included))
	for sid := range included {
		sockets = append(sockets, s.sockets[sid])
	}
	return sockets
}

func (s *sidecar) emit(emit *sidecarpb.Emit) {
	refuse := func(code sidecarpb.Code, message string) { s.result(emit.GetRequestId(), code, message, 0) }
	switch {
	case !strings.HasPrefix(emit.GetNamespace(), "/"):
		refuse(sidecarpb.Code_CODE_INVALID_ARGUMENT, "Emit.namespace must start with '/'")
		return
	case len(emit.GetEvent()) == 0:
		refuse(sidecarpb.Code_CODE_INVALID_ARGUMENT, "Emit.event is empty")
		return
	case emit.GetWantAck() && emit.GetRequestId() == 0:
		s.result(0, sidecarpb.Code_CODE_INVALID_ARGUMENT, "Emit.want_ack needs a request_id", 0)
		return
	}
	args, err := socketio.NewArgs(emit.GetArgs())
	if err != nil {
		refuse(sidecarpb.Code_CODE_INVALID_ARGUMENT, "Emit.args.json: "+err.Error())
		return
	}
	sockets := s.resolve(emit.GetNamespace(), emit.GetTarget())
	event := string(emit.GetEvent())
	if !emit.GetWantAck() {
		for _, member := range sockets {
			member.client.receive(member, event, args, nil)
		}
		s.result(emit.GetRequestId(), sidecarpb.Code_CODE_OK_UNSPECIFIED, "", uint32(len(sockets)))
		return
	}
	collector := &ackCollector{requestID: emit.GetRequestId(), count: uint32(len(sockets)), awaiting: make(map[string]bool)}
	timeout := time.Duration(emit.GetAckTimeoutMs()) * time.Millisecond
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	for _, member := range sockets {
		member.nextAckID++
		id := member.nextAckID
		if member.pendingAcks == nil {
			member.pendingAcks = make(map[uint64]*ackCollector)
		}
		member.pendingAcks[id] = collector
		collector.awaiting[member.sid] = true
		member.client.receive(member, event, args, func(answer *sidecarpb.Payload) {
			s.clientAck(member, id, answer)
		})
	}
	if len(sockets) == 0 {
		s.finish(collector)
		return
	}
	collector.timer = time.AfterFunc(timeout, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for sid := range collector.awaiting {
			s.ackTimedOut(collector, sid)
		}
	})
}

// clientAck is a client's answer to a server emit; s.mu is held.
func (s *sidecar) clientAck(member *socket, id uint64, answer *sidecarpb.Payload) {
	collector := member.pendingAcks[id]
	if collector == nil || !collector.awaiting[member.sid] {
		return
	}
	delete(member.pendingAcks, id)
	delete(collector.awaiting, member.sid)
	s.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_ClientAck{ClientAck: &sidecarpb.ClientAck{
		RequestId: collector.requestID,
		Sid:       member.sid,
		Args:      answer,
	}}})
	if len(collector.awaiting) == 0 {
		s.finish(collector)
	}
}

func (s *sidecar) ackTimedOut(collector *ackCollector, sid string) {
	if !collector.awaiting[sid] {
		return
	}
	delete(collector.awaiting, sid)
	collector.timedOut = append(collector.timedOut, sid)
	if member := s.sockets[sid]; member != nil {
		for id, pending := range member.pendingAcks {
			if pending == collector {
				delete(member.pendingAcks, id)
			}
		}
	}
	if len(collector.awaiting) == 0 {
		s.finish(collector)
	}
}

func (s *sidecar) finish(collector *ackCollector) {
	if collector.finished {
		return
	}
	collector.finished = true
	if collector.timer != nil {
		collector.timer.Stop()
	}
	s.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_CommandResult{CommandResult: &sidecarpb.CommandResult{
		RequestId:       collector.requestID,
		SocketCount:     collector.count,
		AckTimedOutSids: collector.timedOut,
	}}})
}

// ack is the server's answer to a client's emit.
func (s *sidecar) ack(ack *sidecarpb.Ack) {
	args, err := socketio.NewArgs(ack.GetArgs())
	if err != nil {
		s.result(0, sidecarpb.Code_CODE_INVALID_ARGUMENT, "Ack.args.json: "+err.Error(), 0)
		return
	}
	member := s.find(ack.GetSid(), ack.GetNamespace())
	if member == nil || !member.connected {
		return
	}
	if answer, ok := member.awaiting[ack.GetAckId()]; ok {
		delete(member.awaiting, ack.GetAckId())
		answer <- args
	}
}

func (s *sidecar) setSession(command *sidecarpb.SetSession) {
	switch {
	case len(command.GetSessionJson()) > maxSessionBytes:
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_RESOURCE_EXHAUSTED, fmt.Sprintf("SetSession.session_json is larger than %d bytes", maxSessionBytes), 0)
		return
	case !json.Valid(command.GetSessionJson()):
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_INVALID_ARGUMENT, "SetSession.session_json is not JSON", 0)
		return
	}
	member := s.find(command.GetSid(), command.GetNamespace())
	if member == nil {
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_NOT_FOUND, fmt.Sprintf("no socket %s in namespace %s", command.GetSid(), command.GetNamespace()), 0)
		return
	}
	member.session = command.GetSessionJson()
	s.result(command.GetRequestId(), sidecarpb.Code_CODE_OK_UNSPECIFIED, "", 1)
}

func (s *sidecar) getSocket(command *sidecarpb.GetSocket) {
	member := s.find(command.GetSid(), command.GetNamespace())
	if member == nil {
		s.result(command.GetRequestId(), sidecarpb.Code_CODE_NOT_FOUND, fmt.Sprintf("no socket %s in namespace %s", command.GetSid(), command.GetNamespace()), 0)
		return
	}
	info := &sidecarpb.SocketInfo{Sid: member.sid, Namespace: member.namespace, SessionJson: member.sessionOrEmpty(), Handshake: member.handshake}
	for room, members := range s.rooms[member.namespace] {
		if members[member.sid] {
			info.Rooms = append(info.Rooms, []byte(room))
		}
	}
	slices.SortFunc(info.Rooms, bytes.Compare)
	s.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_CommandResult{CommandResult: &sidecarpb.CommandResult{
		RequestId:   command.GetRequestId(),
		SocketCount: 1,
		Socket:      info,
	}}})
}

func (m *socket) sessionOrEmpty() []byte {
	if len(m.session) == 0 {
		return []byte("{}")
	}
	return m.session
}
