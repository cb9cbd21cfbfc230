// Backend: where a CachingAllocator gets its segments from, and how it learns that work queued
// on a stream has finished.
//
// Contract
// --------
// Allocate(bytes) returns memory of at least `bytes` whose address is a multiple of alignment(),
// or an error (any code; the pool reports RESOURCE_EXHAUSTED to its caller after its own retry).
// Free(ptr, bytes) takes back exactly a pointer Allocate returned, with the `bytes` that were
// asked for. alignment() is a power of two and never changes.
//
// Streams and events
// ------------------
// A stream is an ordered queue of work on a device (a CUDA stream); work on one stream runs in
// the order it was queued, work on different streams in any order. The core pool knows streams
// only as opaque StreamIds. RecordEvent(stream) marks "everything queued on `stream` so far";
// EventCompleted(event) says whether that work has finished; StreamWaitEvent(other, event) makes
// later work on `other` wait for it; ReleaseEvent(event) is called once per recorded event, after
// it was seen completed, after a StreamWaitEvent on it, or when the pool is destroyed. RecordEvent
// must not fail: a backend that cannot record an event must wait for the stream itself and
// return an event that reports completed. The defaults below are the host's: streams are
// irrelevant and every event has completed at once.
//
// Thread-safety: a CachingAllocator calls its backend only with its own lock held, so a backend
// used by one pool needs no locking of its own; a backend shared by several pools must be
// thread-safe.
#ifndef SEQSERVE_MEMORY_BACKEND_H_
#define SEQSERVE_MEMORY_BACKEND_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace seqserve::memory {

// Identifies a stream of the backend's device. 0 is the default stream.
using StreamId = uint64_t;
inline constexpr StreamId kDefaultStream = 0;

// Identifies an event recorded by Backend::RecordEvent.
using EventId = uint64_t;

class Backend {
 public:
  virtual ~Backend() = default;

  // Memory of at least `bytes` (> 0), aligned to alignment().
  virtual absl::StatusOr<void*> Allocate(size_t bytes) = 0;

  // Returns memory from Allocate; `bytes` is the size that was asked for.
  virtual void Free(void* ptr, size_t bytes) = 0;

  // Whether GrowInPlace can ever succeed. Default false.
  virtual bool can_grow_in_place() const { return false; }

  // Extends the segment at `ptr` (from Allocate, now `old_bytes` long) in place to `new_bytes`,
  // keeping its contents; false when it cannot (then nothing changed). Free later receives the
  // grown size. Default: never (segments have a fixed size).
  virtual bool GrowInPlace(void* ptr, size_t old_bytes, size_t new_bytes) {
    (void)ptr;
    (void)old_bytes;
    (void)new_bytes;
    return false;
  }

  // Decommitting (Note [footprint ceiling] in footprint_ceiling.cc): giving the memory behind a
  // range of a segment back to the system while the segment keeps its addresses, and taking it
  // again later. decommit_granularity() is the page size both work in (a power of two), or 0
  // when the backend cannot (the default; then neither is ever called).
  // Decommit(ptr, bytes): [ptr, ptr + bytes) lies inside one segment, is aligned to the
  //   granularity and is committed; its contents are lost. The pool calls it only on free
  //   memory, of any stream: a device backend must make sure no queued work still uses it.
  //   false when it could not (then nothing changed).
  // Commit(ptr, bytes): makes a decommitted range usable again (contents undefined); false when
  //   the system is out of memory (then nothing changed).
  virtual size_t decommit_granularity() const { return 0; }
  virtual bool Decommit(void* ptr, size_t bytes) {
    (void)ptr;
    (void)bytes;
    return false;
  }
  virtual bool Commit(void* ptr, size_t bytes) {
    (void)ptr;
    (void)bytes;
    return false;
  }

  // Short, static name for messages and metrics ("host", "cuda").
  virtual const char* name() const = 0;

  // Alignment of every pointer Allocate returns; a power of two.
  virtual size_t alignment() const = 0;

  // Marks the work queued on `stream` so far. Default: nothing to wait for.
  virtual EventId RecordEvent(StreamId stream) {
    (void)stream;
    return 0;
  }

  // Whether the work marked by `event` has finished. Default: always.
  virtual bool EventCompleted(EventId event) {
    (void)event;
    return true;
  }

  // Makes work queued on `stream` from now on wait until `event` completes, without blocking
  // the caller (cudaStreamWaitEvent). The event may be released right after. Default: nothing
  // (events have completed at once).
  virtual void StreamWaitEvent(StreamId stream, EventId event) {
    (void)stream;
    (void)event;
  }

  // Frees what RecordEvent created. Default: nothing.
  virtual void ReleaseEvent(EventId event) { (void)event; }
};

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_BACKEND_H_
