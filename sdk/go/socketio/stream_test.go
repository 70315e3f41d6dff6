package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/internal/memstream"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

// scriptedSidecar drives a Server over an in-memory stream message by message, for behaviour
// that depends on exactly what the sidecar sends and when.
type scriptedSidecar struct {
	t      *testing.T
	end    *memstream.SidecarEnd
	cancel context.CancelFunc
	served chan error
	hello  *sidecarpb.Hello
}

func quietServer(options ...Option) *Server {
	return NewServer(append([]Option{WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, options...)...)
}

func attachScripted(t *testing.T, server *Server, welcome *sidecarpb.Welcome) *scriptedSidecar {
	t.Helper()
	attached := make(chan struct{}, 1)
	server.OnAttach(func(AttachInfo) { attached <- struct{}{} })
	pipe := memstream.New()
	ctx, cancel := context.WithCancel(context.Background())
	sidecar := &scriptedSidecar{t: t, end: pipe.Sidecar(), cancel: cancel, served: make(chan error, 1)}
	go func() { sidecar.served <- server.Serve(ctx, pipe.Backend()) }()
	t.Cleanup(func() {
		cancel()
		sidecar.end.Close()
		select {
		case <-sidecar.served:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
	})
	first := sidecar.next()
	sidecar.hello = first.GetHello()
	if sidecar.hello == nil {
		t.Fatalf("first message is %v, want Hello", first)
	}
	sidecar.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_Welcome{Welcome: welcome}})
	<-attached
	return sidecar
}

func (s *scriptedSidecar) send(message *sidecarpb.SidecarMessage) {
	s.t.Helper()
	if err := s.end.Send(message); err != nil {
		s.t.Fatal(err)
	}
}

// next returns the next command, skipping processed notices.
func (s *scriptedSidecar) next() *sidecarpb.BackendMessage {
	s.t.Helper()
	type item struct {
		item memstream.Item
		err  error
	}
	for {
		got := make(chan item, 1)
		go func() {
			received, err := s.end.Recv()
			got <- item{received, err}
		}()
		select {
		case received := <-got:
			if received.err != nil {
				s.t.Fatalf("Recv: %v", received.err)
			}
			if received.item.Message != nil {
				return received.item.Message
			}
		case <-time.After(5 * time.Second):
			s.t.Fatal("no command from the backend")
		}
	}
}

func (s *scriptedSidecar) expect(want string) *sidecarpb.BackendMessage {
	s.t.Helper()
	got := s.next()
	expected := &sidecarpb.BackendMessage{}
	if err := prototext.Unmarshal([]byte(want), expected); err != nil {
		s.t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !proto.Equal(got, expected) {
		s.t.Fatalf("command:\n got %v\nwant %v", prototext.Format(got), prototext.Format(expected))
	}
	return got
}

func message(text string) *sidecarpb.SidecarMessage {
	parsed := &sidecarpb.SidecarMessage{}
	if err := prototext.Unmarshal([]byte(text), parsed); err != nil {
		panic(err)
	}
	return parsed
}

func TestHelloDeclaresNamespacesAndEvents(t *testing.T) {
	server := quietServer(WithName("unit"))
	server.On("/", "b", func(ctx context.Context, s *Socket) {})
	server.On("/", "a", func(ctx context.Context, s *Socket) {})
	server.OnAny("/any", func(ctx context.Context, s *Socket) {})
	server.OnConnect("/connect-only", func(ctx context.Context, s *Socket, auth json.RawMessage) error { return nil })
	got := server.hello().GetHello()
	want := &sidecarpb.Hello{}
	if err := prototext.Unmarshal([]byte(`name: "unit" accepts_batches: true
		namespaces { namespace: "/" events: "a" events: "b" }
		namespaces { namespace: "/any" }
		namespaces { namespace: "/connect-only" }`), want); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("Hello = %v, want %v", got, want)
	}
	if empty := NewServer(WithName("x")).hello().GetHello(); len(empty.GetNamespaces()) != 1 || empty.GetNamespaces()[0].GetNamespace() != "/" {
		t.Errorf("Hello of a server without handlers = %v, want /", empty)
	}
}

func TestConnectHandlerCommandsFollowTheDecision(t *testing.T) {
	server := quietServer()
	server.OnConnect("/", func(ctx context.Context, s *Socket, auth json.RawMessage) error {
		if err := s.JoinRoom(ctx, "lobby"); err != nil {
			return err
		}
		if _, err := s.Call(ctx, "x"); !errors.Is(err, ErrConnecting) {
			t.Errorf("Call in the connect handler = %v, want ErrConnecting", err)
		}
		if err := s.Session().Set("n", 1); err != nil {
			return err
		}
		return s.Emit(ctx, "hello", "you")
	})
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{ConnectDecisionTimeoutMs: 5000})
	sidecar.send(message(`connect { sid: "s1" namespace: "/" auth_json: "{}" }`))
	sidecar.expect(`connect_decision { sid: "s1" namespace: "/" accept: true session_json: "{\"n\":1}" }`)
	join := sidecar.expect(`join_rooms { request_id: 1 namespace: "/" target { sids: "s1" } rooms: "lobby" }`)
	sidecar.expect(`emit { namespace: "/" event: "hello" args { json: "[\"you\"]" } target { sids: "s1" } }`)
	// A failure of a command sent on the socket's behalf goes to the error handler.
	reported := make(chan error, 1)
	server.OnErrorDefault(func(ctx context.Context, s *Socket, err error) []any { reported <- err; return nil })
	sidecar.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_CommandResult{CommandResult: &sidecarpb.CommandResult{
		RequestId: join.GetJoinRooms().GetRequestId(), Code: sidecarpb.Code_CODE_NOT_FOUND, Message: "gone",
	}}})
	select {
	case err := <-reported:
		if !errors.Is(err, ErrNoSocket) {
			t.Errorf("reported %v, want a NOT_FOUND CommandError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("failure not reported")
	}
}

func TestAlwaysConnectSendsNoAcceptance(t *testing.T) {
	server := quietServer()
	server.OnConnect("/", func(ctx context.Context, s *Socket, auth json.RawMessage) error {
		if err := s.Session().Set("n", 1); err != nil {
			return err
		}
		return s.Emit(ctx, "hello")
	})
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{AlwaysConnect: true})
	sidecar.send(message(`connect { sid: "s1" namespace: "/" }`))
	sidecar.expect(`emit { namespace: "/" event: "hello" args { json: "[]" } target { sids: "s1" } }`)
	sidecar.expect(`set_session { request_id: 1 sid: "s1" namespace: "/" session_json: "{\"n\":1}" }`)
}

// Two events leave the sidecar before the first one's SetSession arrives there, so both carry
// the old session; the second handler must still see the first one's write.
func TestHandlersSeeTheirOwnSessionWritesBeforeTheSidecarConfirmsThem(t *testing.T) {
	server := quietServer()
	seen := make(chan int, 3)
	server.On("/", "count", func(ctx context.Context, s *Socket) error {
		var count int
		if _, err := s.Session().Get("count", &count); err != nil {
			return err
		}
		seen <- count
		return s.Session().Set("count", count+1)
	})
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{AlwaysConnect: true})
	sidecar.send(message(`event { sid: "s1" namespace: "/" event: "count" session_json: "{}" }`))
	sidecar.send(message(`event { sid: "s1" namespace: "/" event: "count" session_json: "{}" }`))
	sidecar.expect(`get_socket { request_id: 1 sid: "s1" namespace: "/" }`)
	sidecar.send(message(`command_result { request_id: 1 code: CODE_NOT_FOUND }`))
	first := sidecar.expect(`set_session { request_id: 2 sid: "s1" namespace: "/" session_json: "{\"count\":1}" }`)
	sidecar.expect(`set_session { request_id: 3 sid: "s1" namespace: "/" session_json: "{\"count\":2}" }`)
	sidecar.send(&sidecarpb.SidecarMessage{Kind: &sidecarpb.SidecarMessage_CommandResult{CommandResult: &sidecarpb.CommandResult{RequestId: first.GetSetSession().GetRequestId(), SocketCount: 1}}})
	sidecar.send(message(`command_result { request_id: 3 socket_count: 1 }`))
	// Sent after the sidecar confirmed the last write, this event's session is the truth.
	sidecar.send(message(`event { sid: "s1" namespace: "/" event: "count" session_json: "{\"count\":10}" }`))
	sidecar.expect(`set_session { request_id: 4 sid: "s1" namespace: "/" session_json: "{\"count\":11}" }`)
	for _, want := range []int{0, 1, 10} {
		if got := <-seen; got != want {
			t.Errorf("handler saw count %d, want %d", got, want)
		}
	}
}

func TestSocketsFromBeforeTheAttachAreLookedUp(t *testing.T) {
	server := quietServer()
	server.On("/", "who", func(ctx context.Context, s *Socket) string {
		return s.Handshake().Headers.Get("User-Agent")
	})
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{})
	sidecar.send(message(`event { sid: "old" namespace: "/" event: "who" ack_id: 7 }`))
	sidecar.expect(`get_socket { request_id: 1 sid: "old" namespace: "/" }`)
	sidecar.send(message(`command_result { request_id: 1 socket_count: 1 socket { sid: "old" namespace: "/" handshake { headers { key: "user-agent" value: "curl" } } } }`))
	sidecar.expect(`ack { sid: "old" namespace: "/" ack_id: 7 args { json: "[\"curl\"]" } }`)
}

func TestAdoptedSocketsAreServedWithoutALookupOrAConnectHandler(t *testing.T) {
	server := quietServer()
	server.OnConnect("/", func(ctx context.Context, s *Socket, auth json.RawMessage) error {
		t.Error("the connect handler ran for an adopted socket")
		return nil
	})
	server.On("/", "who", func(ctx context.Context, s *Socket) string {
		return s.Handshake().Headers.Get("User-Agent") + " " + string(s.Auth())
	})
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{})
	sidecar.send(message(`adopted { sid: "moved" namespace: "/" auth_json: "{\"a\":1}" handshake { headers { key: "user-agent" value: "curl" } } }`))
	sidecar.send(message(`event { sid: "moved" namespace: "/" event: "who" ack_id: 3 }`))
	sidecar.expect(`ack { sid: "moved" namespace: "/" ack_id: 3 args { json: "[\"curl {\\\"a\\\":1}\"]" } }`)
}

func TestUncorrelatedFailuresGoToTheDefaultErrorHandler(t *testing.T) {
	server := quietServer()
	reported := make(chan error, 1)
	server.OnErrorDefault(func(ctx context.Context, s *Socket, err error) []any {
		if s != nil {
			t.Errorf("socket = %v, want nil", s)
		}
		reported <- err
		return nil
	})
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{})
	sidecar.send(message(`command_result { code: CODE_INVALID_ARGUMENT message: "Emit.args.json: bad" }`))
	var commandError *CommandError
	if err := <-reported; !errors.As(err, &commandError) || commandError.Message != "Emit.args.json: bad" {
		t.Errorf("reported %v", err)
	}
}

func TestGracefulShutdownFinishesRunningHandlers(t *testing.T) {
	server := quietServer()
	started := make(chan struct{})
	release := make(chan struct{})
	server.On("/", "slow", func(ctx context.Context, s *Socket) string {
		close(started)
		<-release
		return "done"
	})
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{})
	sidecar.send(message(`connect { sid: "s1" namespace: "/" }`))
	sidecar.expect(`connect_decision { sid: "s1" namespace: "/" accept: true }`)
	sidecar.send(message(`event { sid: "s1" namespace: "/" event: "slow" ack_id: 1 }`))
	<-started
	sidecar.cancel()
	close(release)
	sidecar.expect(`ack { sid: "s1" namespace: "/" ack_id: 1 args { json: "[\"done\"]" } }`)
	for {
		item, err := sidecar.end.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || item.Message != nil {
			t.Fatalf("after the last ack: %v %v, want the backend to close its side", item.Message, err)
		}
	}
	select {
	case err := <-sidecar.served:
		if err != nil {
			t.Errorf("Serve = %v, want nil after a graceful shutdown", err)
		}
		sidecar.served <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	if err := server.Emit(context.Background(), "late"); !errors.Is(err, ErrNotAttached) {
		t.Errorf("Emit after shutdown = %v, want ErrNotAttached", err)
	}
}

func TestServeRefusesASecondStream(t *testing.T) {
	server := quietServer()
	attachScripted(t, server, &sidecarpb.Welcome{})
	if err := server.Serve(context.Background(), memstream.New().Backend()); !errors.Is(err, ErrAlreadyAttached) {
		t.Errorf("second Serve = %v, want ErrAlreadyAttached", err)
	}
}

func TestWaitingCallersFailWhenTheStreamEnds(t *testing.T) {
	server := quietServer()
	sidecar := attachScripted(t, server, &sidecarpb.Welcome{})
	failed := make(chan error, 1)
	go func() {
		_, err := server.Rooms(context.Background(), "s1")
		failed <- err
	}()
	sidecar.expect(`get_socket { request_id: 1 sid: "s1" namespace: "/" }`)
	sidecar.end.Close()
	if err := <-failed; !errors.Is(err, ErrDetached) {
		t.Errorf("Rooms = %v, want ErrDetached", err)
	}
}
