#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

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

 private:
  // Checks the caller's bearer token; an error status says what was wrong.
  grpc::Status Authorize(grpc::CallbackServerContext* context) const;
  // Runs a command and answers the call from its outcome through `fill`.
  template <typename Response, typename Fill>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, cluster::Command command,
                                Response* response, Fill fill);

  cluster::Router& router_;
  std::string token_;
};

}  // namespace sidecar::admin
