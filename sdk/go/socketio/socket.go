package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
	"google.golang.org/protobuf/proto"
)

// Socket is one client's connection to one namespace, as seen by a handler: who it is, how it
// connected, its session, and the commands that act on it (Emit, JoinRoom, Disconnect, ...).
//
// Each handler call gets its own *Socket. It may be kept and used from other goroutines after the
// handler returned: commands go on working while the client is connected, but its Session is the
// one loaded for that call, so save changes made later with SaveSession.
type Socket struct {
	server  *Server
	conn    *conn
	event   string
	session *Session
}

// SID is the Socket.IO socket id, unique per namespace connection (Flask-SocketIO's request.sid).
// It is also the name of a room the socket is always in.
func (s *Socket) SID() string { return s.conn.sid }

// Namespace is the namespace the socket connected to, e.g. "/" or "/chat".
func (s *Socket) Namespace() string { return s.conn.namespace }

// Event is the name of the event being handled; "connect" and "disconnect" in those handlers,
// empty in an ack callback.
func (s *Socket) Event() string { return s.event }

// Server is the server whose handler runs.
func (s *Socket) Server() *Server { return s.server }

// Recovered reports whether the socket came back through connection state recovery
// (--connection_state_recovery; socket.io's socket.recovered): its client lost its transport and
// reconnected within the window, and the sidecar restored the same sid, rooms and session and
// replayed the events it missed. The disconnect handler ran when the transport dropped; the
// connect handler runs again, with Recovered true, and may skip its set-up. The socket is already
// connected then: returning an error from the connect handler disconnects it.
func (s *Socket) Recovered() bool {
	s.conn.mu.Lock()
	defer s.conn.mu.Unlock()
	return s.conn.recovered
}

// EngineSID is the Engine.IO session id shared by every namespace of one client connection.
// Empty if the socket connected before this backend attached.
func (s *Socket) EngineSID() string {
	s.conn.mu.Lock()
	defer s.conn.mu.Unlock()
	return s.conn.engineSID
}

// Handshake describes the client's first HTTP request (Flask-SocketIO's request.environ). It is
// nil only if the socket connected before this backend attached and the sidecar no longer knows
// it. Each call decodes it anew from the serialised form the connection keeps (a few hundred bytes
// per idle connection instead of a map per header), so keep the result rather than calling again.
func (s *Socket) Handshake() *Handshake {
	s.conn.mu.Lock()
	encoded := s.conn.handshake
	s.conn.mu.Unlock()
	if encoded == nil {
		return nil
	}
	var handshake sidecarpb.Handshake
	if err := proto.Unmarshal(encoded, &handshake); err != nil {
		return nil
	}
	return newHandshake(&handshake)
}

// Auth is the CONNECT packet's payload (socket.io-client's auth option), `{}` when the client sent
// none. Nil if the socket connected before this backend attached: the sidecar does not keep it.
func (s *Socket) Auth() json.RawMessage {
	s.conn.mu.Lock()
	defer s.conn.mu.Unlock()
	return s.conn.auth
}

// Session is the connection's session as this handler call sees it (Flask-SocketIO's session).
// Changes are saved when the handler returns; the connect handler's changes become the initial
// session. The session lives in the sidecar, so it survives a backend restart.
func (s *Socket) Session() *Session { return s.session }

// SaveSession sends the session's changes to the sidecar now and waits until it stored them.
// Handlers need not call it (their changes are saved when they return); code that changes a
// Session after its handler returned must.
func (s *Socket) SaveSession(ctx context.Context) error {
	encoded, dirty := s.session.take()
	if !dirty {
		return nil
	}
	return s.server.writeSession(ctx, s.conn, encoded, true)
}

// Handshake describes a client's first HTTP request.
type Handshake struct {
	// Headers of the request, including Cookie.
	Headers http.Header
	// Query holds the decoded query parameters.
	Query url.Values
	// RemoteAddr is the peer's "ip:port".
	RemoteAddr string
	// URL is the request target, e.g. "/socket.io/?EIO=4&transport=polling".
	URL string
	// Time is when the Engine.IO session was opened.
	Time time.Time
	// Transport is "polling" or "websocket": the transport the session opened with.
	Transport string
	// EIO is the Engine.IO protocol revision of the client.
	EIO int
}

// encodeHandshake is what a conn keeps of a handshake: nil when there is none.
func encodeHandshake(handshake *sidecarpb.Handshake) []byte {
	if handshake == nil {
		return nil
	}
	encoded, err := proto.Marshal(handshake)
	if err != nil {
		return nil
	}
	return encoded
}

func newHandshake(handshake *sidecarpb.Handshake) *Handshake {
	if handshake == nil {
		return nil
	}
	converted := &Handshake{
		Headers:    make(http.Header, len(handshake.GetHeaders())),
		Query:      make(url.Values, len(handshake.GetQuery())),
		RemoteAddr: handshake.GetRemoteAddress(),
		URL:        string(handshake.GetUrl()),
		Transport:  handshake.GetTransport(),
		EIO:        int(handshake.GetEio()),
	}
	if ms := handshake.GetIssuedUnixMs(); ms != 0 {
		converted.Time = time.UnixMilli(ms)
	}
	for _, header := range handshake.GetHeaders() {
		converted.Headers.Add(string(header.GetKey()), string(header.GetValue()))
	}
	for _, parameter := range handshake.GetQuery() {
		converted.Query.Add(string(parameter.GetKey()), string(parameter.GetValue()))
	}
	return converted
}

// Session is a connection's key-value session. Values are stored as JSON, so Get decodes into the
// type you want. It is safe for concurrent use.
type Session struct {
	mu     sync.Mutex
	values map[string]json.RawMessage
	// Why the stored session could not be read as a JSON object, if it could not.
	err   error
	dirty bool
}

func newSession(stored []byte) *Session {
	session := &Session{values: make(map[string]json.RawMessage)}
	if len(stored) == 0 {
		return session
	}
	if err := json.Unmarshal(stored, &session.values); err != nil {
		session.err = fmt.Errorf("socketio: the stored session is not a JSON object: %w", err)
		session.values = make(map[string]json.RawMessage)
	}
	if session.values == nil {
		session.values = make(map[string]json.RawMessage)
	}
	return session
}

// Get decodes the value stored under key into v and reports whether there was one.
func (s *Session) Get(key string, v any) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, s.err
	}
	value, ok := s.values[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(value, v); err != nil {
		return true, fmt.Errorf("socketio: session value %q: %w", key, err)
	}
	return true, nil
}

// Set stores v, encoded as JSON, under key.
func (s *Session) Set(key string, v any) error {
	encoded, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("socketio: session value %q: %w", key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = encoded
	s.err = nil
	s.dirty = true
	return nil
}

// Delete removes key.
func (s *Session) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.values[key]; ok {
		delete(s.values, key)
		s.dirty = true
	}
}

// Keys returns the stored keys, sorted.
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.values))
	for key := range s.values {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// Decode unmarshals the whole session (a JSON object) into v, e.g. a struct.
func (s *Session) Decode(v any) error {
	encoded, err := s.MarshalJSON()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(encoded, v); err != nil {
		return fmt.Errorf("socketio: decoding the session: %w", err)
	}
	return nil
}

// Replace replaces the whole session by v, which must encode to a JSON object.
func (s *Session) Replace(v any) error {
	encoded, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("socketio: encoding the session: %w", err)
	}
	values := make(map[string]json.RawMessage)
	if err := json.Unmarshal(encoded, &values); err != nil || values == nil {
		return errors.New("socketio: a session must encode to a JSON object")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values = values
	s.err = nil
	s.dirty = true
	return nil
}

// MarshalJSON encodes the session as a JSON object.
func (s *Session) MarshalJSON() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return json.Marshal(s.values)
}

// take returns the encoded session and whether it changed since the last take.
func (s *Session) take() ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return nil, false
	}
	s.dirty = false
	encoded, err := json.Marshal(s.values)
	if err != nil {
		return nil, false
	}
	return encoded, true
}

// conn is what the SDK keeps about one socket between its events.
type conn struct {
	sid       string
	namespace string
	queue     serialQueue

	mu        sync.Mutex
	known     bool
	recovered bool // the last Connect was a recovery
	engineSID string
	handshake []byte // a serialised sidecarpb.Handshake; nil when unknown
	auth      json.RawMessage
	// While the connect handler runs and the sidecar awaits its decision, the socket does not
	// exist for commands yet: its own commands wait here and follow the ConnectDecision.
	deferring bool
	deferred  []*sidecarpb.BackendMessage
	rejected  bool
	// The sidecar attaches the session it holds to each Event, but an event may have left it
	// before this backend's last SetSession arrived. Until the sidecar confirms that write, and
	// for every event that reached us before the confirmation, the session written last is the
	// true one.
	localSession      []byte
	sessionRequest    uint64
	sessionFreshAfter uint64
}

// sessionFor returns the session a message received as number seq should see.
func (c *conn) sessionFor(seq uint64, carried []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.localSession != nil && seq < c.sessionFreshAfter {
		return c.localSession
	}
	return carried
}

// serialQueue runs tasks one after another on a goroutine that exists only while there is work.
type serialQueue struct {
	mu      sync.Mutex
	tasks   []func()
	running bool
}

func (q *serialQueue) push(task func()) {
	q.mu.Lock()
	q.tasks = append(q.tasks, task)
	if q.running {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	go q.run()
}

func (q *serialQueue) run() {
	for {
		q.mu.Lock()
		if len(q.tasks) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		task := q.tasks[0]
		q.tasks[0] = nil
		q.tasks = q.tasks[1:]
		q.mu.Unlock()
		task()
	}
}

func (q *serialQueue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.running && len(q.tasks) == 0
}

// tracker counts work in flight so that a graceful shutdown can wait for it.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.zero = make(chan struct{})
	}
	t.n++
}

func (t *tracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 {
		close(t.zero)
	}
}

// idle is closed when nothing is in flight.
func (t *tracker) idle() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return t.zero
}
