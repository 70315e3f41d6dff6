package socketio

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

var (
	// ErrNotAttached is returned by commands issued while no stream to a sidecar is open.
	ErrNotAttached = errors.New("socketio: not attached to a sidecar")
	// ErrDetached is returned to callers waiting for an answer when the stream ends first.
	ErrDetached = errors.New("socketio: the stream to the sidecar ended")
	// ErrAlreadyAttached is returned by Serve and Run while the server is attached already.
	ErrAlreadyAttached = errors.New("socketio: server is already attached to a sidecar")
	// ErrAckTimeout means a client did not answer an emit's ack request in time.
	ErrAckTimeout = errors.New("socketio: client did not acknowledge in time")
	// ErrNoSocket means a command targeted no socket, e.g. an unknown sid.
	ErrNoSocket = errors.New("socketio: no such socket")
	// ErrMissingArgument is returned by Args.Decode for an argument the client did not send.
	ErrMissingArgument = errors.New("socketio: missing argument")
	// ErrConnecting is returned by Call from a connect handler: the client cannot answer before
	// its connection is accepted, which happens when the handler returns.
	ErrConnecting = errors.New("socketio: the connection is not accepted yet")
)

// RejectError rejects a connection: returned from a connect handler, the client receives a
// CONNECT_ERROR whose message and data are these (socket.io-client's connect_error event, with
// err.message and err.data). Create it with Reject.
type RejectError struct {
	Message string
	// Data is JSON, or nil for none.
	Data json.RawMessage
}

// Reject returns an error that, returned from a connect handler, refuses the connection with a
// message and optional data (anything encoding/json accepts; nil for none). An empty message
// means "Connection rejected by server". It is Flask-SocketIO's ConnectionRefusedError.
func Reject(message string, data any) error {
	rejection := &RejectError{Message: message}
	if data != nil {
		encoded, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("socketio: encoding rejection data: %w", err)
		}
		rejection.Data = encoded
	}
	return rejection
}

func (e *RejectError) Error() string {
	if e.Message == "" {
		return "socketio: connection rejected"
	}
	return "socketio: connection rejected: " + e.Message
}

// CommandError is a command the sidecar refused or could not carry out.
type CommandError struct {
	// Command names the message, e.g. "JoinRooms".
	Command string
	Code    sidecarpb.Code
	Message string
}

func (e *CommandError) Error() string {
	command := e.Command
	if command == "" {
		command = "command"
	}
	return fmt.Sprintf("socketio: sidecar refused %s: %s (%s)", command, e.Message, e.Code)
}

// Is makes errors.Is(err, ErrNoSocket) true for NOT_FOUND.
func (e *CommandError) Is(target error) bool {
	return target == ErrNoSocket && e.Code == sidecarpb.Code_CODE_NOT_FOUND
}

// PanicError is a panic recovered from a handler; the connection and the process go on.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("socketio: handler panicked: %v", e.Value) }

// Unwrap returns the panic value if it was an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
