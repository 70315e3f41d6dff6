package socketio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

// Stream is one open Backend.Attach stream, seen from the backend. The gRPC client stream
// (sidecarpb.Backend_AttachClient) is one; socketiotest provides an in-memory one.
type Stream interface {
	Send(*sidecarpb.BackendMessage) error
	Recv() (*sidecarpb.SidecarMessage, error)
	CloseSend() error
}

// AttachInfo is what the sidecar said when the server attached (its Welcome).
type AttachInfo struct {
	SidecarVersion string
	// AlwaysConnect: the sidecar accepts connections before the connect handler runs; a rejection
	// then disconnects the client.
	AlwaysConnect bool
	// ConnectDecisionTimeout is how long a connect handler may take before the sidecar rejects
	// the connection; the connect handler's context has this deadline.
	ConnectDecisionTimeout time.Duration
}

// Option configures a Server.
type Option func(*config)

type config struct {
	name            string
	logger          *slog.Logger
	asyncHandlers   bool
	ackTimeout      time.Duration
	shutdownTimeout time.Duration
	minBackoff      time.Duration
	maxBackoff      time.Duration
	dialOptions     []grpc.DialOption
}

// WithName names the backend in the sidecar's logs and metrics (Hello.name). The default is the
// host name and process id.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithLogger sets where the server logs; the default is slog.Default().
func WithLogger(logger *slog.Logger) Option { return func(c *config) { c.logger = logger } }

// WithAsyncHandlers chooses how handlers are scheduled (Flask-SocketIO's async_handlers). With
// true, the default, the handlers of one socket run one at a time in arrival order and different
// sockets' handlers run concurrently. With false, all handlers run one at a time.
func WithAsyncHandlers(enabled bool) Option {
	return func(c *config) { c.asyncHandlers = enabled }
}

// WithAckTimeout sets how long emits with a Callback, and Calls without a context deadline, wait
// for clients' acks. The default is 10 seconds.
func WithAckTimeout(timeout time.Duration) Option {
	return func(c *config) { c.ackTimeout = timeout }
}

// WithShutdownTimeout bounds how long a graceful shutdown waits for running handlers; then their
// contexts are cancelled. The default is 10 seconds.
func WithShutdownTimeout(timeout time.Duration) Option {
	return func(c *config) { c.shutdownTimeout = timeout }
}

// WithBackoff sets the delays between attempts to attach: the first retry waits min, each next
// one twice as long, up to max (with jitter). The defaults are 100ms and 10s.
func WithBackoff(min, max time.Duration) Option {
	return func(c *config) { c.minBackoff, c.maxBackoff = min, max }
}

// WithDialOptions replaces the gRPC dial options Run uses. The default is a plaintext connection,
// for a sidecar on localhost.
func WithDialOptions(options ...grpc.DialOption) Option {
	return func(c *config) { c.dialOptions = options }
}

// Server holds the handlers of a backend and talks to the sidecar for them. Create it with
// NewServer, register handlers, then Run it. Its methods are safe for concurrent use, from
// handlers and from any other goroutine.
type Server struct {
	cfg config

	handlersMu   sync.RWMutex
	namespaces   map[string]*namespace
	defaultError ErrorHandler
	attachHooks  []func(AttachInfo)

	attachMu sync.Mutex
	attached *attachment
	serving  bool

	nextRequestID atomic.Uint64

	connsMu sync.Mutex
	conns   map[string]*conn

	// All handlers, when WithAsyncHandlers(false).
	global serialQueue
}

type namespace struct {
	connect    ConnectHandler
	disconnect DisconnectHandler
	onError    ErrorHandler
	events     map[string]handler
	any        handler
}

// NewServer returns a server without handlers.
func NewServer(options ...Option) *Server {
	host, _ := os.Hostname()
	cfg := config{
		name:            fmt.Sprintf("%s-%d", host, os.Getpid()),
		logger:          slog.Default(),
		asyncHandlers:   true,
		ackTimeout:      10 * time.Second,
		shutdownTimeout: 10 * time.Second,
		minBackoff:      100 * time.Millisecond,
		maxBackoff:      10 * time.Second,
		dialOptions:     []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())},
	}
	for _, option := range options {
		option(&cfg)
	}
	return &Server{cfg: cfg, namespaces: make(map[string]*namespace), conns: make(map[string]*conn)}
}

// namespaceLocked returns the handlers of ns, creating them; handlersMu must be held.
func (s *Server) namespaceLocked(ns string) *namespace {
	if ns == "" {
		ns = "/"
	}
	if ns[0] != '/' {
		panic(fmt.Sprintf("socketio: namespace %q must start with '/'", ns))
	}
	handlers, ok := s.namespaces[ns]
	if !ok {
		handlers = &namespace{events: make(map[string]handler)}
		s.namespaces[ns] = handlers
	}
	return handlers
}

func (s *Server) lookup(ns string) *namespace {
	s.handlersMu.RLock()
	defer s.handlersMu.RUnlock()
	return s.namespaces[ns]
}

// On registers the handler of an event in a namespace ("" means "/"), Flask-SocketIO's
// @socketio.on(event, namespace). The handler is a function
//
//	func(ctx context.Context, s *socketio.Socket, params...) (results..., error)
//
// Each parameter receives one argument of the event, decoded from JSON into the parameter's type
// ([]byte also receives a binary attachment); a final variadic parameter receives the remaining
// arguments, a final socketio.Args parameter receives them undecoded. Missing arguments leave
// parameters at their zero value. The results, except a final error, are the arguments of the
// ack when the client asked for one. A RawHandler is called without reflection.
//
// On panics if the handler has another shape, as a bad registration is a programming error.
// Namespaces and events registered after the server attached are declared to the sidecar when it
// attaches again.
func (s *Server) On(ns, event string, handler any) {
	if event == "" {
		panic("socketio: On needs an event name")
	}
	compiled, err := compileHandler(handler)
	if err != nil {
		panic(fmt.Sprintf("socketio: On(%q, %q): %v", ns, event, err))
	}
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	s.namespaceLocked(ns).events[event] = compiled
}

// OnMessage registers the handler of the "message" event, which clients' send() emits.
func (s *Server) OnMessage(ns string, handler any) { s.On(ns, "message", handler) }

// OnAny registers the handler of every event of a namespace that has no handler of its own
// (Flask-SocketIO's @socketio.on("*")); Socket.Event names the event.
func (s *Server) OnAny(ns string, handler any) {
	compiled, err := compileHandler(handler)
	if err != nil {
		panic(fmt.Sprintf("socketio: OnAny(%q): %v", ns, err))
	}
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	s.namespaceLocked(ns).any = compiled
}

// OnConnect registers the connect handler of a namespace. Without one, every connection is
// accepted.
func (s *Server) OnConnect(ns string, handler ConnectHandler) {
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	s.namespaceLocked(ns).connect = handler
}

// OnDisconnect registers the disconnect handler of a namespace.
func (s *Server) OnDisconnect(ns string, handler DisconnectHandler) {
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	s.namespaceLocked(ns).disconnect = handler
}

// OnError registers the error handler of a namespace (Flask-SocketIO's @socketio.on_error).
func (s *Server) OnError(ns string, handler ErrorHandler) {
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	s.namespaceLocked(ns).onError = handler
}

// OnErrorDefault registers the error handler of namespaces without their own
// (@socketio.on_error_default) and of failures not tied to an event. Without one, errors are
// logged.
func (s *Server) OnErrorDefault(handler ErrorHandler) {
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	s.defaultError = handler
}

// OnAttach registers a function called each time the server has attached to a sidecar.
func (s *Server) OnAttach(hook func(AttachInfo)) {
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	s.attachHooks = append(s.attachHooks, hook)
}

// Register installs a class-based namespace (Flask-SocketIO's Namespace): each method of object
// named On<Name> handles the event <name> in snake case, so OnMyEvent handles "my_event" and
// OnMessage handles "message". Event methods take the forms On accepts. Three names are special:
//
//	OnConnect(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error
//	OnDisconnect(ctx context.Context, s *socketio.Socket, reason string)
//	OnError(ctx context.Context, s *socketio.Socket, err error) []any
//
// Register installs nothing and returns an error naming the method if any has another shape.
func (s *Server) Register(ns string, object any) error {
	found, err := readNamespaceObject(object)
	if err != nil {
		return fmt.Errorf("socketio: Register(%q, %T): %w", ns, object, err)
	}
	if ns == "" {
		ns = "/"
	}
	if ns[0] != '/' {
		return fmt.Errorf("socketio: Register(%q, %T): namespace must start with '/'", ns, object)
	}
	s.handlersMu.Lock()
	defer s.handlersMu.Unlock()
	handlers := s.namespaceLocked(ns)
	if found.connect != nil {
		handlers.connect = found.connect
	}
	if found.disconnect != nil {
		handlers.disconnect = found.disconnect
	}
	if found.onError != nil {
		handlers.onError = found.onError
	}
	for event, compiled := range found.events {
		handlers.events[event] = compiled
	}
	return nil
}

// hello declares the namespaces that have handlers, and their events: all of them where there is
// a catch-all handler or no event handler at all (the proto has no way to say "no events").
func (s *Server) hello() *sidecarpb.BackendMessage {
	s.handlersMu.RLock()
	defer s.handlersMu.RUnlock()
	hello := &sidecarpb.Hello{Name: s.cfg.name, AcceptsBatches: true}
	names := make([]string, 0, len(s.namespaces))
	for ns := range s.namespaces {
		names = append(names, ns)
	}
	if len(names) == 0 {
		names = append(names, "/")
	}
	slices.Sort(names)
	for _, ns := range names {
		declared := &sidecarpb.NamespaceHandlers{Namespace: ns}
		if handlers := s.namespaces[ns]; handlers != nil && handlers.any == nil {
			events := make([]string, 0, len(handlers.events))
			for event := range handlers.events {
				events = append(events, event)
			}
			slices.Sort(events)
			for _, event := range events {
				declared.Events = append(declared.Events, []byte(event))
			}
		}
		hello.Namespaces = append(hello.Namespaces, declared)
	}
	return &sidecarpb.BackendMessage{Kind: &sidecarpb.BackendMessage_Hello{Hello: hello}}
}

// Run attaches to the sidecar at address (e.g. "127.0.0.1:50051") and serves events until ctx is
// cancelled. When the stream breaks it attaches again, waiting longer after each failure (see
// WithBackoff). On cancellation it shuts down gracefully: running and queued handlers finish
// (see WithShutdownTimeout), then the stream is closed, and Run returns nil. It returns an error
// only if the sidecar refuses the backend for good (e.g. an invalid Hello) or the address is
// invalid.
func (s *Server) Run(ctx context.Context, address string) error {
	client, err := grpc.NewClient(address, s.cfg.dialOptions...)
	if err != nil {
		return fmt.Errorf("socketio: sidecar address %q: %w", address, err)
	}
	defer client.Close()
	backend := sidecarpb.NewBackendClient(client)
	delay := s.cfg.minBackoff
	for {
		attached, err := s.attachOnce(ctx, backend)
		if ctx.Err() != nil {
			return nil
		}
		if !attached && isPermanent(err) {
			return fmt.Errorf("socketio: the sidecar at %s refused this backend: %w", address, err)
		}
		if errors.Is(err, ErrAlreadyAttached) {
			return err
		}
		if attached {
			delay = s.cfg.minBackoff
		}
		wait := delay/2 + rand.N(delay/2+1)
		s.cfg.logger.Warn("socketio: not attached to the sidecar; retrying", "address", address, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		delay = min(delay*2, s.cfg.maxBackoff)
	}
}

func (s *Server) attachOnce(ctx context.Context, backend sidecarpb.BackendClient) (bool, error) {
	// The stream outlives ctx by the graceful shutdown, which still sends acks.
	streamCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stream, err := backend.Attach(streamCtx)
	if err != nil {
		return false, err
	}
	return s.serve(ctx, stream)
}

// isPermanent tells refusals that retrying cannot fix from transient failures.
func isPermanent(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.Unimplemented, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// Serve runs the server over one open stream: it sends Hello, waits for Welcome, then handles
// events until the stream ends (returning why) or ctx is cancelled (returning nil after a
// graceful shutdown). Run calls it for each gRPC stream; call it yourself to attach over a stream
// you opened (say, with your own gRPC connection) or an in-memory one. The caller owns the stream
// and should cancel it after Serve returns.
func (s *Server) Serve(ctx context.Context, stream Stream) error {
	_, err := s.serve(ctx, stream)
	return err
}

func (s *Server) serve(ctx context.Context, stream Stream) (attached bool, err error) {
	s.attachMu.Lock()
	if s.serving {
		s.attachMu.Unlock()
		return false, ErrAlreadyAttached
	}
	s.serving = true
	s.attachMu.Unlock()
	defer func() {
		s.attachMu.Lock()
		s.serving = false
		s.attachMu.Unlock()
	}()

	if err := stream.Send(s.hello()); err != nil {
		_ = stream.CloseSend()
		return false, fmt.Errorf("socketio: sending Hello: %w", err)
	}
	welcome, err := receiveWelcome(ctx, stream)
	if err != nil {
		_ = stream.CloseSend()
		return false, err
	}
	a := newAttachment(ctx, s, stream, welcome)
	s.attachMu.Lock()
	s.attached = a
	s.attachMu.Unlock()
	s.forgetIdleConns()
	s.handlersMu.RLock()
	hooks := slices.Clone(s.attachHooks)
	s.handlersMu.RUnlock()
	for _, hook := range hooks {
		hook(a.info)
	}

	readDone := make(chan error, 1)
	go func() { readDone <- a.readLoop() }()
	select {
	case err := <-readDone:
		s.detach(a, ErrDetached)
		a.sendMu.Lock()
		_ = stream.CloseSend()
		a.sendMu.Unlock()
		if err == nil {
			err = errors.New("socketio: the sidecar closed the stream")
		}
		return true, fmt.Errorf("socketio: stream to the sidecar ended: %w", err)
	case <-ctx.Done():
	}
	// Graceful shutdown: let running and queued handlers finish and send their acks, then close
	// our side; the sidecar then ends the stream.
	select {
	case <-a.inflight.idle():
	case <-time.After(s.cfg.shutdownTimeout):
		s.cfg.logger.Warn("socketio: handlers still running at shutdown; cancelling them")
	}
	s.detach(a, ErrDetached)
	a.sendMu.Lock()
	_ = stream.CloseSend()
	a.sendMu.Unlock()
	select {
	case <-readDone:
	case <-time.After(time.Second):
	}
	return true, nil
}

func receiveWelcome(ctx context.Context, stream Stream) (*sidecarpb.Welcome, error) {
	type received struct {
		message *sidecarpb.SidecarMessage
		err     error
	}
	first := make(chan received, 1)
	go func() {
		message, err := stream.Recv()
		first <- received{message, err}
	}()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case got := <-first:
		if got.err != nil {
			return nil, fmt.Errorf("socketio: waiting for Welcome: %w", got.err)
		}
		welcome := got.message.GetWelcome()
		if welcome == nil {
			return nil, fmt.Errorf("socketio: the sidecar's first message is %T, not Welcome", got.message.GetKind())
		}
		return welcome, nil
	}
}

// detach makes a stop being the server's attachment and fails everything waiting on it.
func (s *Server) detach(a *attachment, reason error) {
	s.attachMu.Lock()
	if s.attached == a {
		s.attached = nil
	}
	s.attachMu.Unlock()
	a.close(reason)
}

func (s *Server) current() *attachment {
	s.attachMu.Lock()
	defer s.attachMu.Unlock()
	return s.attached
}

// forgetIdleConns drops what we knew about sockets with no work pending: while detached we may
// have missed their disconnects. Sockets still connected are looked up again on their next event.
func (s *Server) forgetIdleConns() {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	for sid, c := range s.conns {
		if c.queue.idle() {
			delete(s.conns, sid)
		}
	}
}

func (s *Server) conn(sid, ns string) *conn {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	c, ok := s.conns[sid]
	if !ok || c.namespace != ns {
		c = &conn{sid: sid, namespace: ns}
		s.conns[sid] = c
	}
	return c
}

func (s *Server) existingConn(sid string) *conn {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	return s.conns[sid]
}

func (s *Server) forgetConn(c *conn) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if s.conns[c.sid] == c {
		delete(s.conns, c.sid)
	}
}

// send sends a command on the current stream.
func (s *Server) send(message *sidecarpb.BackendMessage) error {
	a := s.current()
	if a == nil {
		return ErrNotAttached
	}
	return a.send(message)
}

// errorHandler returns the handler for errors of ns, and whether the application set one.
func (s *Server) errorHandler(ns string) (ErrorHandler, bool) {
	s.handlersMu.RLock()
	defer s.handlersMu.RUnlock()
	if handlers := s.namespaces[ns]; handlers != nil && handlers.onError != nil {
		return handlers.onError, true
	}
	if s.defaultError != nil {
		return s.defaultError, true
	}
	return nil, false
}

// reportError hands err to the error handler of ns (s may be nil) and returns the ack arguments
// it chose, and whether the application handled it.
func (s *Server) reportError(ctx context.Context, ns string, socket *Socket, err error) (ack []any, handled bool) {
	handle, ok := s.errorHandler(ns)
	if !ok {
		attrs := []any{"err", err}
		if socket != nil {
			attrs = append(attrs, "namespace", socket.Namespace(), "sid", socket.SID(), "event", socket.Event())
		}
		var panicked *PanicError
		if errors.As(err, &panicked) {
			attrs = append(attrs, "stack", string(panicked.Stack))
		}
		s.cfg.logger.Error("socketio: unhandled error", attrs...)
		return nil, false
	}
	defer func() {
		if recovered := recover(); recovered != nil {
			s.cfg.logger.Error("socketio: error handler panicked", "panic", recovered, "err", err)
			ack, handled = nil, true
		}
	}()
	return handle(ctx, socket, err), true
}
