// ModelStreamInfer's reactor: one bidirectional KServe v2 stream. Requests are read one after
// another and submitted as they arrive (server/serving/request_path.h); responses are written in request
// order, each as soon as it and all before it are complete. A bad request is answered with its
// `error_message` and the stream goes on. The call finishes OK when the client has stopped
// writing and every response is written; CANCELLED when the client cancelled or a write failed,
// after which nothing more is written. The reactor deletes itself only after gRPC's OnDone and
// every runtime callback of its requests have run, whichever comes last.
#ifndef SEQSERVE_SERVER_API_KSERVE_STREAM_H_
#define SEQSERVE_SERVER_API_KSERVE_STREAM_H_

#include <grpcpp/grpcpp.h>

#include "inference/grpc_service.grpc.pb.h"
#include "server/serving/request_path.h"

namespace seqserve {

using StreamReactorBase = grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>;

// A reactor for one stream; `path` must outlive it. The reactor owns itself (see above).
StreamReactorBase* NewStreamReactor(grpc::CallbackServerContext* context, RequestPath& path);

// Stream reactors alive in this process (created and not yet deleted): for tests and leak checks.
int LiveStreamReactors();

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_STREAM_H_
