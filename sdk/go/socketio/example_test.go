package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio"
	"github.com/socketio-sidecar/socketio-sidecar/sdk/go/socketio/socketiotest"
)

// A handler's parameters are the event's arguments, decoded from JSON; its results are the ack.
func Example() {
	server := socketio.NewServer()
	server.On("/", "add", func(ctx context.Context, s *socketio.Socket, a, b int) int {
		return a + b
	})

	ctx := context.Background()
	client := socketiotest.NewClient(server)
	defer client.Close()
	if err := client.Connect(ctx, "/"); err != nil {
		log.Fatal(err)
	}
	ack, err := client.EmitWithAck(ctx, "/", "add", 2, 3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ack)
	// Output: [5]
}

// Run attaches to the sidecar and reattaches whenever the stream breaks; a background task is a
// goroutine that uses the server.
func ExampleServer_Run() {
	server := socketio.NewServer(socketio.WithName("chat"))
	server.On("/", "chat", func(ctx context.Context, s *socketio.Socket, text string) error {
		return s.Emit(ctx, "chat", text, socketio.Broadcast())
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	go func() { // Flask-SocketIO's start_background_task
		ticker := time.NewTicker(time.Minute)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-ticker.C:
				if err := server.Emit(ctx, "clock", now.Format(time.Kitchen)); err != nil && !errors.Is(err, socketio.ErrNotAttached) {
					log.Print(err)
				}
			}
		}
	}()

	if err := server.Run(ctx, "127.0.0.1:50051"); err != nil {
		log.Fatal(err)
	}
}

// A connect handler refuses a connection by returning Reject; the client's connect_error carries
// the message and data.
func ExampleReject() {
	server := socketio.NewServer()
	server.OnConnect("/", func(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
		var credentials struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(auth, &credentials) != nil || credentials.Token != "secret" {
			return socketio.Reject("unauthorized", map[string]string{"login": "/login"})
		}
		return nil
	})

	client := socketiotest.NewClient(server)
	defer client.Close()
	err := client.Connect(context.Background(), "/", socketiotest.Auth(map[string]string{"token": "guess"}))
	var refused *socketiotest.ConnectError
	if errors.As(err, &refused) {
		fmt.Println(refused.Message, string(refused.Data))
	}
	// Output: unauthorized {"login":"/login"}
}

// Chat is a class-based namespace: OnJoinRoom handles "join_room", OnSay handles "say".
type Chat struct{}

func (Chat) OnConnect(ctx context.Context, s *socketio.Socket, auth json.RawMessage) error {
	var user struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(auth, &user); err != nil {
		return err
	}
	return s.Session().Set("name", user.Name)
}

func (Chat) OnJoinRoom(ctx context.Context, s *socketio.Socket, room string) error {
	return s.JoinRoom(ctx, room)
}

func (Chat) OnSay(ctx context.Context, s *socketio.Socket, room, text string) error {
	var name string
	if _, err := s.Session().Get("name", &name); err != nil {
		return err
	}
	return s.Emit(ctx, "said", name+": "+text, socketio.To(room), socketio.IncludeSelf(false))
}

func ExampleServer_Register() {
	server := socketio.NewServer()
	if err := server.Register("/chat", Chat{}); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	ada, bob := socketiotest.NewClient(server), socketiotest.NewClient(server)
	defer ada.Close()
	defer bob.Close()
	for name, client := range map[string]*socketiotest.Client{"ada": ada, "bob": bob} {
		if err := client.Connect(ctx, "/chat", socketiotest.Auth(map[string]string{"name": name})); err != nil {
			log.Fatal(err)
		}
		if err := client.Emit(ctx, "/chat", "join_room", "lobby"); err != nil {
			log.Fatal(err)
		}
	}
	if err := ada.Emit(ctx, "/chat", "say", "lobby", "hi"); err != nil {
		log.Fatal(err)
	}
	for _, event := range bob.GetReceived("/chat") {
		fmt.Println(event.Event, event.Args)
	}
	fmt.Println(len(ada.GetReceived("/chat")), "events for ada")
	// Output:
	// said ["ada: hi"]
	// 0 events for ada
}

// Session values survive between a socket's events; changes are saved when the handler returns.
func ExampleSession() {
	server := socketio.NewServer()
	server.On("/", "visit", func(ctx context.Context, s *socketio.Socket) (int, error) {
		var visits int
		if _, err := s.Session().Get("visits", &visits); err != nil {
			return 0, err
		}
		visits++
		return visits, s.Session().Set("visits", visits)
	})

	ctx := context.Background()
	client := socketiotest.NewClient(server)
	defer client.Close()
	if err := client.Connect(ctx, "/"); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		ack, err := client.EmitWithAck(ctx, "/", "visit")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(ack, " ")
	}
	fmt.Println()
	// Output: [1] [2] [3]
}

// Call emits to one client and waits for its ack.
func ExampleSocket_Call() {
	server := socketio.NewServer()
	answers := make(chan string, 1)
	server.On("/", "ready", func(ctx context.Context, s *socketio.Socket) error {
		ack, err := s.Call(ctx, "name_please", socketio.Timeout(time.Second))
		if err != nil {
			return err
		}
		var name string
		if err := ack.Decode(0, &name); err != nil {
			return err
		}
		answers <- name
		return nil
	})

	ctx := context.Background()
	client := socketiotest.NewClient(server)
	defer client.Close()
	client.On("/", "name_please", func(args socketio.Args) []any { return []any{"ada"} })
	if err := client.Connect(ctx, "/"); err != nil {
		log.Fatal(err)
	}
	if err := client.Emit(ctx, "/", "ready"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-answers)
	// Output: ada
}
