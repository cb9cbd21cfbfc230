// Allocation traces: a CachingAllocator can report every allocation and free to a TraceSink, so
// a workload's memory behaviour can be recorded in production and replayed offline (see
// memory/trace_replay.h and benchmarks/memory/).
//
// File format (text, one event per line, '#' starts a comment line):
//   <op> <size> <address> <stream> <time_ns>
//   op       "alloc" or "free"
//   size     bytes the caller asked for (for a free: those of the allocation it ends)
//   address  the pointer, in hex with 0x
//   stream   the StreamId, decimal
//   time_ns  monotonic clock (std::chrono::steady_clock), nanoseconds, decimal
// e.g. "alloc 4096 0x7f3a9c000000 0 1234567890".
#ifndef SEQSERVE_MEMORY_TRACE_H_
#define SEQSERVE_MEMORY_TRACE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/backend.h"
#include "memory/mutex.h"

namespace seqserve::memory {

enum class TraceOp : uint8_t { kAlloc, kFree };

struct TraceEvent {
  TraceOp op = TraceOp::kAlloc;
  uint64_t size = 0;     // requested bytes
  uint64_t address = 0;  // the pointer handed out or freed
  StreamId stream = kDefaultStream;
  int64_t time_ns = 0;  // MonotonicNowNs() when the pool performed the operation
};

// Now on the monotonic clock, in nanoseconds.
int64_t MonotonicNowNs();

// Receives the pool's events. Record is called with the pool's lock held, so events of one pool
// arrive in the order the pool performed them (a free of an address always precedes the
// allocation that reuses it), and a slow sink slows the pool: keep Record cheap.
// Thread-safety: a sink shared by several pools must be thread-safe.
class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void Record(const TraceEvent& event) = 0;
};

// TraceSink writing the text format above through a 1 MiB stdio buffer. Write errors are
// remembered and reported by Close(). Thread-safe.
class FileTraceWriter final : public TraceSink {
 public:
  // Creates (truncates) `path` and writes the format's header comment.
  static absl::StatusOr<std::unique_ptr<FileTraceWriter>> Open(const std::string& path);
  // Closes the file if Close() was not called (errors are then lost).
  ~FileTraceWriter() override;

  FileTraceWriter(const FileTraceWriter&) = delete;
  FileTraceWriter& operator=(const FileTraceWriter&) = delete;

  void Record(const TraceEvent& event) override;

  // Flushes and closes; the first write error, if any. Later Records are dropped.
  absl::Status Close();

  // Events written so far.
  int64_t events() const;

 private:
  FileTraceWriter(std::string path, std::FILE* file);

  const std::string path_;
  mutable Mutex mu_;
  std::FILE* file_ ABSL_GUARDED_BY(mu_);  // null once closed
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  int64_t events_ ABSL_GUARDED_BY(mu_) = 0;
};

// Reads a file in the format above. INVALID_ARGUMENT naming the line for a malformed one,
// NOT_FOUND when the file cannot be opened.
absl::StatusOr<std::vector<TraceEvent>> ReadTrace(const std::string& path);

// The text line (without newline) for one event.
std::string FormatTraceEvent(const TraceEvent& event);

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_TRACE_H_
