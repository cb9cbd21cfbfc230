// What this build is: seqserve's own version (reported by both ServerMetadata RPCs, REST's
// `GET /v2` and the build-info metric) and the framework and device it runs on.
#ifndef SEQSERVE_SERVER_OBSERVABILITY_VERSION_H_
#define SEQSERVE_SERVER_OBSERVABILITY_VERSION_H_

#include <string>

namespace seqserve {

// CMake's project(VERSION) is the one place the version is written; helm/seqserve/Chart.yaml's
// appVersion is checked against the binary's by tests/deploy/validate.py.
inline constexpr char kSeqserveVersion[] = SEQSERVE_VERSION;

struct BuildInfo {
  std::string version = kSeqserveVersion;
  std::string torch_version;  // the linked libtorch's, e.g. "2.11.0"
  std::string device;         // "cpu" or "cuda"
};

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_OBSERVABILITY_VERSION_H_
