// Package socketiotest drives a socketio.Server's handlers in-process, without a sidecar or a
// network, like Flask-SocketIO's SocketIOTestClient.
//
// Clients of one server share an in-memory sidecar, which speaks the sidecar's side of the
// Backend.Attach stream: the server under test runs its real dispatch code, and rooms,
// broadcasts, sessions and acks behave as through socketio-sidecar. Each call that sends
// something to the server (Connect, Emit, Disconnect) returns once the handler it triggered has
// returned and everything the handler sent has been delivered, so GetReceived sees it.
package socketiotest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
)

var (
	// ErrNotConnected is returned for a namespace the client is not connected to.
	ErrNotConnected = errors.New("socketiotest: not connected to the namespace")
	// ErrNoAck is returned by EmitWithAck when the handler did not acknowledge, because there is
	// no handler for the event or it failed without an error handler.
	ErrNoAck = errors.New("socketiotest: the server did not acknowledge")
	// ErrClosed is returned by a closed client.
	ErrClosed = errors.New("socketiotest: client closed")
)

// ConnectError is a refused connection, as socket.io-client's connect_error reports it.
type ConnectError struct {
	Message string
	// Data is JSON, or nil.
	Data json.RawMessage
}

func (e *ConnectError) Error() string { return "socketiotest: connection refused: " + e.Message }

// Received is an event the server sent to a client.
type Received struct {
	Namespace string
	Event     string
	Args      socketio.Args
}

// Option configures a Client.
type Option func(*clientConfig)

type clientConfig struct {
	alwaysConnect bool
	remoteAddr    string
	tb            testing.TB
}

// WithAlwaysConnect makes the in-memory sidecar accept connections before the connect handler
// decides, as `socketio-sidecar --always_connect` does. It applies when a server's first client
// is created, which starts its sidecar.
func WithAlwaysConnect() Option { return func(c *clientConfig) { c.alwaysConnect = true } }

// WithRemoteAddr sets the peer address handlers see; the default is "127.0.0.1:49152".
func WithRemoteAddr(address string) Option { return func(c *clientConfig) { c.remoteAddr = address } }

// WithTB closes the client when the test ends, and fails the test if the server cannot attach.
func WithTB(tb testing.TB) Option { return func(c *clientConfig) { c.tb = tb } }

// ConnectOption configures one Connect.
type ConnectOption func(*connectConfig)

type connectConfig struct {
	auth    json.RawMessage
	query   url.Values
	headers http.Header
	recover bool
	err     error
}

// Recover makes Connect a connection state recovery, as socket.io-client 4.6+ reconnecting after
// its transport dropped (see DropTransport): the socket the client dropped in that namespace comes
// back with the same sid, rooms and session, connected at once, and the connect handler sees
// Socket.Recovered() true. Without a dropped socket the connect is a normal one, as the sidecar
// gives a fresh socket when there is nothing to recover. Events emitted while the socket was away
// are not replayed by the test client.
func Recover() ConnectOption { return func(c *connectConfig) { c.recover = true } }

// Auth sets the CONNECT packet's payload (socket.io-client's auth option), encoded as JSON.
func Auth(auth any) ConnectOption {
	return func(c *connectConfig) {
		encoded, err := json.Marshal(auth)
		if err != nil {
			c.err = fmt.Errorf("socketiotest: encoding auth: %w", err)
		}
		c.auth = encoded
	}
}

// Query sets the query parameters of the handshake.
func Query(query url.Values) ConnectOption { return func(c *connectConfig) { c.query = query } }

// Headers sets the headers of the handshake.
func Headers(headers http.Header) ConnectOption {
	return func(c *connectConfig) { c.headers = headers }
}

// Client is one simulated Socket.IO client (one Engine.IO connection) that may connect to
// several namespaces. Its methods are safe for concurrent use.
type Client struct {
	sidecar   *sidecar
	config    clientConfig
	engineSID string

	// Guarded by sidecar.mu.
	sockets  map[string]*socket
	dropped  map[string]*droppedSocket
	received map[string][]Received
	handlers map[string]map[string]func(socketio.Args) []any
	closed   bool
	once     sync.Once
}

// NewClient returns a client of server, not yet connected to any namespace. The first client of
// a server attaches the server to an in-memory sidecar; it detaches when the last client is
// closed. A server attached to a real sidecar cannot also have test clients: NewClient panics
// (or fails the test, with WithTB).
func NewClient(server *socketio.Server, options ...Option) *Client {
	config := clientConfig{remoteAddr: "127.0.0.1:49152"}
	for _, option := range options {
		option(&config)
	}
	sidecar, err := acquire(server, config.alwaysConnect)
	if err != nil {
		if config.tb != nil {
			config.tb.Helper()
			config.tb.Fatal(err)
		}
		panic(err)
	}
	sidecar.mu.Lock()
	engineSID := "test-engine-" + sidecar.newID()
	sidecar.mu.Unlock()
	client := &Client{
		sidecar:   sidecar,
		config:    config,
		engineSID: engineSID,
		sockets:   make(map[string]*socket),
		dropped:   make(map[string]*droppedSocket),
		received:  make(map[string][]Received),
		handlers:  make(map[string]map[string]func(socketio.Args) []any),
	}
	if config.tb != nil {
		config.tb.Cleanup(client.Close)
	}
	return client
}

func normalize(namespace string) string {
	if namespace == "" {
		return "/"
	}
	return namespace
}

// Connect connects to a namespace ("" means "/") and returns once the connect handler decided.
// A refusal is a *ConnectError (with "Invalid namespace" for a namespace the server has no
// handlers for). With WithAlwaysConnect a refusal disconnects the client instead, as the sidecar
// does: Connect returns nil and IsConnected reports false.
func (c *Client) Connect(ctx context.Context, namespace string, options ...ConnectOption) error {
	namespace = normalize(namespace)
	config := connectConfig{auth: json.RawMessage("{}")}
	for _, option := range options {
		option(&config)
	}
	if config.err != nil {
		return config.err
	}
	s := c.sidecar
	s.mu.Lock()
	if c.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, ok := c.sockets[namespace]; ok {
		s.mu.Unlock()
		return fmt.Errorf("socketiotest: already connected to %s", namespace)
	}
	if _, ok := s.declared[namespace]; !ok {
		s.mu.Unlock()
		return &ConnectError{Message: "Invalid namespace"}
	}
	member := &socket{sid: s.newID(), namespace: namespace, client: c, handshake: c.handshake(config)}
	dropped := c.dropped[namespace]
	recovered := config.recover && dropped != nil
	if recovered {
		delete(c.dropped, namespace)
		member.sid = dropped.sid
		member.session = dropped.session
	}
	s.sockets[member.sid] = member
	c.sockets[namespace] = member
	if s.alwaysConnect || recovered {
		s.accept(member)
	}
	connect := &sidecarpb.Connect{
		Sid:       member.sid,
		Namespace: namespace,
		AuthJson:  config.auth,
		Handshake: member.handshake,
		EngineSid: c.engineSID,
	}
	if recovered {
		for _, room := range dropped.rooms {
			s.join(member, room)
		}
		connect.Recovered = true
		connect.SessionJson = member.sessionOrEmpty()
	}
	processed := s.sendAndWait(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_Connect{Connect: connect}})
	s.mu.Unlock()
	if err := wait(ctx, processed); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if member.rejection != nil {
		return member.rejection
	}
	if !member.connected && s.sockets[member.sid] == member {
		return fmt.Errorf("socketiotest: the server did not decide on the connection to %s", namespace)
	}
	return nil
}

func (c *Client) handshake(config connectConfig) *sidecarpb.Handshake {
	handshake := &sidecarpb.Handshake{
		RemoteAddress: c.config.remoteAddr,
		IssuedUnixMs:  time.Now().UnixMilli(),
		Transport:     "websocket",
		Eio:           4,
	}
	target := "/socket.io/?EIO=4&transport=websocket"
	if encoded := config.query.Encode(); encoded != "" {
		target += "&" + encoded
	}
	handshake.Url = []byte(target)
	for _, key := range sortedKeys(config.query) {
		for _, value := range config.query[key] {
			handshake.Query = append(handshake.Query, &sidecarpb.KeyValue{Key: []byte(key), Value: []byte(value)})
		}
	}
	for _, key := range sortedKeys(config.headers) {
		for _, value := range config.headers[key] {
			handshake.Headers = append(handshake.Headers, &sidecarpb.KeyValue{Key: []byte(strings.ToLower(key)), Value: []byte(value)})
		}
	}
	return handshake
}

func sortedKeys[M ~map[string][]string](m M) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

func wait(ctx context.Context, processed <-chan struct{}) error {
	select {
	case <-processed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("socketiotest: waiting for the server: %w", ctx.Err())
	}
}

var reservedEvents = []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

// Emit emits an event to the server in a namespace ("" means "/") and returns once its handler
// returned. args are encoded as socketio.EncodePayload does ([]byte becomes an attachment).
func (c *Client) Emit(ctx context.Context, namespace, event string, args ...any) error {
	_, err := c.emit(ctx, namespace, event, false, args)
	return err
}

// EmitWithAck emits an event asking for an ack and returns the handler's answer.
func (c *Client) EmitWithAck(ctx context.Context, namespace, event string, args ...any) (socketio.Args, error) {
	return c.emit(ctx, namespace, event, true, args)
}

// Send emits a "message" event (socket.io-client's send).
func (c *Client) Send(ctx context.Context, namespace string, message any) error {
	return c.Emit(ctx, namespace, "message", message)
}

func (c *Client) emit(ctx context.Context, namespace, event string, wantAck bool, args []any) (socketio.Args, error) {
	namespace = normalize(namespace)
	if slices.Contains(reservedEvents, event) {
		return socketio.Args{}, fmt.Errorf("socketiotest: %q is a reserved event name", event)
	}
	payload, err := socketio.EncodePayload(args...)
	if err != nil {
		return socketio.Args{}, err
	}
	s := c.sidecar
	s.mu.Lock()
	member := c.sockets[namespace]
	if c.closed || member == nil || !member.connected {
		s.mu.Unlock()
		return socketio.Args{}, fmt.Errorf("socketiotest: emit %q to %s: %w", event, namespace, ErrNotConnected)
	}
	if !s.handles(namespace, event) {
		// The sidecar drops events no backend declared, and never acks them.
		s.mu.Unlock()
		if wantAck {
			return socketio.Args{}, ErrNoAck
		}
		return socketio.Args{}, nil
	}
	message := &sidecarpb.Event{Sid: member.sid, Namespace: namespace, Event: []byte(event), Args: payload, SessionJson: member.sessionOrEmpty()}
	var answer chan socketio.Args
	if wantAck {
		member.nextClientAckID++
		id := member.nextClientAckID
		message.AckId = &id
		answer = make(chan socketio.Args, 1)
		if member.awaiting == nil {
			member.awaiting = make(map[uint64]chan socketio.Args)
		}
		member.awaiting[id] = answer
	}
	processed := s.sendAndWait(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_Event{Event: message}})
	s.mu.Unlock()
	if err := wait(ctx, processed); err != nil {
		return socketio.Args{}, err
	}
	if !wantAck {
		return socketio.Args{}, nil
	}
	select {
	case args := <-answer:
		return args, nil
	default:
		return socketio.Args{}, fmt.Errorf("socketiotest: %q: %w", event, ErrNoAck)
	}
}

// On registers how the client answers the server's emits of event in a namespace that ask for an
// ack (Callback, Call): fn's results are the ack's arguments. Without it the client never
// answers, and the server's ack times out. Events are recorded for GetReceived either way.
// fn runs on its own goroutine and may call the client.
func (c *Client) On(namespace, event string, fn func(args socketio.Args) []any) {
	namespace = normalize(namespace)
	c.sidecar.mu.Lock()
	defer c.sidecar.mu.Unlock()
	if c.handlers[namespace] == nil {
		c.handlers[namespace] = make(map[string]func(socketio.Args) []any)
	}
	c.handlers[namespace][event] = fn
}

// receive records an event from the server; answer, if not nil, is how to ack it. s.mu is held.
func (c *Client) receive(member *socket, event string, args socketio.Args, answer func(*sidecarpb.Payload)) {
	c.received[member.namespace] = append(c.received[member.namespace], Received{Namespace: member.namespace, Event: event, Args: args})
	if answer == nil {
		return
	}
	handler := c.handlers[member.namespace][event]
	if handler == nil {
		return
	}
	s := c.sidecar
	go func() {
		payload, err := socketio.EncodePayload(handler(args)...)
		if err != nil {
			payload = &sidecarpb.Payload{Json: []byte("[]")}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		answer(payload)
	}()
}

// GetReceived returns the events received in a namespace ("" means "/") since the last call, in
// order, and forgets them.
func (c *Client) GetReceived(namespace string) []Received {
	namespace = normalize(namespace)
	c.sidecar.mu.Lock()
	defer c.sidecar.mu.Unlock()
	received := c.received[namespace]
	delete(c.received, namespace)
	return received
}

// IsConnected reports whether the client is connected to a namespace ("" means "/").
func (c *Client) IsConnected(namespace string) bool {
	c.sidecar.mu.Lock()
	defer c.sidecar.mu.Unlock()
	member := c.sockets[normalize(namespace)]
	return member != nil && member.connected
}

// SID returns the client's socket id in a namespace, or "" if it is not connected.
func (c *Client) SID(namespace string) string {
	c.sidecar.mu.Lock()
	defer c.sidecar.mu.Unlock()
	if member := c.sockets[normalize(namespace)]; member != nil && member.connected {
		return member.sid
	}
	return ""
}

// EngineSID returns the Engine.IO session id shared by the client's namespaces.
func (c *Client) EngineSID() string { return c.engineSID }

// Disconnect leaves a namespace ("" means "/"), as socket.io-client's disconnect does, and
// returns once the disconnect handler returned.
func (c *Client) Disconnect(ctx context.Context, namespace string) error {
	return c.drop(ctx, normalize(namespace), "client namespace disconnect")
}

// droppedSocket is what the sidecar keeps of a socket whose transport dropped.
type droppedSocket struct {
	sid     string
	rooms   []string
	session []byte
}

// DropTransport simulates the loss of the client's transport for one namespace ("" means "/") with
// connection state recovery on: the backend gets a Disconnected ("transport close"), and the
// socket's sid, rooms and session are kept for a later Connect with Recover. It returns once the
// disconnect handler returned.
func (c *Client) DropTransport(ctx context.Context, namespace string) error {
	namespace = normalize(namespace)
	s := c.sidecar
	s.mu.Lock()
	member := c.sockets[namespace]
	if member == nil {
		s.mu.Unlock()
		return fmt.Errorf("socketiotest: drop transport of %s: %w", namespace, ErrNotConnected)
	}
	dropped := &droppedSocket{sid: member.sid, session: member.session}
	for room, members := range s.rooms[namespace] {
		if members[member.sid] && room != member.sid {
			dropped.rooms = append(dropped.rooms, room)
		}
	}
	slices.Sort(dropped.rooms)
	c.dropped[namespace] = dropped
	waiters := s.removeAndWait(member, "transport close")
	s.mu.Unlock()
	return wait(ctx, waiters)
}

func (c *Client) drop(ctx context.Context, namespace, reason string) error {
	s := c.sidecar
	s.mu.Lock()
	member := c.sockets[namespace]
	if member == nil {
		s.mu.Unlock()
		return fmt.Errorf("socketiotest: disconnect from %s: %w", namespace, ErrNotConnected)
	}
	waiters := s.removeAndWait(member, reason)
	s.mu.Unlock()
	return wait(ctx, waiters)
}

// Close disconnects the client from every namespace ("transport close") and releases its share
// of the in-memory sidecar. It is safe to call more than once.
func (c *Client) Close() {
	c.once.Do(func() {
		s := c.sidecar
		s.mu.Lock()
		c.closed = true
		var waiters []<-chan struct{}
		for _, member := range c.sockets {
			waiters = append(waiters, s.removeAndWait(member, "transport close"))
		}
		s.mu.Unlock()
		for _, waiter := range waiters {
			<-waiter
		}
		s.release()
	})
}
