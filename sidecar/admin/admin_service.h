#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "sidecar/cluster/router.h"
#include "socketio/sidecar/v1/admin.grpc.pb.h"

namespace sidecar::admin {

namespace pb = ::socketio::sidecar::v1;

// The Admin service: each call becomes a cluster command, run by the router
// on every node, and its gathered outcome becomes the response.
class AdminService final : public pb::Admin::CallbackService {
 public:
  // An empty token means calls need no authorization.
  AdminService(cluster::Router& router, std::string token);

  grpc::ServerUnaryReactor* Emit(grpc::CallbackServerContext* context,
                                 const pb::EmitRequest* request,
                                 pb::EmitResponse* response) override;
  grpc::ServerUnaryReactor* JoinRooms(grpc::CallbackServerContext* context,
                                      const pb::JoinRoomsRequest* request,
                                      pb::JoinRoomsResponse* response) override;
  grpc::ServerUnaryReactor* LeaveRooms(grpc::CallbackServerContext* context,
                                       const pb::LeaveRoomsRequest* request,
                                       pb::LeaveRoomsResponse* response) override;
  grpc::ServerUnaryReactor* DisconnectSockets(grpc::CallbackServerContext* context,
                                              const pb::DisconnectSocketsRequest* request,
                                              pb::DisconnectSocketsResponse* response) override;
  grpc::ServerUnaryReactor* CloseRoom(grpc::CallbackServerContext* context,
                                      const pb::CloseRoomRequest* request,
                                      pb::CloseRoomResponse* response) override;
  grpc::ServerUnaryReactor* ListRooms(grpc::CallbackServerContext* context,
                                      const pb::ListRoomsRequest* request,
                                      pb::ListRoomsResponse* response) override;
  grpc::ServerUnaryReactor* ListSockets(grpc::CallbackServerContext* context,
                                        const pb::ListSocketsRequest* request,
                                        pb::ListSocketsResponse* response) override;
  grpc::ServerUnaryReactor* GetSocket(grpc::CallbackServerContext* context,
                                      const pb::GetSocketRequest* request,
                                      pb::GetSocketResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const pb::StatsRequest* request,
                                  pb::StatsResponse* response) override;

  // Before the gRPC server's Shutdown, which waits for every callback call to finish whatever
  // its deadline: refuses new calls, waits until `deadline` for those in flight, then answers
  // the rest UNAVAILABLE (a command whose outcome never comes must not hold the process).
  void Stop(std::chrono::steady_clock::time_point deadline);

  // A call waiting for its outcome (implemented by the call's sink).
  class Pending {
   public:
    virtual ~Pending() = default;
    // Finishes the call with `status` unless it has finished already.
    virtual void Abandon(const grpc::Status& status) = 0;
  };

  // The calls in flight, shared with their sinks, which leave it when they finish.
  class Calls {
   public:
    // False once stopping: the call must be refused.
    bool Add(uint64_t id, std::shared_ptr<Pending> call);
    void Remove(uint64_t id);
    uint64_t NextId();
    void Stop(std::chrono::steady_clock::time_point deadline);

   private:
    std::mutex mutex_;
    std::condition_variable changed_;
    uint64_t next_id_ = 0;
    bool stopping_ = false;
    absl::flat_hash_map<uint64_t, std::shared_ptr<Pending>> calls_;
  };

 private:
  // Checks the caller's bearer token; an error status says what was wrong.
  grpc::Status Authorize(grpc::CallbackServerContext* context) const;
  // Runs a command and answers the call from its outcome through `fill`.
  template <typename Response, typename Fill>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, cluster::Command command,
                                Response* response, Fill fill);

  cluster::Router& router_;
  std::string token_;
  std::shared_ptr<Calls> calls_ = std::make_shared<Calls>();
};

}  // namespace sidecar::admin
