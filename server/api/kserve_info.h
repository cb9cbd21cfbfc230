// KServeInfo: the KServe v2 answers about the server and its models — server metadata, model
// metadata, model configuration (Triton's extension), statistics and the repository index — as
// the protocol's protobuf messages, built once for both transports: the gRPC service returns
// them as they are, the REST routes print them as JSON (server/api/proto_json.h). Thread-safe;
// the repository and readiness must outlive it.
#ifndef SEQSERVE_SERVER_API_KSERVE_INFO_H_
#define SEQSERVE_SERVER_API_KSERVE_INFO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "inference/grpc_service.pb.h"
#include "runtime/repository/model_repository.h"
#include "server/serving/readiness.h"

namespace seqserve {

class KServeInfo {
 public:
  KServeInfo(const ModelRepository& repository, const Readiness& readiness)
      : repository_(repository), readiness_(readiness) {}

  void ServerMetadata(inference::ServerMetadataResponse* response) const;
  // `version` as on the wire: "" for the latest. NOT_FOUND for unknown models or versions,
  // INVALID_ARGUMENT for a version that is not a positive integer.
  absl::Status ModelMetadata(const std::string& name, const std::string& version,
                             inference::ModelMetadataResponse* response) const;
  // Like Triton, an unknown model or version is simply not ready (false, not an error).
  absl::StatusOr<bool> ModelReady(const std::string& name, const std::string& version) const;
  absl::Status ModelConfig(const std::string& name, inference::ModelConfigResponse* response) const;
  // `name` "" = every model; `version` "" = every version.
  absl::Status ModelStatistics(const std::string& name, const std::string& version,
                               inference::ModelStatisticsResponse* response) const;
  // Every version of every model with its state; `ready_only` keeps the READY ones.
  void RepositoryIndex(bool ready_only, inference::RepositoryIndexResponse* response) const;

 private:
  const ModelRepository& repository_;
  const Readiness& readiness_;
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_API_KSERVE_INFO_H_
