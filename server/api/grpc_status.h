// absl::Status <-> grpc::Status. The numeric codes are the same canonical codes.
#ifndef SEQSERVE_SERVER_API_GRPC_STATUS_H_
#define SEQSERVE_SERVER_API_GRPC_STATUS_H_

#include <string>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace seqserve {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_GRPC_STATUS_H_
