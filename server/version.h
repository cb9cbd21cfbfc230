// seqserve's own version, reported by ServerMetadata and the build-info metric.
#ifndef SEQSERVE_SERVER_VERSION_H_
#define SEQSERVE_SERVER_VERSION_H_

namespace seqserve {
inline constexpr char kSeqserveVersion[] = "0.1.0";
}  // namespace seqserve

#endif  // SEQSERVE_SERVER_VERSION_H_
