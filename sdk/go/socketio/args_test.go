package socketio

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

func TestEncodePayload(t *testing.T) {
	tests := []struct {
		name       string
		args       []any
		wantJSON   string
		wantBinary []string
	}{
		{"no arguments", nil, `[]`, nil},
		{"scalars", []any{1, "two", true, nil}, `[1,"two",true,null]`, nil},
		{"html is not escaped", []any{"<b>&</b>"}, `["<b>&</b>"]`, nil},
		{"top-level bytes", []any{[]byte("ab"), 3}, `[{"_placeholder":true,"num":0},3]`, []string{"ab"}},
		{"bytes in generic containers", []any{map[string]any{"f": []byte("x")}, []any{[]byte("y")}}, `[{"f":{"_placeholder":true,"num":0}},[{"_placeholder":true,"num":1}]]`, []string{"x", "y"}},
		{"bytes in a struct stay base64", []any{struct {
			B []byte `json:"b"`
		}{[]byte("x")}}, `[{"b":"eA=="}]`, nil},
		{"raw JSON passes through", []any{json.RawMessage(`{"a":1}`)}, `[{"a":1}]`, nil},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			payload, err := EncodePayload(test.args...)
			if err != nil {
				t.Fatal(err)
			}
			if string(payload.Json) != test.wantJSON {
				t.Errorf("json = %s, want %s", payload.Json, test.wantJSON)
			}
			var binary []string
			for _, attachment := range payload.Binary {
				binary = append(binary, string(attachment))
			}
			if !slices.Equal(binary, test.wantBinary) {
				t.Errorf("binary = %q, want %q", binary, test.wantBinary)
			}
		})
	}
}

func TestEncodePayloadRejectsWhatJSONCannotEncode(t *testing.T) {
	if _, err := EncodePayload(make(chan int)); err == nil {
		t.Error("EncodePayload(chan) succeeded")
	}
}

func TestNewArgs(t *testing.T) {
	tests := []struct {
		name      string
		json      string
		binary    []string
		wantLen   int
		wantJSON  string
		wantBytes map[int]string
		wantErr   string
	}{
		{name: "empty means no arguments", json: ``, wantLen: 0, wantJSON: `[]`},
		{name: "values", json: `[1, "a", {"b": null}]`, wantLen: 3, wantJSON: `[1,"a",{"b":null}]`},
		{name: "top-level attachment", json: `[{"_placeholder":true,"num":0}]`, binary: []string{"hi"}, wantLen: 1, wantJSON: `["aGk="]`, wantBytes: map[int]string{0: "hi"}},
		{name: "nested attachment", json: `[{"file":{"_placeholder":true,"num":1}},{"_placeholder":true,"num":0}]`, binary: []string{"a", "b"}, wantLen: 2, wantJSON: `[{"file":"Yg=="},"YQ=="]`, wantBytes: map[int]string{1: "a"}},
		{name: "placeholder-like object without attachments stays", json: `[{"_placeholder":true,"num":0}]`, wantLen: 1, wantJSON: `[{"_placeholder":true,"num":0}]`},
		{name: "not an array", json: `{"a":1}`, wantErr: "not a JSON array"},
		{name: "missing attachment", json: `[{"_placeholder":true,"num":2}]`, binary: []string{"a"}, wantErr: "attachment 2 of 1"},
		{name: "missing nested attachment", json: `[[{"_placeholder":true,"num":5}]]`, binary: []string{"a"}, wantErr: "missing attachment"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			payload := &sidecarpb.Payload{Json: []byte(test.json)}
			for _, attachment := range test.binary {
				payload.Binary = append(payload.Binary, []byte(attachment))
			}
			args, err := NewArgs(payload)
			if test.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), test.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, test.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if args.Len() != test.wantLen || args.String() != test.wantJSON {
				t.Errorf("args = %d %s, want %d %s", args.Len(), args, test.wantLen, test.wantJSON)
			}
			for i := range args.Len() {
				got, ok := args.Bytes(i)
				want, wantOK := test.wantBytes[i]
				if ok != wantOK || string(got) != want {
					t.Errorf("Bytes(%d) = %q %v, want %q %v", i, got, ok, want, wantOK)
				}
			}
		})
	}
}

func TestArgsDecode(t *testing.T) {
	args, err := NewArgs(&sidecarpb.Payload{Json: []byte(`[{"_placeholder":true,"num":0},{"n":1}]`), Binary: [][]byte{[]byte("raw")}})
	if err != nil {
		t.Fatal(err)
	}
	var binary []byte
	if err := args.Decode(0, &binary); err != nil || string(binary) != "raw" {
		t.Errorf("Decode(0) = %q, %v", binary, err)
	}
	var object struct{ N int }
	if err := args.Decode(1, &object); err != nil || object.N != 1 {
		t.Errorf("Decode(1) = %+v, %v", object, err)
	}
	if err := args.Decode(2, &object); !errors.Is(err, ErrMissingArgument) {
		t.Errorf("Decode(2) = %v, want ErrMissingArgument", err)
	}
	var number int
	if err := args.Decode(1, &number); err == nil {
		t.Error("Decode of an object into int succeeded")
	}
	if rest := args.From(1); rest.Len() != 1 || rest.String() != `[{"n":1}]` {
		t.Errorf("From(1) = %s", rest)
	}
	if rest := args.From(5); rest.Len() != 0 {
		t.Errorf("From(5) = %s", rest)
	}
}

func TestSpreadRoundTripsTopLevelBinaries(t *testing.T) {
	args, err := NewArgs(&sidecarpb.Payload{Json: []byte(`["a",{"_placeholder":true,"num":0}]`), Binary: [][]byte{{1, 2}}})
	if err != nil {
		t.Fatal(err)
	}
	payload, err := EncodePayload(args.Spread()...)
	if err != nil {
		t.Fatal(err)
	}
	if string(payload.Json) != `["a",{"_placeholder":true,"num":0}]` || len(payload.Binary) != 1 || string(payload.Binary[0]) != "\x01\x02" {
		t.Errorf("re-encoded = %s %q", payload.Json, payload.Binary)
	}
}
