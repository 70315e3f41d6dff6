#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "sidecar/cluster/router.h"
#include "sidecar/runtime/shards.h"
#include "sidecar/runtime/strings.h"
#include "sidecar/socketio/hub.h"
#include "socketio/sidecar/v1/sidecar.grpc.pb.h"

namespace sidecar::backend {

namespace pb = ::socketio::sidecar::v1;

class BackendStream;

// The attached backends and the namespaces they declared. Thread-safe.
class BackendRegistry : public socketio::BackendDirectory {
 public:
  // A namespace whose last backend went away waits this long for another.
  explicit BackendRegistry(std::chrono::milliseconds grace_period) : grace_period_(grace_period) {}

  std::shared_ptr<socketio::BackendLink> Pick(std::string_view nsp,
                                              std::string_view sid) const override;
  std::optional<std::chrono::steady_clock::time_point> GraceDeadline(
      std::string_view nsp) const override;
  void Add(std::shared_ptr<BackendStream> stream);
  void Remove(const BackendStream* stream);
  size_t size() const;

 private:
  const std::chrono::milliseconds grace_period_;
  mutable std::shared_mutex mutex_;
  std::vector<std::shared_ptr<BackendStream>> streams_;
  // Namespaces that lost their last backend, and when their grace period ends.
  runtime::StringMap<std::chrono::steady_clock::time_point> orphaned_;
};

struct BackendServiceConfig {
  bool always_connect = false;
  uint32_t connect_decision_timeout_ms = 5000;
  size_t max_session_bytes = 64 * 1024;
  std::chrono::milliseconds backend_grace_period{10000};
  size_t max_backend_queue_bytes = 64'000'000;
};

// Backend.Attach: one reactor per backend stream, turning its commands into
// work posted to the shards that own the sockets concerned.
class BackendService final : public pb::Backend::CallbackService {
 public:
  BackendService(runtime::Shards& shards, cluster::Router& router, BackendServiceConfig config);

  grpc::ServerBidiReactor<pb::BackendMessage, pb::SidecarMessage>* Attach(
      grpc::CallbackServerContext* context) override;

  BackendRegistry& registry() { return registry_; }

 private:
  friend class AttachReactor;

  // Validates and runs one command; what fails is reported to the backend.
  void Handle(const std::shared_ptr<BackendStream>& stream, pb::BackendMessage& message);
  void Run(const std::shared_ptr<BackendStream>& stream, uint64_t request_id,
           cluster::Command command);
  // Runs on the shard owning a socket of this node (connect decisions, acks).
  void PostToOwner(const std::string& sid, std::function<void(socketio::Hub&)> run);
  // Runs on every shard (a backend attached or went away).
  void PostToAll(const std::function<void(socketio::Hub&)>& run);

  runtime::Shards& shards_;
  cluster::Router& router_;
  BackendServiceConfig config_;
  BackendRegistry registry_;
};

}  // namespace sidecar::backend
