// The gRPC side of the request path (server/serving/request_path.h): the call's deadline and
// cancellation, and a unary reactor that finishes with the path's status.
#ifndef SEQSERVE_SERVER_API_GRPC_CALL_H_
#define SEQSERVE_SERVER_API_GRPC_CALL_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"
#include "server/api/grpc_status.h"
#include "server/serving/request_path.h"

namespace seqserve {

// A unary reactor that forwards client cancellation to the runtime. Deletes itself when done.
class InferReactor final : public grpc::ServerUnaryReactor {
 public:
  InferReactor() : cancel_(std::make_shared<CancellationFlag>()) {}
  void OnCancel() override { cancel_->Cancel(); }
  void OnDone() override { delete this; }
  const std::shared_ptr<CancellationFlag>& cancel() const { return cancel_; }

 private:
  std::shared_ptr<CancellationFlag> cancel_;
};

// What the request path needs to know about a gRPC call.
// `message` is the call's request, charged to request memory by the path.
inline CallInfo GrpcCall(Api api, const grpc::CallbackServerContext* context, const std::string& model_name,
                         std::shared_ptr<CancellationFlag> cancel, const google::protobuf::Message& message) {
  CallInfo call{api, model_name, absl::InfiniteFuture(), std::move(cancel),
                static_cast<int64_t>(message.ByteSizeLong())};
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) call.deadline = absl::FromChrono(deadline);
  return call;
}

// Runs a unary call through `path` and finishes `reactor` with its outcome.
inline void StartUnary(RequestPath& path, Api api, const grpc::CallbackServerContext* context, InferReactor* reactor,
                       const std::string& model_name, const google::protobuf::Message& message,
                       absl::StatusOr<std::unique_ptr<InferenceRequest>> decoded, ResponseWriter write) {
  path.Start(GrpcCall(api, context, model_name, reactor->cancel(), message), std::move(decoded), std::move(write),
             [reactor](const absl::Status& status) { reactor->Finish(ToGrpcStatus(status)); });
}

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_GRPC_CALL_H_
