// FakeBackend: a host-memory Backend for tests that records every call, can be told to fail, can
// stand for a device with a fixed amount of memory, and whose stream events complete only when
// the test says so.
//
// Not thread-safe on its own: a pool calls it under its lock, and tests read it between pool
// calls.
#ifndef SEQSERVE_TESTS_MEMORY_FAKE_BACKEND_H_
#define SEQSERVE_TESTS_MEMORY_FAKE_BACKEND_H_

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "memory/backend.h"

namespace seqserve::memory::testing {

class FakeBackend final : public Backend {
 public:
  // 4096-byte alignment by default, so pool pointers are 512-aligned and offsets easy to read.
  explicit FakeBackend(size_t alignment = 4096) : alignment_(alignment) {}
  ~FakeBackend() override {
    if (contiguous_ == nullptr) {
      for (const auto& [ptr, bytes] : segments_) std::free(ptr);
    }
    std::free(contiguous_);
  }

  absl::StatusOr<void*> Allocate(size_t bytes) override {
    requested_sizes.push_back(bytes);
    if (fail_next_ > 0) {
      --fail_next_;
      ++failures;
      return absl::ResourceExhaustedError("fake backend told to fail");
    }
    if (device_bytes_ != 0 && bytes_in_use_ + bytes > device_bytes_) {
      ++failures;
      return absl::ResourceExhaustedError(
          absl::StrCat("fake device has ", device_bytes_ - bytes_in_use_, " bytes left"));
    }
    // With SetGrowable, each segment gets room to grow into (untouched pages cost nothing).
    const size_t rounded = (std::max(bytes, growable_bytes_) + alignment_ - 1) / alignment_ * alignment_;
    void* ptr = nullptr;
    if (contiguous_ != nullptr) {  // carved in order: each segment starts where the last one ends
      if (contiguous_used_ + rounded > contiguous_bytes_) return absl::ResourceExhaustedError("contiguous buffer full");
      ptr = contiguous_ + contiguous_used_;
      contiguous_used_ += rounded;
    } else {
      ptr = std::aligned_alloc(alignment_, rounded);
    }
    if (ptr == nullptr) return absl::ResourceExhaustedError("aligned_alloc failed");
    capacities_[ptr] = rounded;
    segments_[ptr] = bytes;
    bytes_in_use_ += bytes;
    ++allocations;
    return ptr;
  }

  bool can_grow_in_place() const override { return growable_bytes_ != 0; }
  bool GrowInPlace(void* ptr, size_t old_bytes, size_t new_bytes) override {
    const auto it = segments_.find(ptr);
    if (growable_bytes_ == 0 || it == segments_.end() || it->second != old_bytes || new_bytes > capacities_[ptr]) {
      return false;
    }
    if (device_bytes_ != 0 && bytes_in_use_ + (new_bytes - old_bytes) > device_bytes_) return false;
    it->second = new_bytes;
    bytes_in_use_ += new_bytes - old_bytes;
    ++grows;
    return true;
  }

  void Free(void* ptr, size_t bytes) override {
    const auto it = segments_.find(ptr);
    if (it == segments_.end() || it->second != bytes) {
      ++bad_frees;
      return;
    }
    segments_.erase(it);
    capacities_.erase(ptr);
    size_t decommitted = 0;
    char* const base = static_cast<char*>(ptr);
    for (auto page = decommitted_pages_.lower_bound(base); page != decommitted_pages_.end() && *page < base + bytes;) {
      decommitted += decommit_granularity_;
      page = decommitted_pages_.erase(page);
    }
    bytes_in_use_ -= bytes - decommitted;
    if (contiguous_ == nullptr) std::free(ptr);
    ++frees;
  }

  // Decommit and Commit check their contract (aligned, inside a segment, committed or
  // decommitted); violations count in bad_decommits and change nothing. Tests check with
  // IsCommitted that no live allocation ever lies on a decommitted page.
  size_t decommit_granularity() const override { return decommit_granularity_; }
  bool Decommit(void* ptr, size_t bytes) override {
    if (!ValidPageRange(ptr, bytes, /*decommitted=*/false)) {
      ++bad_decommits;
      return false;
    }
    for (size_t off = 0; off < bytes; off += decommit_granularity_) {
      decommitted_pages_.insert(static_cast<char*>(ptr) + off);
    }
    bytes_in_use_ -= bytes;
    ++decommits;
    return true;
  }
  bool Commit(void* ptr, size_t bytes) override {
    if (!ValidPageRange(ptr, bytes, /*decommitted=*/true)) {
      ++bad_decommits;
      return false;
    }
    if (fail_commits_) return false;
    for (size_t off = 0; off < bytes; off += decommit_granularity_) {
      decommitted_pages_.erase(static_cast<char*>(ptr) + off);
    }
    bytes_in_use_ += bytes;
    ++commits;
    return true;
  }

  const char* name() const override { return "fake"; }
  size_t alignment() const override { return alignment_; }

  EventId RecordEvent(StreamId stream) override {
    const EventId id = next_event_++;
    events_[id] = Event{stream, auto_complete_};
    recorded_streams.push_back(stream);
    return id;
  }
  bool EventCompleted(EventId event) override {
    const auto it = events_.find(event);
    return it == events_.end() || it->second.completed;
  }
  void StreamWaitEvent(StreamId stream, EventId event) override { waits.emplace_back(stream, event); }
  void ReleaseEvent(EventId event) override {
    if (events_.erase(event) == 1) ++released_events;
  }

  // Test controls -----------------------------------------------------------------------------
  // The next `n` Allocate calls fail.
  void FailNext(int n) { fail_next_ = n; }
  // Segments can grow in place up to `bytes` (0, the default: never).
  void SetGrowable(size_t bytes) { growable_bytes_ = bytes; }
  // Allocate fails once `bytes` are in use (0: unlimited), like a device of that size.
  void SetDeviceBytes(size_t bytes) { device_bytes_ = bytes; }
  // From now on segments are carved, in order and back to back, from one buffer of `bytes`
  // (so that one segment ends exactly where the next begins, as mmap often places them).
  // Call before the first Allocate. Freed segments are not reused.
  void SetContiguous(size_t bytes) {
    contiguous_ = static_cast<char*>(std::aligned_alloc(alignment_, bytes));
    contiguous_bytes_ = bytes;
  }
  // Decommit and Commit work in pages of `bytes` (a power of two; 0, the default: never).
  void SetDecommitGranularity(size_t bytes) { decommit_granularity_ = bytes; }
  // Whether Commit fails (as if the system were out of memory).
  void SetFailCommits(bool on) { fail_commits_ = on; }
  // Whether every page overlapping [p, p + bytes) is committed.
  bool IsCommitted(const void* p, size_t bytes) const {
    if (decommitted_pages_.empty() || bytes == 0) return true;
    const char* c = static_cast<const char*>(p);
    const uintptr_t first = reinterpret_cast<uintptr_t>(c) / decommit_granularity_ * decommit_granularity_;
    const auto it = decommitted_pages_.lower_bound(reinterpret_cast<char*>(first));
    return it == decommitted_pages_.end() || *it >= c + bytes;
  }
  // Whether new events are born completed (the host's behaviour). Default false.
  void SetAutoComplete(bool on) { auto_complete_ = on; }
  // Completes the events recorded on `stream` so far.
  void CompleteEvents(StreamId stream) {
    for (auto& [id, e] : events_) {
      if (e.stream == stream) e.completed = true;
    }
  }
  void CompleteAllEvents() {
    for (auto& [id, e] : events_) e.completed = true;
  }
  size_t outstanding_events() const { return events_.size(); }
  size_t bytes_in_use() const { return bytes_in_use_; }
  // The segment containing `p`, or nullptr.
  const char* SegmentOf(const void* p) const {
    const char* c = static_cast<const char*>(p);
    auto it = segments_.upper_bound(const_cast<void*>(p));
    if (it == segments_.begin()) return nullptr;
    --it;
    const char* base = static_cast<const char*>(it->first);
    return c < base + it->second ? base : nullptr;
  }

  // Call records, readable by tests.
  std::vector<size_t> requested_sizes;  // every Allocate, failed ones included
  std::vector<StreamId> recorded_streams;
  std::vector<std::pair<StreamId, EventId>> waits;  // StreamWaitEvent(stream, event) calls
  int allocations = 0;
  int frees = 0;
  int failures = 0;
  int bad_frees = 0;
  int released_events = 0;
  int grows = 0;
  int decommits = 0;
  int commits = 0;
  int bad_decommits = 0;

 private:
  struct Event {
    StreamId stream;
    bool completed;
  };

  // Whether [ptr, ptr + bytes) is page-aligned, inside a segment's current size, and all
  // decommitted (or all committed).
  bool ValidPageRange(void* ptr, size_t bytes, bool decommitted) const {
    const size_t g = decommit_granularity_;
    const char* base = SegmentOf(ptr);
    if (g == 0 || bytes == 0 || base == nullptr || reinterpret_cast<uintptr_t>(ptr) % g != 0 || bytes % g != 0 ||
        static_cast<char*>(ptr) + bytes > base + segments_.at(const_cast<char*>(base))) {
      return false;
    }
    for (size_t off = 0; off < bytes; off += g) {
      if (decommitted_pages_.count(static_cast<char*>(ptr) + off) != (decommitted ? 1u : 0u)) return false;
    }
    return true;
  }

  const size_t alignment_;
  std::map<void*, size_t> segments_;
  std::map<void*, size_t> capacities_;  // bytes actually allocated for each segment
  std::map<EventId, Event> events_;
  EventId next_event_ = 1;
  int fail_next_ = 0;
  size_t device_bytes_ = 0;
  size_t growable_bytes_ = 0;
  size_t decommit_granularity_ = 0;
  bool fail_commits_ = false;
  char* contiguous_ = nullptr;
  size_t contiguous_bytes_ = 0;
  size_t contiguous_used_ = 0;
  std::set<char*> decommitted_pages_;
  size_t bytes_in_use_ = 0;
  bool auto_complete_ = false;
};

}  // namespace seqserve::memory::testing

#endif  // SEQSERVE_TESTS_MEMORY_FAKE_BACKEND_H_
