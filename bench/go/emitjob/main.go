// Command emitjob is the benchmarks' S4 job: it emits "tick" to a room at a fixed rate for a
// while, each tick carrying the wall-clock time in microseconds (which the load generator's
// clients compare with their own clock), and prints what it did as one JSON object.
//
//	emitjob --admin=127.0.0.1:50051 --room=bench --rate=100 --duration=5   # the sidecar's Admin.Emit
//	emitjob --http=http://127.0.0.1:5100/emit --room=bench ...               # Node's and Flask-SocketIO's /emit
//
// The HTTP form POSTs the arguments as a JSON array to the URL with ?room=; the reference servers
// answer it with io.to(room).emit("tick", ...args). Calls leave on schedule (open loop) with at
// most --in_flight outstanding; ticks that find them all busy are counted as skipped.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/sidecarpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type result struct {
	Sent        int64   `json:"sent"`
	Errors      int64   `json:"errors"`
	Skipped     int64   `json:"skipped"`
	SocketCount int64   `json:"socket_count"`
	Seconds     float64 `json:"seconds"`
	FirstError  string  `json:"first_error,omitempty"`
}

func main() {
	admin := flag.String("admin", "", "gRPC address of the sidecar's Admin service")
	httpURL := flag.String("http", "", "URL of a reference server's emit endpoint")
	room := flag.String("room", "bench", "room to emit to")
	rate := flag.Float64("rate", 10, "emits per second")
	duration := flag.Duration("duration", 5*time.Second, "how long to emit")
	payload := flag.Int("payload", 16, "bytes of padding per tick")
	inFlight := flag.Int("in_flight", 64, "most calls outstanding at once")
	flag.Parse()

	var emit func(ctx context.Context, args []byte) (int64, error)
	switch {
	case *admin != "":
		conn, err := grpc.NewClient(*admin, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintln(os.Stderr, "emitjob:", err)
			os.Exit(2)
		}
		defer conn.Close()
		client := sidecarpb.NewAdminClient(conn)
		emit = func(ctx context.Context, args []byte) (int64, error) {
			response, err := client.Emit(ctx, &sidecarpb.EmitRequest{
				Namespace: "/", Event: []byte("tick"), Args: &sidecarpb.Payload{Json: args},
				Target: &sidecarpb.Target{Rooms: [][]byte{[]byte(*room)}},
			})
			return int64(response.GetSocketCount()), err
		}
	case *httpURL != "":
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *inFlight}}
		target := *httpURL + "?room=" + url.QueryEscape(*room)
		emit = func(ctx context.Context, args []byte) (int64, error) {
			request, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(args))
			if err != nil {
				return 0, err
			}
			request.Header.Set("Content-Type", "application/json")
			response, err := client.Do(request)
			if err != nil {
				return 0, err
			}
			defer response.Body.Close()
			body, _ := io.ReadAll(response.Body)
			if response.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("%s: %s", response.Status, strings.TrimSpace(string(body)))
			}
			return 0, nil
		}
	default:
		fmt.Fprintln(os.Stderr, "emitjob: give --admin or --http")
		os.Exit(2)
	}

	var out result
	var firstError sync.Once
	var sockets atomic.Int64
	var errorCount atomic.Int64
	slots := make(chan struct{}, *inFlight)
	var calls sync.WaitGroup
	padding := strings.Repeat("x", *payload)
	ctx, cancel := context.WithTimeout(context.Background(), *duration+30*time.Second)
	defer cancel()

	started := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	last := int64(0)
	for next := started; time.Since(started) < *duration; next = next.Add(interval) {
		time.Sleep(time.Until(next))
		select {
		case slots <- struct{}{}:
		default:
			out.Skipped++
			continue
		}
		// Unique stamps: the load generator matches each receipt to its broadcast by them.
		stamp := max(time.Now().UnixMicro(), last+1)
		last = stamp
		args, _ := json.Marshal([]any{stamp, padding})
		out.Sent++
		calls.Add(1)
		go func() {
			defer calls.Done()
			defer func() { <-slots }()
			count, err := emit(ctx, args)
			if err != nil {
				errorCount.Add(1)
				firstError.Do(func() { out.FirstError = err.Error() })
				return
			}
			sockets.Add(count)
		}()
	}
	calls.Wait()
	out.Seconds = time.Since(started).Seconds()
	out.Errors = errorCount.Load()
	out.SocketCount = sockets.Load()
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
	if out.Errors > 0 {
		os.Exit(1)
	}
}
