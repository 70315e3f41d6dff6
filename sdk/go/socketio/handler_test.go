package socketio

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

func TestEventName(t *testing.T) {
	tests := map[string]string{
		"MyEvent":           "my_event",
		"MyBroadcastEvent":  "my_broadcast_event",
		"Join":              "join",
		"DisconnectRequest": "disconnect_request",
		"HTTPRequest":       "http_request",
		"GetID":             "get_id",
		"Event2":            "event2",
		"V2Event":           "v2_event",
		"A":                 "a",
	}
	for method, want := range tests {
		if got := eventName(method); got != want {
			t.Errorf("eventName(%q) = %q, want %q", method, got, want)
		}
	}
}

type notJSON interface{ Method() }

func TestCompileHandlerRejectsBadSignatures(t *testing.T) {
	tests := []struct {
		name    string
		handler any
		wantErr string
	}{
		{"nil", nil, "nil"},
		{"nil function", (func(context.Context, *Socket))(nil), "nil"},
		{"nil raw handler", RawHandler(nil), "nil"},
		{"not a function", 42, "must be a function"},
		{"no context", func(s *Socket) {}, "must start with (context.Context, *socketio.Socket)"},
		{"no socket", func(ctx context.Context, x int) {}, "must start with"},
		{"swapped", func(s *Socket, ctx context.Context) {}, "must start with"},
		{"channel parameter", func(ctx context.Context, s *Socket, c chan int) {}, "parameter 3: JSON cannot decode into chan int"},
		{"interface parameter", func(ctx context.Context, s *Socket, x notJSON) {}, "use any or a concrete type"},
		{"Args not last", func(ctx context.Context, s *Socket, a Args, x int) {}, "socketio.Args must be the last parameter"},
		{"error not last", func(ctx context.Context, s *Socket) (error, int) { return nil, 0 }, "error must be the last result"},
		{"function result", func(ctx context.Context, s *Socket) func() { return nil }, "result 1: JSON cannot encode"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := compileHandler(test.handler)
			if err == nil || !strings.Contains(err.Error(), test.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, test.wantErr)
			}
		})
	}
}

func TestCompileHandlerCallsEachForm(t *testing.T) {
	mustArgs := func(text string) Args {
		args, err := NewArgs(&sidecarpb.Payload{Json: []byte(text)})
		if err != nil {
			t.Fatal(err)
		}
		return args
	}
	tests := []struct {
		name    string
		handler any
		args    string
		want    string
	}{
		{"no parameters", func(ctx context.Context, s *Socket) string { return "ok" }, `[1]`, `["ok"]`},
		{"typed", func(ctx context.Context, s *Socket, a int, b string) (string, int) { return b, a }, `[1,"x"]`, `["x",1]`},
		{"missing arguments are zero", func(ctx context.Context, s *Socket, a int, b string) (int, string) { return a, b }, `[]`, `[0,""]`},
		{"variadic", func(ctx context.Context, s *Socket, first string, rest ...int) int { return len(rest) }, `["a",1,2,3]`, `[3]`},
		{"args rest", func(ctx context.Context, s *Socket, first string, rest Args) string { return rest.String() }, `["a",1,2]`, `["[1,2]"]`},
		{"raw JSON", func(ctx context.Context, s *Socket, raw json.RawMessage) string { return string(raw) }, `[{"a":1}]`, `["{\"a\":1}"]`},
		{"any", func(ctx context.Context, s *Socket, v any) any { return v }, `[{"a":[1]}]`, `[{"a":[1]}]`},
		{"pointer", func(ctx context.Context, s *Socket, p *struct{ A int }) int { return p.A }, `[{"A":7}]`, `[7]`},
		{"plain func raw form", func(ctx context.Context, s *Socket, args Args) ([]any, error) { return []any{args.Len()}, nil }, `[1,2]`, `[2]`},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			compiled, err := compileHandler(test.handler)
			if err != nil {
				t.Fatal(err)
			}
			results, err := compiled(context.Background(), nil, mustArgs(test.args))
			if err != nil {
				t.Fatal(err)
			}
			payload, err := EncodePayload(results...)
			if err != nil {
				t.Fatal(err)
			}
			if string(payload.Json) != test.want {
				t.Errorf("results = %s, want %s", payload.Json, test.want)
			}
		})
	}
}

type goodNamespace struct{}

func (goodNamespace) OnConnect(ctx context.Context, s *Socket, auth json.RawMessage) error {
	return nil
}
func (goodNamespace) OnDisconnect(ctx context.Context, s *Socket, reason string)   {}
func (goodNamespace) OnError(ctx context.Context, s *Socket, err error) []any      { return nil }
func (goodNamespace) OnMyEvent(ctx context.Context, s *Socket, data string) string { return data }
func (goodNamespace) OnMessage(ctx context.Context, s *Socket, data string)        {}
func (goodNamespace) Once()                                                        {}
func (goodNamespace) Helper() int                                                  { return 0 }

type badEvent struct{}

func (badEvent) OnThing(x int) {}

type badConnect struct{}

func (badConnect) OnConnect(ctx context.Context, s *Socket) error { return nil }

type pointerOnly struct{}

func (*pointerOnly) OnThing(ctx context.Context, s *Socket) {}

func TestReadNamespaceObject(t *testing.T) {
	found, err := readNamespaceObject(goodNamespace{})
	if err != nil {
		t.Fatal(err)
	}
	if found.connect == nil || found.disconnect == nil || found.onError == nil {
		t.Error("reserved methods not found")
	}
	if len(found.events) != 2 || found.events["my_event"] == nil || found.events["message"] == nil {
		t.Errorf("events = %v, want my_event and message", found.events)
	}

	tests := []struct {
		name    string
		object  any
		wantErr string
	}{
		{"nil", nil, "nil"},
		{"bad event method", badEvent{}, `method OnThing (event "thing")`},
		{"bad connect method", badConnect{}, "method OnConnect is func(context.Context, *socketio.Socket) error; want"},
		{"pointer receivers on a value", pointerOnly{}, "need a pointer"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := readNamespaceObject(test.object)
			if err == nil || !strings.Contains(err.Error(), test.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, test.wantErr)
			}
		})
	}
	if _, err := readNamespaceObject(&pointerOnly{}); err != nil {
		t.Errorf("pointer: %v", err)
	}
}

func TestRegisterInstallsNothingOnError(t *testing.T) {
	server := NewServer()
	err := server.Register("/x", badEvent{})
	if err == nil || !strings.Contains(err.Error(), `Register("/x", socketio.badEvent)`) {
		t.Errorf("err = %v", err)
	}
	if server.lookup("/x") != nil {
		t.Error("a failed Register created the namespace")
	}
}

func TestOnPanicsOnABadHandler(t *testing.T) {
	defer func() {
		recovered := recover()
		if recovered == nil || !strings.Contains(recovered.(string), `On("/", "e")`) {
			t.Errorf("recovered %v", recovered)
		}
	}()
	NewServer().On("/", "e", func() {})
}
