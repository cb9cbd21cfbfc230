// The metrics seqserve exports, declared once.
//
// Note [metrics declared once]: each family's name, type, labels and meaning live in one
// MetricSpec below. The collector and the providers build families only from these specs
// (MakeFamily), `seqserve --help=metrics` prints the table docs/operations.md carries, and
// ctest `metrics_documented` fails when the two differ; py_prometheus fails when /metrics shows a
// family the docs do not name, and MetricsTest when a family's labels differ from its spec. So a
// metric's meaning is written once, here, and its documentation cannot drift from what is
// exported. Names follow Prometheus conventions: prefix `seqserve_`, base units (`_seconds`,
// `_bytes`), `_total` for counters; labels are bounded (model, version, api, code, reason, kind,
// pool, result, state). Plain constants; thread-safe.
#ifndef SEQSERVE_SERVER_OBSERVABILITY_METRIC_CATALOG_H_
#define SEQSERVE_SERVER_OBSERVABILITY_METRIC_CATALOG_H_

#include <string>

#include <prometheus/metric_family.h>

#include "absl/types/span.h"

namespace seqserve {

struct MetricSpec {
  const char* name;
  prometheus::MetricType type;
  const char* labels;  // label names in the order series carry them, comma-separated; "" for none
  const char* help;    // the HELP line, and the meaning the docs show
};

namespace metric {
using Type = prometheus::MetricType;

// Requests, as the server answered them.
inline constexpr MetricSpec kRequests{"seqserve_requests_total", Type::Counter, "model,api,code",
                                      "Inference requests answered, by model, API and gRPC status code."};
inline constexpr MetricSpec kRequestDuration{
    "seqserve_request_duration_seconds", Type::Histogram, "model,api",
    "Time from receiving a decoded inference request to answering it (100 µs … 60 s buckets)."};
inline constexpr MetricSpec kTextRequests{
    "seqserve_text_requests_total", Type::Counter, "model,api,task",
    "Requests that sent text (OpenAI, TEI and KServe text routes) and were tokenized, by model, API and the "
    "model's task (embedding, classification, rerank)."};
inline constexpr MetricSpec kTextTokens{
    "seqserve_text_tokens_per_request", Type::Histogram, "model,api",
    "Tokens of one text request, special tokens included, after truncation (powers of two)."};
inline constexpr MetricSpec kTokenizationDuration{
    "seqserve_tokenization_seconds", Type::Histogram, "model,api",
    "Time to tokenize one text request's texts, on the request's thread (1 µs … 1 s buckets)."};
inline constexpr MetricSpec kInflight{"seqserve_inflight_requests", Type::Gauge, "",
                                      "Inference requests accepted and not yet answered."};

// Batching and execution, per model version.
inline constexpr MetricSpec kQueueDepth{"seqserve_queue_depth", Type::Gauge, "model,version",
                                        "Requests waiting in the batcher's queue."};
inline constexpr MetricSpec kRecentQueueWait{
    "seqserve_recent_queue_wait_seconds", Type::Gauge, "model,version",
    "Scaling signal: mean time requests waited in the queue over the last 30 s (0 when idle)."};
inline constexpr MetricSpec kQueueDuration{"seqserve_queue_duration_seconds", Type::Histogram, "model,version",
                                           "Time from acceptance to the start of the request's batch."};
inline constexpr MetricSpec kComputeDuration{"seqserve_compute_duration_seconds", Type::Histogram, "model,version",
                                             "Compute time of the batch a request ran in."};
inline constexpr MetricSpec kBatches{"seqserve_batches_total", Type::Counter, "model,version", "Batches executed."};
inline constexpr MetricSpec kBatchRows{"seqserve_batch_rows", Type::Histogram, "model,version",
                                       "Rows per executed batch."};
inline constexpr MetricSpec kPaddedLength{"seqserve_batch_padded_length_tokens", Type::Histogram, "model,version",
                                          "Sequence length each batch was padded to."};
inline constexpr MetricSpec kTokens{"seqserve_tokens_total", Type::Counter, "model,version,kind",
                                    "Tokens computed: kind=\"real\" (request data) or \"padded\" (including padding)."};
inline constexpr MetricSpec kPaddingEfficiency{"seqserve_padding_efficiency_ratio", Type::Gauge, "model,version",
                                               "Real tokens / padded tokens computed since start (1 = no padding)."};
inline constexpr MetricSpec kRejections{
    "seqserve_rejections_total", Type::Counter, "model,reason",
    "Requests refused or dropped before compute, by reason: queue_full, deadline, cancelled, invalid, memory (one "
    "row predicted not to fit the budget), oom (did not fit in memory even alone when run)."};
inline constexpr MetricSpec kChunkedRequests{"seqserve_chunked_requests_total", Type::Counter, "model,version",
                                             "Requests cut into row chunks because they exceed one batch's limits."};
inline constexpr MetricSpec kRowChunks{"seqserve_row_chunks_total", Type::Counter, "model,version",
                                       "Row chunks those requests were cut into."};
inline constexpr MetricSpec kMemoryLimitedBatches{
    "seqserve_batches_memory_limited_total", Type::Counter, "model,version",
    "Batches that stopped growing because their predicted memory would not fit the pool's free budget."};
inline constexpr MetricSpec kBatchMemoryWaits{"seqserve_batch_memory_waits_total", Type::Counter, "model,version",
                                              "Batches that waited for other batches to free memory before running."};
inline constexpr MetricSpec kMemoryActualOverPredicted{
    "seqserve_batch_memory_actual_over_predicted", Type::Histogram, "model,version",
    "Per batch: peak pool bytes measured / predicted by the model's memory cost model."};
inline constexpr MetricSpec kBatchSplits{"seqserve_batch_splits_total", Type::Counter, "model,version",
                                         "Batches split in two after running out of memory."};
inline constexpr MetricSpec kBatchBisections{
    "seqserve_batch_bisections_total", Type::Counter, "model,version",
    "Batches split in two after the model failed on them (not memory), so that only the failing request gets "
    "the error."};
inline constexpr MetricSpec kModelFailures{"seqserve_model_failures_total", Type::Counter, "model,version",
                                           "Requests the model failed on when run alone (INTERNAL; not memory)."};
inline constexpr MetricSpec kModelInstances{"seqserve_model_instances", Type::Gauge, "model,version",
                                            "Instances (executor threads) serving the model version."};
inline constexpr MetricSpec kIntraOpThreads{"seqserve_model_intra_op_threads", Type::Gauge, "model,version",
                                            "Intra-op threads of each instance of the model version."};

// Model control.
inline constexpr MetricSpec kModelLoads{"seqserve_model_loads_total", Type::Counter, "model,result",
                                        "Model version loads, by result (success or failure)."};
inline constexpr MetricSpec kModelLoadDuration{
    "seqserve_model_load_duration_seconds", Type::Histogram, "model",
    "Time to load, warm up and self-check one model version (0.1 s … 300 s buckets)."};
inline constexpr MetricSpec kModelVersions{
    "seqserve_model_versions", Type::Gauge, "model,state",
    "Versions of each model in each state (LOADING, READY, UNLOADING, UNAVAILABLE)."};

// The pod's memory and the request memory (server/admission/).
inline constexpr MetricSpec kMemoryLimit{"seqserve_memory_limit_bytes", Type::Gauge, "",
                                         "The process's cgroup memory limit (the pod's); 0 when none was found."};
inline constexpr MetricSpec kMemoryOutsidePool{"seqserve_memory_outside_pool_bytes", Type::Gauge, "",
                                               "Resident bytes outside the CPU pool when its budget was planned."};
inline constexpr MetricSpec kMemoryMargin{"seqserve_memory_margin_bytes", Type::Gauge, "",
                                          "Safety margin kept between the pool's budget and the limit."};
inline constexpr MetricSpec kBatchBudget{"seqserve_memory_batch_budget_bytes", Type::Gauge, "",
                                         "Bytes batches may hold at once in the CPU pool; 0 = unlimited."};
inline constexpr MetricSpec kBatchAdmitted{"seqserve_memory_batch_admitted_bytes", Type::Gauge, "",
                                           "Predicted peak bytes of the batches running now."};
inline constexpr MetricSpec kRequestMemory{
    "seqserve_request_memory_bytes", Type::Gauge, "",
    "Bytes held by requests in flight: bodies and messages, decoded tensors, queued requests."};
inline constexpr MetricSpec kRequestMemoryPeak{"seqserve_request_memory_peak_bytes", Type::Gauge, "",
                                               "Most bytes held by requests in flight at once since start."};
inline constexpr MetricSpec kRequestMemoryBudget{
    "seqserve_request_memory_budget_bytes", Type::Gauge, "",
    "Bytes requests in flight may hold at once (--request-memory-bytes); 0 = unlimited."};
inline constexpr MetricSpec kRequestMemoryRefusals{
    "seqserve_request_memory_refusals_total", Type::Counter, "",
    "Requests refused RESOURCE_EXHAUSTED (429) because their bytes did not fit the request memory."};
inline constexpr MetricSpec kRestHangups{
    "seqserve_rest_hangups_total", Type::Counter, "",
    "REST clients that hung up while their request was in the server; each request was cancelled."};

// The memory pools, one series per pool (pool="cpu", "cuda:0", ...).
inline constexpr MetricSpec kPoolReserved{"seqserve_memory_reserved_bytes", Type::Gauge, "pool",
                                          "Bytes the pool holds from its backend."};
inline constexpr MetricSpec kPoolAllocated{"seqserve_memory_allocated_bytes", Type::Gauge, "pool",
                                           "Bytes in live allocations (rounded to the pool's block sizes)."};
inline constexpr MetricSpec kPoolPeakReserved{"seqserve_memory_peak_reserved_bytes", Type::Gauge, "pool",
                                              "Highest reserved bytes since start."};
inline constexpr MetricSpec kPoolPeakAllocated{"seqserve_memory_peak_allocated_bytes", Type::Gauge, "pool",
                                               "Highest allocated bytes since start."};
inline constexpr MetricSpec kPoolCachedFree{"seqserve_memory_cached_free_bytes", Type::Gauge, "pool",
                                            "Reserved bytes free for reuse."};
inline constexpr MetricSpec kPoolDecommitted{
    "seqserve_memory_decommitted_bytes", Type::Gauge, "pool",
    "Free address space in the pool's segments whose memory went back to the system (the CPU pool's footprint "
    "ceiling: it gives back free pages rather than pass its previous peak)."};
inline constexpr MetricSpec kPoolLargestFreeBlock{
    "seqserve_memory_largest_free_block_bytes", Type::Gauge, "pool",
    "Largest free block: the biggest allocation served without the backend."};
inline constexpr MetricSpec kPoolFragmentation{
    "seqserve_memory_fragmentation_ratio", Type::Gauge, "pool",
    "1 - largest free block / free space (cached free + decommitted; 0 = free space in one piece)."};
inline constexpr MetricSpec kPoolOverhead{"seqserve_memory_overhead_ratio", Type::Gauge, "pool",
                                          "Reserved / allocated bytes (0 when nothing is allocated)."};
inline constexpr MetricSpec kPoolSegments{"seqserve_memory_segments", Type::Gauge, "pool",
                                          "Segments held from the backend."};
inline constexpr MetricSpec kPoolBackendAllocations{"seqserve_memory_backend_allocations_total", Type::Counter, "pool",
                                                    "Allocations the pool asked of its backend."};
inline constexpr MetricSpec kPoolBackendGrows{"seqserve_memory_backend_grows_total", Type::Counter, "pool",
                                              "Segments the pool grew in place (expandable segments)."};
inline constexpr MetricSpec kPoolBackendFrees{"seqserve_memory_backend_frees_total", Type::Counter, "pool",
                                              "Segments the pool returned to its backend."};
inline constexpr MetricSpec kPoolBackendDecommits{
    "seqserve_memory_backend_decommits_total", Type::Counter, "pool",
    "Ranges of free pages the pool gave back to the system (footprint ceiling)."};
inline constexpr MetricSpec kPoolBackendCommits{"seqserve_memory_backend_commits_total", Type::Counter, "pool",
                                                "Ranges of given-back pages the pool took again."};
inline constexpr MetricSpec kPoolCacheHit{"seqserve_memory_cache_hit_ratio", Type::Gauge, "pool",
                                          "Allocations served from the pool's free lists / all allocations."};
inline constexpr MetricSpec kPoolOom{"seqserve_memory_oom_total", Type::Counter, "pool",
                                     "Allocations the pool refused (budget or backend exhausted)."};
inline constexpr MetricSpec kPoolSegmentsAdopted{
    "seqserve_memory_segments_adopted_total", Type::Counter, "pool",
    "Idle segments handed from one stream to another instead of a new backend allocation (GPU instances)."};
inline constexpr MetricSpec kPoolCapacity{
    "seqserve_memory_capacity_bytes", Type::Gauge, "pool",
    "Bytes headroom is measured against: the pool's budget, else the cgroup memory limit, else RAM."};
inline constexpr MetricSpec kPoolHeadroom{"seqserve_memory_headroom_ratio", Type::Gauge, "pool",
                                          "Scaling signal: 1 - reserved / capacity (scale out before it nears 0)."};

// The process.
inline constexpr MetricSpec kCpuBudget{
    "seqserve_cpu_budget_cores", Type::Gauge, "",
    "Cores this process may use: min(cgroup CPU quota, affinity mask); CPU instance defaults follow it."};
inline constexpr MetricSpec kBuildInfo{"seqserve_build_info", Type::Gauge, "version,torch_version,device",
                                       "Build information; the value is always 1."};
inline constexpr MetricSpec kProcessCpu{"process_cpu_seconds_total", Type::Counter, "",
                                        "User and system CPU time spent, in seconds."};
inline constexpr MetricSpec kProcessResident{"process_resident_memory_bytes", Type::Gauge, "",
                                             "Resident memory size in bytes."};
inline constexpr MetricSpec kProcessStart{"process_start_time_seconds", Type::Gauge, "",
                                          "Start time of the process since the Unix epoch, in seconds."};
inline constexpr MetricSpec kProcessOpenFds{"process_open_fds", Type::Gauge, "", "Number of open file descriptors."};

}  // namespace metric

// Every family above, in the order the docs list them.
absl::Span<const MetricSpec* const> AllMetrics();

// An empty family named, typed and described by `spec`.
prometheus::MetricFamily MakeFamily(const MetricSpec& spec);

// Adds one series (labels in the spec's order) to a counter or gauge family.
void AddValue(prometheus::MetricFamily& family, std::vector<prometheus::ClientMetric::Label> labels, double value);

// Appends to `out` the family of `spec` (a counter or gauge without labels) with its one value.
void PushValue(std::vector<prometheus::MetricFamily>& out, const MetricSpec& spec, double value);

// docs/operations.md's metric table, as `seqserve --help=metrics` prints it.
std::string MetricsMarkdown();

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_OBSERVABILITY_METRIC_CATALOG_H_
