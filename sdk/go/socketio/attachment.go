package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/internal/memstream"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

// attachment is one open stream to a sidecar and what waits on it.
type attachment struct {
	server   *Server
	stream   Stream
	notifier memstream.Notifier
	info     AttachInfo

	// Handlers' context: it outlives the Serve context by the graceful shutdown.
	ctx    context.Context
	cancel context.CancelFunc

	sendMu sync.Mutex

	// With batches (the sidecar accepts them), a goroutine that finds another's Send in flight
	// queues its message, and the sending one sends the queue next as one BackendBatch.
	batches     bool
	queueMu     sync.Mutex
	drained     *sync.Cond // the queue shrank or the sending goroutine stopped
	sending     bool
	sendErr     error
	queued      []queuedMessage
	queuedBytes int

	mu       sync.Mutex
	closed   bool
	closeErr error
	done     chan struct{}
	pending  map[uint64]*pendingRequest

	inflight tracker
	// Number of the last message read; only the read loop touches it.
	seq uint64
}

type queuedMessage struct {
	message *sidecarpb.BackendMessage
	size    int
}

// pendingRequest is a command waiting for its CommandResult (and, for emits with acks, for the
// ClientAcks before it). Its functions run on the read loop and must not block.
type pendingRequest struct {
	onAck    func(ack *sidecarpb.ClientAck)
	onResult func(result *sidecarpb.CommandResult, seq uint64)
	onClose  func(err error)
}

func newAttachment(ctx context.Context, server *Server, stream Stream, welcome *sidecarpb.Welcome) *attachment {
	handlerCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a := &attachment{
		server: server,
		stream: stream,
		info: AttachInfo{
			SidecarVersion:         welcome.GetSidecarVersion(),
			AlwaysConnect:          welcome.GetAlwaysConnect(),
			ConnectDecisionTimeout: time.Duration(welcome.GetConnectDecisionTimeoutMs()) * time.Millisecond,
		},
		ctx:     handlerCtx,
		cancel:  cancel,
		done:    make(chan struct{}),
		pending: make(map[uint64]*pendingRequest),
	}
	a.notifier, _ = stream.(memstream.Notifier)
	// A stream told when each message was processed wants the commands before the notice; a
	// queued command could follow it.
	a.batches = welcome.GetAcceptsBatches() && a.notifier == nil
	a.drained = sync.NewCond(&a.queueMu)
	return a
}

func (a *attachment) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

const (
	// A batch stays far below the sidecar's 4 MiB receive limit; a larger message goes alone.
	maxBatchBytes = 1 << 20
	// Past this much queued, senders wait for the stream (a sidecar that stopped reading).
	maxQueuedBytes = 8 * maxBatchBytes
)

// send sends a command. With batches, nil means sent or queued behind a Send in flight: a queued
// message the stream then fails to carry is lost as one sent into a breaking stream would be.
func (a *attachment) send(message *sidecarpb.BackendMessage) error {
	if a.isClosed() {
		return ErrNotAttached
	}
	if !a.batches {
		return a.sendNow(message)
	}
	a.queueMu.Lock()
	for a.sending && a.sendErr == nil && a.queuedBytes >= maxQueuedBytes {
		a.drained.Wait()
	}
	if a.sendErr != nil {
		a.queueMu.Unlock()
		return a.sendErr
	}
	if a.sending {
		size := proto.Size(message)
		a.queued = append(a.queued, queuedMessage{message, size})
		a.queuedBytes += size
		a.queueMu.Unlock()
		return nil
	}
	// This goroutine sends its own message, then whatever others queued meanwhile; nothing waits
	// to fill a batch.
	a.sending = true
	a.queueMu.Unlock()
	first := a.sendNow(message)
	err := first
	a.queueMu.Lock()
	for err == nil && len(a.queued) > 0 {
		next := a.takeQueued()
		a.drained.Broadcast()
		a.queueMu.Unlock()
		err = a.sendNow(next)
		a.queueMu.Lock()
	}
	if err != nil {
		a.sendErr = err
		a.queued = nil
		a.queuedBytes = 0
	}
	a.sending = false
	a.drained.Broadcast()
	a.queueMu.Unlock()
	return first
}

// takeQueued removes the queued messages, up to a batch's bound, as one message; under queueMu.
func (a *attachment) takeQueued() *sidecarpb.BackendMessage {
	// As many queued messages as fit in a batch; one alone is sent as it is.
	taken, bytes := 1, a.queued[0].size
	for taken < len(a.queued) && bytes+a.queued[taken].size <= maxBatchBytes {
		bytes += a.queued[taken].size
		taken++
	}
	next := a.queued[0].message
	if taken > 1 {
		batch := &sidecarpb.BackendBatch{Messages: make([]*sidecarpb.BackendMessage, taken)}
		for i := range taken {
			batch.Messages[i] = a.queued[i].message
		}
		next = &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_Batch{Batch: batch}}
	}
	rest := copy(a.queued, a.queued[taken:])
	clear(a.queued[rest:])
	a.queued = a.queued[:rest]
	a.queuedBytes -= bytes
	return next
}

func (a *attachment) sendNow(message *sidecarpb.BackendMessage) error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	if err := a.stream.Send(message); err != nil {
		return fmt.Errorf("socketio: sending to the sidecar: %w", err)
	}
	return nil
}

func (a *attachment) register(id uint64, request *pendingRequest) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrNotAttached
	}
	a.pending[id] = request
	return nil
}

func (a *attachment) unregister(id uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.pending, id)
}

func (a *attachment) lookup(id uint64, remove bool) *pendingRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	request := a.pending[id]
	if remove {
		delete(a.pending, id)
	}
	return request
}

func (a *attachment) close(reason error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	a.closeErr = reason
	pending := a.pending
	a.pending = nil
	close(a.done)
	a.mu.Unlock()
	a.cancel()
	for _, request := range pending {
		if request.onClose != nil {
			request.onClose(reason)
		}
	}
}

// readLoop reads until the stream ends; nil means the sidecar ended it cleanly.
func (a *attachment) readLoop() error {
	for {
		message, err := a.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.isClosed() {
			continue
		}
		if batch := message.GetBatch(); batch != nil {
			for _, each := range batch.GetMessages() {
				a.seq++
				a.dispatch(each, a.seq)
			}
			continue
		}
		a.seq++
		a.dispatch(message, a.seq)
	}
}

func (a *attachment) dispatch(message *sidecarpb.SidecarMessage, seq uint64) {
	s := a.server
	switch kind := message.GetKind().(type) {
	case *sidecarpb.SidecarMessage_Connect:
		connect := kind.Connect
		c := s.conn(connect.GetSid(), connect.GetNamespace())
		a.enqueue(c, message, func() { s.handleConnect(a, c, connect) })
	case *sidecarpb.SidecarMessage_Adopted:
		// The socket's previous backend went away: we serve it now, without a connect handler.
		adopted := kind.Adopted
		c := s.conn(adopted.GetSid(), adopted.GetNamespace())
		a.enqueue(c, message, func() { s.handleAdopted(c, adopted) })
	case *sidecarpb.SidecarMessage_Event:
		event := kind.Event
		c := s.conn(event.GetSid(), event.GetNamespace())
		a.enqueue(c, message, func() { s.handleEvent(a, c, event, seq) })
	case *sidecarpb.SidecarMessage_Disconnected:
		disconnected := kind.Disconnected
		c := s.conn(disconnected.GetSid(), disconnected.GetNamespace())
		a.enqueue(c, message, func() { s.handleDisconnected(a, c, disconnected, seq) })
	case *sidecarpb.SidecarMessage_ClientAck:
		if request := a.lookup(kind.ClientAck.GetRequestId(), false); request != nil && request.onAck != nil {
			request.onAck(kind.ClientAck)
		}
	case *sidecarpb.SidecarMessage_CommandResult:
		result := kind.CommandResult
		if result.GetRequestId() == 0 {
			// A command sent without a request id failed; nothing else knows of it.
			go s.reportError(a.ctx, "", nil, &CommandError{Code: result.GetCode(), Message: result.GetMessage()})
			return
		}
		if request := a.lookup(result.GetRequestId(), true); request != nil && request.onResult != nil {
			request.onResult(result, seq)
		}
	default:
		s.cfg.logger.Warn("socketio: unexpected message from the sidecar", "kind", fmt.Sprintf("%T", kind))
	}
}

// enqueue runs task after the socket's earlier work (or after all earlier work, without async
// handlers), then tells an in-memory sidecar that message was processed.
func (a *attachment) enqueue(c *conn, message *sidecarpb.SidecarMessage, task func()) {
	a.inflight.add()
	run := func() {
		defer a.inflight.done()
		if !a.isClosed() {
			task()
		}
		if message != nil && a.notifier != nil {
			a.notifier.Processed(message)
		}
	}
	if a.server.cfg.asyncHandlers {
		c.queue.push(run)
	} else {
		a.server.global.push(run)
	}
}

// safely runs a handler, turning a panic into a *PanicError.
func safely(call func() error) (err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			err = &PanicError{Value: recovered, Stack: debug.Stack()}
		}
	}()
	return call()
}

func (s *Server) handleConnect(a *attachment, c *conn, connect *sidecarpb.Connect) {
	auth := json.RawMessage(connect.GetAuthJson())
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	// A recovered socket is connected already, as with always_connect, and has its session back.
	recovered := connect.GetRecovered()
	connected := a.info.AlwaysConnect || recovered
	c.mu.Lock()
	c.known = true
	c.recovered = recovered
	c.engineSID = connect.GetEngineSid()
	c.handshake = encodeHandshake(connect.GetHandshake())
	c.auth = auth
	c.rejected = false
	c.deferring = !connected
	c.deferred = nil
	c.localSession = nil
	c.mu.Unlock()

	var stored []byte
	if recovered {
		stored = connect.GetSessionJson()
	}
	socket := &Socket{server: s, conn: c, event: "connect", session: newSession(stored)}
	ctx := a.ctx
	if timeout := a.info.ConnectDecisionTimeout; timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var err error
	if handlers := s.lookup(c.namespace); handlers != nil && handlers.connect != nil {
		err = safely(func() error { return handlers.connect(ctx, socket, auth) })
	}
	if err != nil {
		s.reject(ctx, a, c, socket, err, connected)
		return
	}
	encoded, dirty := socket.session.take()
	if connected {
		if dirty {
			s.writeSession(ctx, c, encoded, false)
		}
		return
	}
	decision := &sidecarpb.ConnectDecision{Sid: c.sid, Namespace: c.namespace, Accept: true}
	if dirty {
		decision.SessionJson = encoded
	}
	// Under the lock, so that commands the socket's goroutines send meanwhile follow the deferred.
	c.mu.Lock()
	deferred := c.deferred
	c.deferring = false
	c.deferred = nil
	err = a.send(&sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_ConnectDecision{ConnectDecision: decision}})
	for _, command := range deferred {
		if err != nil {
			break
		}
		err = a.send(command)
	}
	c.mu.Unlock()
	if err != nil {
		s.reportError(ctx, c.namespace, socket, fmt.Errorf("socketio: accepting %s: %w", c.sid, err))
	}
}

// reject refuses a connection; one that was connected already (always_connect, a recovered
// socket) is disconnected by the sidecar, which then sends a Disconnected.
func (s *Server) reject(ctx context.Context, a *attachment, c *conn, socket *Socket, err error, connected bool) {
	var rejection *RejectError
	if !errors.As(err, &rejection) {
		s.reportError(ctx, c.namespace, socket, err)
		rejection = &RejectError{}
	}
	c.mu.Lock()
	c.rejected = true
	c.deferring = false
	c.deferred = nil
	c.mu.Unlock()
	decision := &sidecarpb.ConnectDecision{
		Sid:           c.sid,
		Namespace:     c.namespace,
		ErrorMessage:  []byte(rejection.Message),
		ErrorDataJson: rejection.Data,
	}
	if err := a.send(&sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_ConnectDecision{ConnectDecision: decision}}); err != nil {
		s.reportError(ctx, c.namespace, socket, fmt.Errorf("socketio: rejecting %s: %w", c.sid, err))
	}
	if !connected {
		// A refused connection never gets a Disconnected.
		s.forgetConn(c)
	}
}

func (s *Server) handleEvent(a *attachment, c *conn, event *sidecarpb.Event, seq uint64) {
	c.mu.Lock()
	rejected := c.rejected
	c.mu.Unlock()
	if rejected {
		// always_connect: events may arrive between the acceptance and our rejection.
		return
	}
	ctx := a.ctx
	s.learn(ctx, c)
	name := string(event.GetEvent())
	var handle handler
	if handlers := s.lookup(c.namespace); handlers != nil {
		if handle = handlers.events[name]; handle == nil {
			handle = handlers.any
		}
	}
	if handle == nil {
		s.cfg.logger.Debug("socketio: no handler; event dropped", "namespace", c.namespace, "event", name)
		return
	}
	socket := &Socket{server: s, conn: c, event: name, session: newSession(c.sessionFor(seq, event.GetSessionJson()))}
	var results []any
	args, err := NewArgs(event.GetArgs())
	if err == nil {
		err = safely(func() error {
			var handlerErr error
			results, handlerErr = handle(ctx, socket, args)
			return handlerErr
		})
	}
	wantAck := event.AckId != nil
	if err != nil {
		ack, handled := s.reportError(ctx, c.namespace, socket, err)
		wantAck = wantAck && handled
		results = ack
	}
	if encoded, dirty := socket.session.take(); dirty {
		s.writeSession(ctx, c, encoded, false)
	}
	if !wantAck {
		return
	}
	payload, err := EncodePayload(results...)
	if err != nil {
		s.reportError(ctx, c.namespace, socket, fmt.Errorf("socketio: ack of %q: %w", name, err))
		return
	}
	ack := &sidecarpb.Ack{Sid: c.sid, Namespace: c.namespace, AckId: event.GetAckId(), Args: payload}
	if err := a.send(&sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_Ack{Ack: ack}}); err != nil {
		s.reportError(ctx, c.namespace, socket, fmt.Errorf("socketio: ack of %q: %w", name, err))
	}
}

func (s *Server) handleDisconnected(a *attachment, c *conn, disconnected *sidecarpb.Disconnected, seq uint64) {
	defer s.forgetConn(c)
	c.mu.Lock()
	rejected := c.rejected
	c.deferring = false
	c.mu.Unlock()
	if rejected {
		return
	}
	handlers := s.lookup(c.namespace)
	if handlers == nil || handlers.disconnect == nil {
		return
	}
	ctx := a.ctx
	socket := &Socket{server: s, conn: c, event: "disconnect", session: newSession(c.sessionFor(seq, disconnected.GetSessionJson()))}
	if err := safely(func() error {
		handlers.disconnect(ctx, socket, disconnected.GetReason())
		return nil
	}); err != nil {
		s.reportError(ctx, c.namespace, socket, err)
	}
}

func (s *Server) handleAdopted(c *conn, adopted *sidecarpb.Adopted) {
	auth := json.RawMessage(adopted.GetAuthJson())
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	c.mu.Lock()
	c.known = true
	c.engineSID = adopted.GetEngineSid()
	c.handshake = encodeHandshake(adopted.GetHandshake())
	c.auth = auth
	c.rejected = false
	c.deferring = false
	c.deferred = nil
	c.localSession = nil
	c.mu.Unlock()
}

// learn fills in what the SDK knows about a socket that connected before this backend attached.
func (s *Server) learn(ctx context.Context, c *conn) {
	c.mu.Lock()
	known := c.known
	c.known = true
	c.mu.Unlock()
	if known {
		return
	}
	info, err := s.getSocket(ctx, c.sid, c.namespace)
	if err != nil {
		s.cfg.logger.Debug("socketio: could not look up a socket", "sid", c.sid, "err", err)
		return
	}
	c.mu.Lock()
	c.handshake = encodeHandshake(info.GetHandshake())
	c.mu.Unlock()
}
