// Package memstream is an in-memory Backend.Attach stream: two unbounded, ordered queues between
// a socketio.Server and a sidecar written in Go (socketiotest's). Messages are copied through
// their wire encoding, as gRPC would, so neither side can alias the other's memory and invalid
// messages fail here as they would on a real stream.
package memstream

import (
	"errors"
	"io"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
)

// Notifier is implemented by streams that want to know when the backend has finished with a
// message it received: its handler returned and every command the handler sent is on the stream.
// The socketio package calls Processed after Send-ing those commands, so the notice reaches the
// sidecar behind them.
type Notifier interface {
	Processed(message *sidecarpb.SidecarMessage)
}

// ErrClosed is returned by Send on a closed direction of the pipe.
var ErrClosed = errors.New("memstream: closed")

// Item is what the sidecar end receives: a command from the backend, or the notice that the
// backend finished with a message the sidecar sent (the pointer the sidecar passed to Send).
type Item struct {
	Message   *sidecarpb.BackendMessage
	Processed *sidecarpb.SidecarMessage
}

// Pipe is one stream. Backend() is the socketio.Stream side, Sidecar() the other.
type Pipe struct {
	toSidecar queue[Item]
	toBackend queue[*sidecarpb.SidecarMessage]

	mu sync.Mutex
	// Delivered copy -> the message the sidecar sent, to translate Processed notices back.
	originals map[*sidecarpb.SidecarMessage]*sidecarpb.SidecarMessage
}

// New returns an open pipe.
func New() *Pipe {
	p := &Pipe{originals: make(map[*sidecarpb.SidecarMessage]*sidecarpb.SidecarMessage)}
	p.toSidecar.init()
	p.toBackend.init()
	return p
}

// Backend returns the backend's end; it satisfies socketio.Stream and Notifier.
func (p *Pipe) Backend() *BackendEnd { return &BackendEnd{pipe: p} }

// Sidecar returns the sidecar's end.
func (p *Pipe) Sidecar() *SidecarEnd { return &SidecarEnd{pipe: p} }

// BackendEnd is the backend's side of the pipe.
type BackendEnd struct{ pipe *Pipe }

// Send queues a command for the sidecar.
func (b *BackendEnd) Send(message *sidecarpb.BackendMessage) error {
	copied, err := clone(message)
	if err != nil {
		return err
	}
	return b.pipe.toSidecar.push(Item{Message: copied})
}

// Recv returns the next message from the sidecar, or io.EOF once the sidecar closed its side.
func (b *BackendEnd) Recv() (*sidecarpb.SidecarMessage, error) {
	return b.pipe.toBackend.pop()
}

// CloseSend tells the sidecar that no more commands follow.
func (b *BackendEnd) CloseSend() error {
	b.pipe.toSidecar.close()
	return nil
}

// Processed implements Notifier.
func (b *BackendEnd) Processed(message *sidecarpb.SidecarMessage) {
	b.pipe.mu.Lock()
	original, ok := b.pipe.originals[message]
	delete(b.pipe.originals, message)
	b.pipe.mu.Unlock()
	if ok {
		// After CloseSend nobody waits for notices any more.
		_ = b.pipe.toSidecar.push(Item{Processed: original})
	}
}

// SidecarEnd is the sidecar's side of the pipe.
type SidecarEnd struct{ pipe *Pipe }

// Send queues a message for the backend.
func (s *SidecarEnd) Send(message *sidecarpb.SidecarMessage) error {
	copied, err := clone(message)
	if err != nil {
		return err
	}
	s.pipe.mu.Lock()
	s.pipe.originals[copied] = message
	s.pipe.mu.Unlock()
	return s.pipe.toBackend.push(copied)
}

// Recv returns the next item from the backend, or io.EOF after the backend's CloseSend.
func (s *SidecarEnd) Recv() (Item, error) { return s.pipe.toSidecar.pop() }

// Close ends the stream: the backend's Recv returns io.EOF once it has read what was queued.
func (s *SidecarEnd) Close() { s.pipe.toBackend.close() }

func clone[M proto.Message](message M) (M, error) {
	var zero M
	wire, err := proto.Marshal(message)
	if err != nil {
		return zero, err
	}
	copied := message.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(wire, copied); err != nil {
		return zero, err
	}
	return copied, nil
}

// queue is an unbounded FIFO with one consumer; pop blocks until an item or close.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	ready  chan struct{}
}

func (q *queue[T]) init() { q.ready = make(chan struct{}, 1) }

func (q *queue[T]) push(item T) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.items = append(q.items, item)
	q.signal()
	return nil
}

func (q *queue[T]) pop() (T, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			item := q.items[0]
			var zero T
			q.items[0] = zero
			q.items = q.items[1:]
			q.mu.Unlock()
			return item, nil
		}
		if q.closed {
			q.mu.Unlock()
			var zero T
			return zero, io.EOF
		}
		q.mu.Unlock()
		<-q.ready
	}
}

func (q *queue[T]) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.signal()
}

func (q *queue[T]) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
