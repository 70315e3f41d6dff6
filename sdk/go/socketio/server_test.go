package socketio_test

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

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio/socketiotest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func connected(t *testing.T, server *socketio.Server, namespace string, options ...socketiotest.ConnectOption) *socketiotest.Client {
	t.Helper()
	client := socketiotest.NewClient(server, socketiotest.WithTB(t))
	if err := client.Connect(testContext(t), namespace, options...); err != nil {
		t.Fatalf("Connect(%q): %v", namespace, err)
	}
	return client
}

// events summarises received events as "event args" lines.
func events(received []socketiotest.Received) []string {
	lines := make([]string, len(received))
	for i, event := range received {
		lines[i] = event.Event + " " + event.Args.String()
	}
	return lines
}

func expectEvents(t *testing.T, client *socketiotest.Client, namespace string, want ...string) {
	t.Helper()
	got := events(client.GetReceived(namespace))
	if !slices.Equal(got, want) {
		t.Errorf("received in %q:\n got %q\nwant %q", namespace, got, want)
	}
}

func TestTypedHandlerDecodesArgumentsAndAcksResults(t *testing.T) {
	type point struct {
		X int `json:"x"`
		Y int `json:"y"`
	}
	server := socketio.NewServer()
	server.On("/", "add", func(ctx context.Context, s *socketio.Socket, a, b int) (int, error) {
		return a + b, nil
	})
	server.On("/", "move", func(ctx context.Context, s *socketio.Socket, p point, by ...int) point {
		for _, step := range by {
			p.X += step
		}
		return p
	})
	server.On("/", "pair", func(ctx context.Context, s *socketio.Socket, name string) (string, int) {
		return strings.ToUpper(name), len(name)
	})
	server.On("/", "nothing", func(ctx context.Context, s *socketio.Socket) {})
	client := connected(t, server, "/")
	ctx := testContext(t)

	tests := []struct {
		event string
		args  []any
		want  string
	}{
		{"add", []any{2, 3}, "[5]"},
		{"add", []any{2}, "[2]"},
		{"move", []any{point{1, 2}, 10, 20}, `[{"x":31,"y":2}]`},
		{"move", []any{map[string]int{"x": 1}}, `[{"x":1,"y":0}]`},
		{"pair", []any{"abc"}, `["ABC",3]`},
		{"nothing", nil, "[]"},
	}
	for _, test := range tests {
		t.Run(test.event, func(t *testing.T) {
			ack, err := client.EmitWithAck(ctx, "/", test.event, test.args...)
			if err != nil {
				t.Fatalf("EmitWithAck: %v", err)
			}
			if ack.String() != test.want {
				t.Errorf("ack = %s, want %s", ack, test.want)
			}
		})
	}
}

func TestRawHandlerSeesArgumentsUndecoded(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "echo", socketio.RawHandler(func(ctx context.Context, s *socketio.Socket, args socketio.Args) ([]any, error) {
		return args.Spread(), nil
	}))
	client := connected(t, server, "/")
	ack, err := client.EmitWithAck(testContext(t), "/", "echo", 1, "two", map[string]any{"three": []int{3}}, []byte{4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ack.String(), `[1,"two",{"three":[3]},"BA=="]`; got != want {
		t.Errorf("ack = %s, want %s", got, want)
	}
	if binary, ok := ack.Bytes(3); !ok || string(binary) != "\x04" {
		t.Errorf("ack.Bytes(3) = %q, %v; want the attachment", binary, ok)
	}
}

func TestBinaryAttachmentsDecodeIntoBytesAtAnyDepth(t *testing.T) {
	type upload struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
	}
	server := socketio.NewServer()
	server.On("/", "upload", func(ctx context.Context, s *socketio.Socket, file upload, raw []byte) (string, int, []byte) {
		return file.Name, len(file.Data) + len(raw), append(file.Data, raw...)
	})
	client := connected(t, server, "/")
	ack, err := client.EmitWithAck(testContext(t), "/", "upload", map[string]any{"name": "a.bin", "data": []byte("abc")}, []byte("de"))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	var size int
	if err := ack.Decode(0, &name); err != nil || name != "a.bin" {
		t.Errorf("name = %q (%v)", name, err)
	}
	if err := ack.Decode(1, &size); err != nil || size != 5 {
		t.Errorf("size = %d (%v)", size, err)
	}
	if binary, ok := ack.Bytes(2); !ok || string(binary) != "abcde" {
		t.Errorf("ack.Bytes(2) = %q, %v", binary, ok)
	}
}

func TestConnectHandlerAcceptsRejectsAndSeesHandshake(t *testing.T) {
	server := socketio.NewServer()
	var mu sync.Mutex
	var seen []string
	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
		var credentials struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(auth, &credentials); err != nil {
			return err
		}
		handshake := s.Handshake()
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s %s %s", credentials.Token, handshake.Query.Get("room"), handshake.Headers.Get("X-Name"), handshake.RemoteAddr))
		mu.Unlock()
		if credentials.Token != "secret" {
			return socketio.Reject("unauthorized", map[string]string{"hint": "send a token"})
		}
		return s.Emit(ctx, "welcome", "hello")
	})
	server.On("/", "ping", func(ctx context.Context, s *socketio.Socket) string { return "pong" })
	ctx := testContext(t)

	refused := socketiotest.NewClient(server, socketiotest.WithTB(t))
	err := refused.Connect(ctx, "/", socketiotest.Auth(map[string]string{"token": "wrong"}))
	var connectError *socketiotest.ConnectError
	if !errors.As(err, &connectError) || connectError.Message != "unauthorized" || string(connectError.Data) != `{"hint":"send a token"}` {
		t.Fatalf("Connect with a wrong token: %v, want ConnectError unauthorized", err)
	}
	if refused.IsConnected("/") {
		t.Error("refused client is connected")
	}

	accepted := connected(t, server, "/",
		socketiotest.Auth(map[string]string{"token": "secret"}),
		socketiotest.Query(url.Values{"room": {"lobby"}}),
		socketiotest.Headers(http.Header{"X-Name": {"ada"}}))
	expectEvents(t, accepted, "/", `welcome ["hello"]`)
	if ack, err := accepted.EmitWithAck(ctx, "/", "ping"); err != nil || ack.String() != `["pong"]` {
		t.Errorf("ping after connect: %v %v", ack, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"wrong   127.0.0.1:49152", "secret lobby ada 127.0.0.1:49152"}
	if !slices.Equal(seen, want) {
		t.Errorf("connect handler saw %q, want %q", seen, want)
	}
}

func TestConnectHandlerErrorRejectsWithDefaultMessageAndReportsIt(t *testing.T) {
	server := socketio.NewServer()
	reported := make(chan error, 1)
	server.OnErrorDefault(func(ctx context.Context, s *socketio.Socket, err error) []any {
		reported <- err
		return nil
	})
	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
		return errors.New("database down")
	})
	client := socketiotest.NewClient(server, socketiotest.WithTB(t))
	err := client.Connect(testContext(t), "/")
	var connectError *socketiotest.ConnectError
	if !errors.As(err, &connectError) || connectError.Message != "Connection rejected by server" {
		t.Fatalf("Connect: %v, want the default rejection", err)
	}
	if err := <-reported; err.Error() != "database down" {
		t.Errorf("error handler got %v", err)
	}
}

func TestUnknownNamespaceIsRefused(t *testing.T) {
	server := socketio.NewServer()
	server.On("/chat", "hi", func(ctx context.Context, s *socketio.Socket) {})
	client := socketiotest.NewClient(server, socketiotest.WithTB(t))
	err := client.Connect(testContext(t), "/other")
	var connectError *socketiotest.ConnectError
	if !errors.As(err, &connectError) || connectError.Message != "Invalid namespace" {
		t.Fatalf("Connect(/other) = %v, want Invalid namespace", err)
	}
}

func TestSessionPersistsBetweenEvents(t *testing.T) {
	server := socketio.NewServer()
	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
		return s.Session().Set("name", "ada")
	})
	server.On("/", "count", func(ctx context.Context, s *socketio.Socket) (string, int, error) {
		var name string
		var count int
		if _, err := s.Session().Get("name", &name); err != nil {
			return "", 0, err
		}
		if _, err := s.Session().Get("count", &count); err != nil {
			return "", 0, err
		}
		count++
		return name, count, s.Session().Set("count", count)
	})
	first := connected(t, server, "/")
	second := connected(t, server, "/")
	ctx := testContext(t)
	for want := 1; want <= 3; want++ {
		ack, err := first.EmitWithAck(ctx, "/", "count")
		if err != nil || ack.String() != fmt.Sprintf(`["ada",%d]`, want) {
			t.Fatalf("count #%d = %v (%v)", want, ack, err)
		}
	}
	if ack, err := second.EmitWithAck(ctx, "/", "count"); err != nil || ack.String() != `["ada",1]` {
		t.Errorf("another client's count = %v (%v), want its own session", ack, err)
	}
}

func TestRoomsAndBroadcastsReachTheRightClients(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "join", func(ctx context.Context, s *socketio.Socket, room string) ([]string, error) {
		if err := s.JoinRoom(ctx, room); err != nil {
			return nil, err
		}
		return s.Rooms(ctx)
	})
	server.On("/", "leave", func(ctx context.Context, s *socketio.Socket, room string) error {
		return s.LeaveRoom(ctx, room)
	})
	server.On("/", "to_room", func(ctx context.Context, s *socketio.Socket, room, text string) error {
		return s.Emit(ctx, "said", text, socketio.To(room))
	})
	server.On("/", "to_room_but_me", func(ctx context.Context, s *socketio.Socket, room, text string) error {
		return s.Emit(ctx, "said", text, socketio.To(room), socketio.IncludeSelf(false))
	})
	server.On("/", "shout", func(ctx context.Context, s *socketio.Socket, text string) error {
		return s.Emit(ctx, "said", text, socketio.Broadcast())
	})
	server.On("/", "close", func(ctx context.Context, s *socketio.Socket, room string) error {
		return s.CloseRoom(ctx, room)
	})
	ctx := testContext(t)
	ada, bob, cy := connected(t, server, "/"), connected(t, server, "/"), connected(t, server, "/")

	rooms, err := ada.EmitWithAck(ctx, "/", "join", "red")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := rooms.Decode(0, &names); err != nil || !slices.Equal(names, []string{"red", ada.SID("/")}) && !slices.Equal(names, []string{ada.SID("/"), "red"}) {
		t.Errorf("rooms = %v (%v), want red and the sid", names, err)
	}
	if _, err := bob.EmitWithAck(ctx, "/", "join", "red"); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name     string
		from     *socketiotest.Client
		event    string
		args     []any
		ada, bob []string
		cy       []string
	}{
		{"room emit includes the sender", cy, "to_room", []any{"red", "a"}, []string{`said ["a"]`}, []string{`said ["a"]`}, nil},
		{"include_self false skips the sender", ada, "to_room_but_me", []any{"red", "b"}, nil, []string{`said ["b"]`}, nil},
		{"broadcast reaches everyone", cy, "shout", []any{"c"}, []string{`said ["c"]`}, []string{`said ["c"]`}, []string{`said ["c"]`}},
		{"leave", bob, "leave", []any{"red"}, nil, nil, nil},
		{"after leave", cy, "to_room", []any{"red", "d"}, []string{`said ["d"]`}, nil, nil},
		{"close room", cy, "close", []any{"red"}, nil, nil, nil},
		{"after close", cy, "to_room", []any{"red", "e"}, nil, nil, nil},
	}
	for _, step := range steps {
		if err := step.from.Emit(ctx, "/", step.event, step.args...); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		for _, check := range []struct {
			name   string
			client *socketiotest.Client
			want   []string
		}{{"ada", ada, step.ada}, {"bob", bob, step.bob}, {"cy", cy, step.cy}} {
			if got := events(check.client.GetReceived("/")); !slices.Equal(got, check.want) {
				t.Errorf("%s: %s received %q, want %q", step.name, check.name, got, check.want)
			}
		}
	}
}

func TestServerCommandsFromOutsideHandlers(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "noop", func(ctx context.Context, s *socketio.Socket) {})
	ctx := testContext(t)
	ada, bob := connected(t, server, "/"), connected(t, server, "/")

	if err := server.JoinRoom(ctx, ada.SID("/"), "vip"); err != nil {
		t.Fatal(err)
	}
	if err := server.JoinRoom(ctx, "nobody", "vip"); !errors.Is(err, socketio.ErrNoSocket) {
		t.Errorf("JoinRoom(unknown sid) = %v, want ErrNoSocket", err)
	}
	if _, err := server.Rooms(ctx, "nobody"); !errors.Is(err, socketio.ErrNoSocket) {
		t.Errorf("Rooms(unknown sid) = %v, want ErrNoSocket", err)
	}
	if err := server.Emit(ctx, "news", "for vips", socketio.To("vip")); err != nil {
		t.Fatal(err)
	}
	if err := server.Emit(ctx, "news", "for all but ada", socketio.SkipSID(ada.SID("/"))); err != nil {
		t.Fatal(err)
	}
	if err := server.Send(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	// Commands travel in order, so a handler round trip flushes them.
	if err := ada.Emit(ctx, "/", "noop"); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, ada, "/", `news ["for vips"]`, `message ["plain"]`)
	expectEvents(t, bob, "/", `news ["for all but ada"]`, `message ["plain"]`)

	if err := server.Disconnect(ctx, bob.SID("/")); err != nil {
		t.Fatal(err)
	}
	if bob.IsConnected("/") {
		t.Error("bob still connected after Disconnect")
	}
}

func TestCallWaitsForTheClientsAck(t *testing.T) {
	server := socketio.NewServer()
	type result struct {
		args socketio.Args
		err  error
	}
	results := make(chan result, 1)
	server.On("/", "ask", func(ctx context.Context, s *socketio.Socket, question string) {
		args, err := s.Call(ctx, "question", question, socketio.Timeout(200*time.Millisecond))
		results <- result{args, err}
	})
	ctx := testContext(t)
	client := connected(t, server, "/")
	client.On("/", "question", func(args socketio.Args) []any {
		var question string
		_ = args.Decode(0, &question)
		return []any{"answer to " + question}
	})
	if err := client.Emit(ctx, "/", "ask", "life"); err != nil {
		t.Fatal(err)
	}
	got := <-results
	if got.err != nil || got.args.String() != `["answer to life"]` {
		t.Errorf("Call = %v, %v", got.args, got.err)
	}

	silent := connected(t, server, "/")
	if err := silent.Emit(ctx, "/", "ask", "anyone?"); err != nil {
		t.Fatal(err)
	}
	if got := <-results; !errors.Is(got.err, socketio.ErrAckTimeout) {
		t.Errorf("Call to a client that does not answer = %v, want ErrAckTimeout", got.err)
	}
}

func TestCallbackRunsOncePerClient(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "noop", func(ctx context.Context, s *socketio.Socket) {})
	ctx := testContext(t)
	answering, silent := connected(t, server, "/"), connected(t, server, "/")
	answering.On("/", "poll", func(args socketio.Args) []any { return []any{"yes"} })

	var mu sync.Mutex
	answers := make(map[string]string)
	done := make(chan struct{}, 2)
	err := server.Emit(ctx, "poll", "ready?", socketio.Timeout(100*time.Millisecond), socketio.Callback(func(sid string, args socketio.Args, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			answers[sid] = err.Error()
		} else {
			answers[sid] = args.String()
		}
		done <- struct{}{}
	}))
	if err != nil {
		t.Fatal(err)
	}
	<-done
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := map[string]string{answering.SID("/"): `["yes"]`, silent.SID("/"): socketio.ErrAckTimeout.Error()}
	if fmt.Sprint(answers) != fmt.Sprint(want) {
		t.Errorf("callbacks = %v, want %v", answers, want)
	}
}

func TestPanicsAndErrorsGoToTheErrorHandlers(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "boom", func(ctx context.Context, s *socketio.Socket) { panic("boom") })
	server.On("/", "fail", func(ctx context.Context, s *socketio.Socket) error { return errors.New("failed") })
	server.On("/", "ok", func(ctx context.Context, s *socketio.Socket) string { return "still here" })
	server.On("/chat", "fail", func(ctx context.Context, s *socketio.Socket) error { return errors.New("chat failed") })
	server.OnError("/", func(ctx context.Context, s *socketio.Socket, err error) []any {
		var panicked *socketio.PanicError
		if errors.As(err, &panicked) {
			return []any{"panic", fmt.Sprint(panicked.Value), s.Event()}
		}
		return []any{"error", err.Error(), s.Event()}
	})
	server.OnErrorDefault(func(ctx context.Context, s *socketio.Socket, err error) []any {
		return []any{"default", err.Error()}
	})
	ctx := testContext(t)
	client := connected(t, server, "/")
	if err := client.Connect(ctx, "/chat"); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ namespace, event, want string }{
		{"/", "boom", `["panic","boom","boom"]`},
		{"/", "fail", `["error","failed","fail"]`},
		{"/", "ok", `["still here"]`},
		{"/chat", "fail", `["default","chat failed"]`},
	}
	for _, test := range tests {
		ack, err := client.EmitWithAck(ctx, test.namespace, test.event)
		if err != nil || ack.String() != test.want {
			t.Errorf("%s %s: ack %v (%v), want %s", test.namespace, test.event, ack, err, test.want)
		}
	}
}

func TestFailedHandlerWithoutErrorHandlerSendsNoAck(t *testing.T) {
	server := socketio.NewServer(socketio.WithLogger(discardLogger()))
	server.On("/", "fail", func(ctx context.Context, s *socketio.Socket) error { return errors.New("failed") })
	server.On("/", "boom", func(ctx context.Context, s *socketio.Socket) { panic("boom") })
	client := connected(t, server, "/")
	ctx := testContext(t)
	for _, event := range []string{"fail", "boom"} {
		if _, err := client.EmitWithAck(ctx, "/", event); !errors.Is(err, socketiotest.ErrNoAck) {
			t.Errorf("%s: %v, want ErrNoAck", event, err)
		}
	}
	if !client.IsConnected("/") {
		t.Error("a failing handler disconnected the client")
	}
}

func TestBadArgumentsGoToTheErrorHandler(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "add", func(ctx context.Context, s *socketio.Socket, a, b int) int { return a + b })
	server.OnErrorDefault(func(ctx context.Context, s *socketio.Socket, err error) []any {
		return []any{err.Error()}
	})
	client := connected(t, server, "/")
	ack, err := client.EmitWithAck(testContext(t), "/", "add", "one", 2)
	if err != nil {
		t.Fatal(err)
	}
	var message string
	_ = ack.Decode(0, &message)
	if !strings.Contains(message, "argument 0") {
		t.Errorf("error = %q, want it to name argument 0", message)
	}
}

func TestOnAnyAndOnMessage(t *testing.T) {
	server := socketio.NewServer()
	server.OnMessage("/", func(ctx context.Context, s *socketio.Socket, text string) error {
		return s.Send(ctx, "echo: "+text)
	})
	server.On("/", "known", func(ctx context.Context, s *socketio.Socket) string { return "known" })
	server.OnAny("/", func(ctx context.Context, s *socketio.Socket, args socketio.Args) string {
		return "any " + s.Event() + " " + args.String()
	})
	client := connected(t, server, "/")
	ctx := testContext(t)
	if err := client.Send(ctx, "/", "hi"); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, client, "/", `message ["echo: hi"]`)
	for event, want := range map[string]string{"known": `["known"]`, "other": `["any other [1]"]`} {
		if ack, err := client.EmitWithAck(ctx, "/", event, 1); err != nil || ack.String() != want {
			t.Errorf("%s: %v (%v), want %s", event, ack, err, want)
		}
	}
}

func TestEventsWithoutHandlerAreDropped(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "known", func(ctx context.Context, s *socketio.Socket) {})
	client := connected(t, server, "/")
	if _, err := client.EmitWithAck(testContext(t), "/", "unknown"); !errors.Is(err, socketiotest.ErrNoAck) {
		t.Errorf("unknown event: %v, want ErrNoAck", err)
	}
}

func TestDisconnectHandlerLearnsTheReason(t *testing.T) {
	server := socketio.NewServer()
	reasons := make(chan string, 4)
	server.OnDisconnect("/", func(ctx context.Context, s *socketio.Socket, reason string) {
		var name string
		_, _ = s.Session().Get("name", &name)
		reasons <- name + ": " + reason
	})
	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
		return s.Session().Set("name", "ada")
	})
	server.On("/", "bye", func(ctx context.Context, s *socketio.Socket) error { return s.Disconnect(ctx) })
	ctx := testContext(t)

	client := connected(t, server, "/")
	if err := client.Disconnect(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if got := <-reasons; got != "ada: client namespace disconnect" {
		t.Errorf("reason = %q", got)
	}
	client = connected(t, server, "/")
	if err := client.Emit(ctx, "/", "bye"); err != nil {
		t.Fatal(err)
	}
	if got := <-reasons; got != "ada: server namespace disconnect" {
		t.Errorf("reason = %q", got)
	}
	if client.IsConnected("/") {
		t.Error("still connected")
	}
}

func TestOneClientsHandlersRunInOrderAndClientsRunConcurrently(t *testing.T) {
	server := socketio.NewServer()
	var mu sync.Mutex
	order := make(map[string][]int)
	blocking := make(chan struct{})
	server.On("/", "step", func(ctx context.Context, s *socketio.Socket, n int) {
		if n == 0 {
			<-blocking
		}
		mu.Lock()
		order[s.SID()] = append(order[s.SID()], n)
		mu.Unlock()
	})
	server.On("/", "release", func(ctx context.Context, s *socketio.Socket) { close(blocking) })
	ctx := testContext(t)
	slow, fast := connected(t, server, "/"), connected(t, server, "/")
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := range 3 {
			if err := slow.Emit(ctx, "/", "step", n); err != nil {
				t.Error(err)
			}
		}
	}()
	// The slow client's first handler blocks; another client is served meanwhile.
	if err := fast.Emit(ctx, "/", "release"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if got := order[slow.SID("/")]; !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("slow client's handlers ran in order %v", got)
	}
}

func TestWithoutAsyncHandlersEverythingRunsOneAtATime(t *testing.T) {
	server := socketio.NewServer(socketio.WithAsyncHandlers(false))
	var running, most int
	var mu sync.Mutex
	server.On("/", "work", func(ctx context.Context, s *socketio.Socket) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
	})
	ctx := testContext(t)
	var wg sync.WaitGroup
	for range 4 {
		client := connected(t, server, "/")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if err := client.Emit(ctx, "/", "work"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("up to %d handlers ran at once, want 1", most)
	}
}

func TestSeveralNamespacesOfOneClient(t *testing.T) {
	server := socketio.NewServer()
	server.On("/", "where", func(ctx context.Context, s *socketio.Socket) string { return s.Namespace() })
	server.On("/chat", "where", func(ctx context.Context, s *socketio.Socket) string { return s.Namespace() })
	server.On("/chat", "tell_root", func(ctx context.Context, s *socketio.Socket, text string) error {
		return s.Emit(ctx, "told", text, socketio.Namespace("/"), socketio.Broadcast())
	})
	ctx := testContext(t)
	client := connected(t, server, "/")
	if err := client.Connect(ctx, "/chat"); err != nil {
		t.Fatal(err)
	}
	if client.SID("/") == client.SID("/chat") {
		t.Error("one sid for two namespaces")
	}
	for _, namespace := range []string{"/", "/chat"} {
		if ack, err := client.EmitWithAck(ctx, namespace, "where"); err != nil || ack.String() != fmt.Sprintf("[%q]", namespace) {
			t.Errorf("where in %s: %v (%v)", namespace, ack, err)
		}
	}
	if err := client.Emit(ctx, "/chat", "tell_root", "hi"); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, client, "/", `told ["hi"]`)
	expectEvents(t, client, "/chat")
	if err := client.Disconnect(ctx, "/chat"); err != nil {
		t.Fatal(err)
	}
	if !client.IsConnected("/") || client.IsConnected("/chat") {
		t.Error("disconnecting /chat should leave / connected")
	}
}

func TestAlwaysConnectRejectionDisconnects(t *testing.T) {
	server := socketio.NewServer()
	disconnects := make(chan string, 1)
	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
		if string(auth) == `{"ok":true}` {
			return s.Session().Set("greeting", "hi")
		}
		return socketio.Reject("no", nil)
	})
	server.OnDisconnect("/", func(ctx context.Context, s *socketio.Socket, reason string) { disconnects <- reason })
	server.On("/", "greeting", func(ctx context.Context, s *socketio.Socket) (string, error) {
		var greeting string
		_, err := s.Session().Get("greeting", &greeting)
		return greeting, err
	})
	ctx := testContext(t)
	client := socketiotest.NewClient(server, socketiotest.WithTB(t), socketiotest.WithAlwaysConnect())
	if err := client.Connect(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	if client.IsConnected("/") {
		t.Error("rejected client still connected")
	}
	select {
	case reason := <-disconnects:
		t.Errorf("disconnect handler ran for a rejected connection (%s)", reason)
	default:
	}
	accepted := socketiotest.NewClient(server, socketiotest.WithTB(t))
	if err := accepted.Connect(ctx, "/", socketiotest.Auth(map[string]bool{"ok": true})); err != nil {
		t.Fatal(err)
	}
	if ack, err := accepted.EmitWithAck(ctx, "/", "greeting"); err != nil || ack.String() != `["hi"]` {
		t.Errorf("session from the connect handler: %v (%v)", ack, err)
	}
}

func TestCommandsFailWhenNotAttached(t *testing.T) {
	server := socketio.NewServer()
	ctx := testContext(t)
	if err := server.Emit(ctx, "x"); !errors.Is(err, socketio.ErrNotAttached) {
		t.Errorf("Emit = %v, want ErrNotAttached", err)
	}
	if err := server.JoinRoom(ctx, "sid", "room"); !errors.Is(err, socketio.ErrNotAttached) {
		t.Errorf("JoinRoom = %v, want ErrNotAttached", err)
	}
	if _, err := server.Call(ctx, "x", socketio.To("sid")); !errors.Is(err, socketio.ErrNotAttached) {
		t.Errorf("Call = %v, want ErrNotAttached", err)
	}
}
