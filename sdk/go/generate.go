// Package sidecarsdk is the root of the Go SDK module for socketio-sidecar. Applications import
// its packages: socketio (the handler API), socketio/socketiotest (an in-process test client)
// and sidecarpb (the generated protocol types, for those who speak the proto directly).
//
// The generated code in sidecarpb is committed, so users need no protoc. To regenerate it after
// changing the protos in proto/socketio/sidecar/v1, install protoc, protoc-gen-go and
// protoc-gen-go-grpc, then run `go generate` in this directory:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@latest
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@latest
//	go generate .
package sidecarsdk

//go:generate protoc --proto_path=../../proto --go_out=. --go_opt=module=github.com/socketio-sidecar/socketio-sidecar/sdk/go --go-grpc_out=. --go-grpc_opt=module=github.com/socketio-sidecar/socketio-sidecar/sdk/go socketio/sidecar/v1/sidecar.proto socketio/sidecar/v1/admin.proto
