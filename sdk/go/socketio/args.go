package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

// Args are the arguments of an event or of an ack, as a client sent them: JSON values and binary
// attachments.
//
// Binary attachments are replaced, wherever they stood, by their base64 encoding in the JSON
// views (Raw, Decode, Values), so they decode into []byte fields at any depth. A top-level binary
// argument is also available as bytes, from Bytes.
type Args struct {
	values []json.RawMessage
	// For each value: the attachment it is, or -1.
	attachment []int
	binary     [][]byte
}

// NewArgs decodes a Payload (the JSON arguments array and its binary attachments).
func NewArgs(payload *sidecarpb.Payload) (Args, error) {
	var args Args
	text := bytes.TrimSpace(payload.GetJson())
	if len(text) == 0 {
		return args, nil
	}
	if err := json.Unmarshal(text, &args.values); err != nil {
		return Args{}, fmt.Errorf("socketio: arguments are not a JSON array: %w", err)
	}
	args.binary = payload.GetBinary()
	args.attachment = make([]int, len(args.values))
	for i := range args.values {
		args.attachment[i] = -1
		if len(args.binary) == 0 {
			continue
		}
		if num, ok := placeholderNumber(args.values[i]); ok {
			if num < 0 || num >= len(args.binary) {
				return Args{}, fmt.Errorf("socketio: argument %d refers to attachment %d of %d", i, num, len(args.binary))
			}
			args.attachment[i] = num
		}
		substituted, err := substitutePlaceholders(args.values[i], args.binary)
		if err != nil {
			return Args{}, fmt.Errorf("socketio: argument %d: %w", i, err)
		}
		args.values[i] = substituted
	}
	return args, nil
}

// Len is the number of arguments.
func (a Args) Len() int { return len(a.values) }

// Raw returns argument i as JSON, or nil if there is no argument i.
func (a Args) Raw(i int) json.RawMessage {
	if i < 0 || i >= len(a.values) {
		return nil
	}
	return a.values[i]
}

// Values returns every argument as JSON.
func (a Args) Values() []json.RawMessage { return a.values }

// Decode unmarshals argument i into v, as encoding/json does.
func (a Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.values) {
		return fmt.Errorf("socketio: no argument %d (got %d): %w", i, len(a.values), ErrMissingArgument)
	}
	if binary, ok := a.Bytes(i); ok {
		if target, ok := v.(*[]byte); ok {
			*target = binary
			return nil
		}
	}
	if err := json.Unmarshal(a.values[i], v); err != nil {
		return fmt.Errorf("socketio: argument %d: %w", i, err)
	}
	return nil
}

// Bytes returns argument i if it is a binary attachment.
func (a Args) Bytes(i int) ([]byte, bool) {
	if i < 0 || i >= len(a.attachment) || a.attachment[i] < 0 {
		return nil, false
	}
	return a.binary[a.attachment[i]], true
}

// Binary returns every binary attachment, in the order the client sent them.
func (a Args) Binary() [][]byte { return a.binary }

// Spread returns the arguments ready to be sent again (for example as an ack that echoes them):
// binary arguments as []byte, the others as json.RawMessage.
func (a Args) Spread() []any {
	spread := make([]any, len(a.values))
	for i := range a.values {
		if binary, ok := a.Bytes(i); ok {
			spread[i] = binary
		} else {
			spread[i] = a.values[i]
		}
	}
	return spread
}

// From returns the arguments from index i on.
func (a Args) From(i int) Args {
	if i <= 0 {
		return a
	}
	if i >= len(a.values) {
		return Args{binary: a.binary}
	}
	return Args{values: a.values[i:], attachment: a.attachment[i:], binary: a.binary}
}

// MarshalJSON encodes the arguments as a JSON array (binary attachments as base64 strings).
func (a Args) MarshalJSON() ([]byte, error) {
	if a.values == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(a.values)
}

// String returns the arguments as a JSON array.
func (a Args) String() string {
	text, err := a.MarshalJSON()
	if err != nil {
		return fmt.Sprintf("<invalid arguments: %v>", err)
	}
	return string(text)
}

// EncodePayload turns arguments into a Payload. A []byte argument, or a []byte inside a
// map[string]any or []any argument, becomes a binary attachment; everything else is encoded with
// encoding/json (so a []byte field of a struct is a base64 string, as encoding/json writes it).
// A json.RawMessage is sent as it is.
func EncodePayload(args ...any) (*sidecarpb.Payload, error) {
	payload := &sidecarpb.Payload{}
	values := make([]any, len(args))
	for i, arg := range args {
		values[i] = extractBinary(arg, &payload.Binary)
	}
	var buffer bytes.Buffer
	encoder := json.NewEncoder(&buffer)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(values); err != nil {
		return nil, fmt.Errorf("socketio: encoding arguments: %w", err)
	}
	payload.Json = bytes.TrimRight(buffer.Bytes(), "\n")
	return payload, nil
}

type placeholder struct {
	Placeholder bool `json:"_placeholder"`
	Num         int  `json:"num"`
}

func extractBinary(value any, binary *[][]byte) any {
	switch v := value.(type) {
	case json.RawMessage:
		return v
	case []byte:
		*binary = append(*binary, v)
		return placeholder{Placeholder: true, Num: len(*binary) - 1}
	case []any:
		copied := make([]any, len(v))
		for i := range v {
			copied[i] = extractBinary(v[i], binary)
		}
		return copied
	case map[string]any:
		copied := make(map[string]any, len(v))
		for key, item := range v {
			copied[key] = extractBinary(item, binary)
		}
		return copied
	default:
		return value
	}
}

// placeholderNumber reports whether value is exactly a placeholder object, and which attachment.
func placeholderNumber(value json.RawMessage) (int, bool) {
	if len(value) == 0 || value[0] != '{' || !bytes.Contains(value, []byte(`"_placeholder"`)) {
		return 0, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(value, &fields) != nil || len(fields) != 2 {
		return 0, false
	}
	var marked bool
	var num int
	if json.Unmarshal(fields["_placeholder"], &marked) != nil || !marked {
		return 0, false
	}
	if json.Unmarshal(fields["num"], &num) != nil {
		return 0, false
	}
	return num, true
}

var errBadPlaceholder = errors.New("placeholder refers to a missing attachment")

// substitutePlaceholders replaces placeholders in value by the base64 text of their attachments.
func substitutePlaceholders(value json.RawMessage, binary [][]byte) (json.RawMessage, error) {
	if !bytes.Contains(value, []byte(`"_placeholder"`)) {
		return value, nil
	}
	decoder := json.NewDecoder(bytes.NewReader(value))
	decoder.UseNumber()
	var tree any
	if err := decoder.Decode(&tree); err != nil {
		return nil, err
	}
	replaced, err := replacePlaceholders(tree, binary)
	if err != nil {
		return nil, err
	}
	var buffer bytes.Buffer
	encoder := json.NewEncoder(&buffer)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(replaced); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buffer.Bytes(), "\n"), nil
}

func replacePlaceholders(tree any, binary [][]byte) (any, error) {
	switch v := tree.(type) {
	case []any:
		for i := range v {
			replaced, err := replacePlaceholders(v[i], binary)
			if err != nil {
				return nil, err
			}
			v[i] = replaced
		}
		return v, nil
	case map[string]any:
		if marked, ok := v["_placeholder"].(bool); ok && marked && len(v) == 2 {
			if number, ok := v["num"].(json.Number); ok {
				num, err := number.Int64()
				if err != nil || num < 0 || num >= int64(len(binary)) {
					return nil, fmt.Errorf("%w: %s of %d", errBadPlaceholder, strings.TrimSpace(number.String()), len(binary))
				}
				return base64.StdEncoding.EncodeToString(binary[num]), nil
			}
		}
		for key, item := range v {
			replaced, err := replacePlaceholders(item, binary)
			if err != nil {
				return nil, err
			}
			v[key] = replaced
		}
		return v, nil
	default:
		return tree, nil
	}
}
