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
    for (const auto& [ptr, bytes] : segments_) std::free(ptr);
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
    void* ptr = std::aligned_alloc(alignment_, rounded);
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
    if (growable_bytes_ == 0 || it == segments_.end() || it->second != old_bytes ||
        new_bytes > capacities_[ptr]) {
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
    bytes_in_use_ -= bytes;
    std::free(ptr);
    ++frees;
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

 private:
  struct Event {
    StreamId stream;
    bool completed;
  };

  const size_t alignment_;
  std::map<void*, size_t> segments_;
  std::map<void*, size_t> capacities_;  // bytes actually allocated for each segment
  std::map<EventId, Event> events_;
  EventId next_event_ = 1;
  int fail_next_ = 0;
  size_t device_bytes_ = 0;
  size_t growable_bytes_ = 0;
  size_t bytes_in_use_ = 0;
  bool auto_complete_ = false;
};

}  // namespace seqserve::memory::testing

#endif  // SEQSERVE_TESTS_MEMORY_FAKE_BACKEND_H_
