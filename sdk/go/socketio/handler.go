package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode"
)

// RawHandler is the handler form without reflection: it receives the arguments undecoded and
// returns the ack's arguments (one element per argument). Any function of this type, named or
// not, is called directly.
type RawHandler func(ctx context.Context, s *Socket, args Args) ([]any, error)

// ConnectHandler runs when a client connects to a namespace, with the CONNECT packet's payload
// (socket.io-client's auth option; `{}` when absent). Returning nil accepts the connection;
// returning an error made with Reject refuses it with that message and data; any other error
// refuses it with "Connection rejected by server" and goes to the error handler.
type ConnectHandler func(ctx context.Context, s *Socket, auth json.RawMessage) error

// DisconnectHandler runs when a socket has left a namespace, with Socket.IO's reason, e.g.
// "client namespace disconnect", "transport close", "ping timeout",
// "server namespace disconnect".
type DisconnectHandler func(ctx context.Context, s *Socket, reason string)

// ErrorHandler receives what a handler of its namespace returned as error or panicked with
// (a *PanicError), or a failure not tied to an event (then s is nil): a command the sidecar
// refused, an ack that never came for an emit with Callback. If the failing event asked for an
// ack, the values it returns become the ack's arguments, as in Flask-SocketIO.
type ErrorHandler func(ctx context.Context, s *Socket, err error) []any

// handler is every event handler form, compiled.
type handler func(ctx context.Context, s *Socket, args Args) ([]any, error)

var (
	contextType = reflect.TypeFor[context.Context]()
	socketType  = reflect.TypeFor[*Socket]()
	argsType    = reflect.TypeFor[Args]()
	errorType   = reflect.TypeFor[error]()
	bytesType   = reflect.TypeFor[[]byte]()
)

// compileHandler checks a handler's signature once, at registration, and returns a function that
// decodes arguments into its parameters and turns its results into ack arguments.
//
// Accepted: func(ctx context.Context, s *Socket, params...) (results..., error?). Each parameter
// takes one argument, decoded from JSON ([]byte also takes a binary attachment); a final
// variadic parameter takes the rest; a final Args parameter takes the rest undecoded. Missing
// arguments leave parameters at their zero value; extra ones are ignored. Each result is one ack
// argument; a final error result is the handler's error.
func compileHandler(fn any) (handler, error) {
	switch f := fn.(type) {
	case nil:
		return nil, errors.New("handler is nil")
	case RawHandler:
		if f == nil {
			return nil, errors.New("handler is nil")
		}
		return handler(f), nil
	case func(context.Context, *Socket, Args) ([]any, error):
		if f == nil {
			return nil, errors.New("handler is nil")
		}
		return f, nil
	}
	value := reflect.ValueOf(fn)
	kind := value.Type()
	if kind.Kind() != reflect.Func {
		return nil, fmt.Errorf("handler must be a function, not %s", kind)
	}
	if value.IsNil() {
		return nil, errors.New("handler is nil")
	}
	if kind.NumIn() < 2 || kind.In(0) != contextType || kind.In(1) != socketType {
		return nil, fmt.Errorf("handler %s must start with (context.Context, *socketio.Socket)", kind)
	}
	last := kind.NumIn() - 1
	variadic := kind.IsVariadic()
	for i := 2; i <= last; i++ {
		param := kind.In(i)
		if param == argsType && i != last {
			return nil, fmt.Errorf("handler %s: socketio.Args must be the last parameter", kind)
		}
		if variadic && i == last {
			param = param.Elem()
		}
		if err := checkDecodable(param); err != nil {
			return nil, fmt.Errorf("handler %s: parameter %d: %w", kind, i+1, err)
		}
	}
	errorResult := -1
	for i := 0; i < kind.NumOut(); i++ {
		result := kind.Out(i)
		if result == errorType {
			if i != kind.NumOut()-1 {
				return nil, fmt.Errorf("handler %s: error must be the last result", kind)
			}
			errorResult = i
			continue
		}
		if err := checkEncodable(result); err != nil {
			return nil, fmt.Errorf("handler %s: result %d: %w", kind, i+1, err)
		}
	}
	params := make([]reflect.Type, kind.NumIn())
	for i := range params {
		params[i] = kind.In(i)
	}
	return func(ctx context.Context, s *Socket, args Args) ([]any, error) {
		in := make([]reflect.Value, len(params))
		in[0] = reflect.ValueOf(&ctx).Elem()
		in[1] = reflect.ValueOf(s)
		for i := 2; i <= last; i++ {
			index := i - 2
			switch {
			case params[i] == argsType:
				in[i] = reflect.ValueOf(args.From(index))
			case variadic && i == last:
				rest := reflect.MakeSlice(params[i], 0, max(0, args.Len()-index))
				for j := index; j < args.Len(); j++ {
					item, err := decodeArgument(args, j, params[i].Elem())
					if err != nil {
						return nil, err
					}
					rest = reflect.Append(rest, item)
				}
				in[i] = rest
			default:
				item, err := decodeArgument(args, index, params[i])
				if err != nil {
					return nil, err
				}
				in[i] = item
			}
		}
		var out []reflect.Value
		if variadic {
			out = value.CallSlice(in)
		} else {
			out = value.Call(in)
		}
		var err error
		if errorResult >= 0 {
			if failure := out[errorResult]; !failure.IsNil() {
				err = failure.Interface().(error)
			}
			out = out[:errorResult]
		}
		results := make([]any, len(out))
		for i := range out {
			results[i] = out[i].Interface()
		}
		return results, err
	}, nil
}

func decodeArgument(args Args, index int, kind reflect.Type) (reflect.Value, error) {
	target := reflect.New(kind)
	if index >= args.Len() {
		return target.Elem(), nil
	}
	if kind == bytesType {
		if binary, ok := args.Bytes(index); ok {
			return reflect.ValueOf(binary), nil
		}
	}
	if err := json.Unmarshal(args.Raw(index), target.Interface()); err != nil {
		return reflect.Value{}, fmt.Errorf("socketio: argument %d into %s: %w", index, kind, err)
	}
	return target.Elem(), nil
}

func checkDecodable(kind reflect.Type) error {
	if kind.Implements(reflect.TypeFor[json.Unmarshaler]()) ||
		reflect.PointerTo(kind).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	switch kind.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("JSON cannot decode into %s", kind)
	case reflect.Interface:
		if kind.NumMethod() > 0 {
			return fmt.Errorf("JSON cannot decode into the interface %s; use any or a concrete type", kind)
		}
	}
	return nil
}

func checkEncodable(kind reflect.Type) error {
	if kind.Implements(reflect.TypeFor[json.Marshaler]()) {
		return nil
	}
	switch kind.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("JSON cannot encode %s", kind)
	}
	return nil
}

// eventName turns a method name without its "On" into Flask-SocketIO's event name:
// MyEvent -> my_event, HTTPRequest -> http_request, V2Event -> v2_event.
func eventName(method string) string {
	runes := []rune(method)
	var name strings.Builder
	for i, r := range runes {
		if i > 0 && unicode.IsUpper(r) {
			previous := runes[i-1]
			nextIsLower := i+1 < len(runes) && unicode.IsLower(runes[i+1])
			if unicode.IsLower(previous) || unicode.IsDigit(previous) || (unicode.IsUpper(previous) && nextIsLower) {
				name.WriteByte('_')
			}
		}
		name.WriteRune(unicode.ToLower(r))
	}
	return name.String()
}

// namespaceMethods reads a class-based namespace: methods named OnXxx.
type namespaceMethods struct {
	connect    ConnectHandler
	disconnect DisconnectHandler
	onError    ErrorHandler
	events     map[string]handler
}

func readNamespaceObject(object any) (namespaceMethods, error) {
	found := namespaceMethods{events: make(map[string]handler)}
	if object == nil {
		return found, errors.New("object is nil")
	}
	value := reflect.ValueOf(object)
	kind := value.Type()
	for i := 0; i < kind.NumMethod(); i++ {
		method := kind.Method(i)
		rest, ok := strings.CutPrefix(method.Name, "On")
		if !ok || rest == "" || !unicode.IsUpper([]rune(rest)[0]) {
			continue
		}
		bound := value.Method(i).Interface()
		signature := value.Method(i).Type()
		switch rest {
		case "Connect":
			f, ok := bound.(func(context.Context, *Socket, json.RawMessage) error)
			if !ok {
				return found, fmt.Errorf("method OnConnect is %s; want func(context.Context, *socketio.Socket, json.RawMessage) error", signature)
			}
			found.connect = f
		case "Disconnect":
			f, ok := bound.(func(context.Context, *Socket, string))
			if !ok {
				return found, fmt.Errorf("method OnDisconnect is %s; want func(context.Context, *socketio.Socket, string)", signature)
			}
			found.disconnect = f
		case "Error":
			f, ok := bound.(func(context.Context, *Socket, error) []any)
			if !ok {
				return found, fmt.Errorf("method OnError is %s; want func(context.Context, *socketio.Socket, error) []any", signature)
			}
			found.onError = f
		default:
			compiled, err := compileHandler(bound)
			if err != nil {
				return found, fmt.Errorf("method %s (event %q): %w", method.Name, eventName(rest), err)
			}
			found.events[eventName(rest)] = compiled
		}
	}
	if found.connect == nil && found.disconnect == nil && found.onError == nil && len(found.events) == 0 {
		hint := ""
		if kind.Kind() != reflect.Pointer {
			hint = " (methods with pointer receivers need a pointer)"
		}
		return found, fmt.Errorf("%s has no On* methods%s", kind, hint)
	}
	return found, nil
}
