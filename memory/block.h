// Block: the caching allocator's bookkeeping for one contiguous range of a segment, and the
// best-fit ordering of its free lists. Internal to memory/ (used by caching_allocator.cc and its
// white-box checks); not part of the pool's API.
//
// A segment (one Backend::Allocate) is tiled by blocks linked in address order through prev and
// next; the first block of a segment has no prev, the last no next, so a segment is entirely
// free exactly when it is one free block with neither. Every block is in exactly one state:
// live (handed out), free (in its pool's free list) or pending (freed, waiting for events on
// other streams). Not thread-safe: guarded by the owning pool's lock.
#ifndef SEQSERVE_MEMORY_BLOCK_H_
#define SEQSERVE_MEMORY_BLOCK_H_

#include <cstddef>
#include <cstdint>
#include <set>
#include <tuple>
#include <vector>

#include "memory/backend.h"

namespace seqserve::memory {

enum class BlockState : uint8_t { kFree, kLive, kPending };

struct Block {
  char* ptr = nullptr;
  size_t size = 0;                   // bytes, a multiple of kMinBlockSize
  size_t requested = 0;              // bytes the caller asked for while live; 0 otherwise
  StreamId stream = kDefaultStream;  // the stream that owns it (its segment's)
  bool small = false;                // in the small pool
  BlockState state = BlockState::kFree;
  int pending_events = 0;  // events still to complete while pending
  // While free: bytes of its pages given back to the backend (Note [footprint ceiling] in
  // footprint_ceiling.cc); 0 while live or pending. (Between a split and the recommit that
  // follows it, the kept part also counts a page it shares with the remainder.)
  size_t decommitted = 0;
  Block* prev = nullptr;  // neighbours in the segment, by address
  Block* next = nullptr;
  std::vector<StreamId> stream_uses;  // other streams that used it (RecordStream) while live
};

// Lookup key: the first free block of `stream` of at least `size` bytes (lowest address first).
struct BlockKey {
  StreamId stream;
  size_t size;
  uintptr_t address;
};

// Orders free blocks by (stream, size, address): within a stream, lower_bound on a size finds
// the smallest block that fits (best fit) and, among equal sizes, the lowest address, which
// keeps allocations packed towards the start of segments so whole segments empty out.
struct BlockLess {
  using is_transparent = void;
  static BlockKey KeyOf(const Block* b) { return BlockKey{b->stream, b->size, reinterpret_cast<uintptr_t>(b->ptr)}; }
  static bool Less(const BlockKey& a, const BlockKey& b) {
    return std::tie(a.stream, a.size, a.address) < std::tie(b.stream, b.size, b.address);
  }
  bool operator()(const Block* a, const Block* b) const { return Less(KeyOf(a), KeyOf(b)); }
  bool operator()(const Block* a, const BlockKey& b) const { return Less(KeyOf(a), b); }
  bool operator()(const BlockKey& a, const Block* b) const { return Less(a, KeyOf(b)); }
};

using FreeBlocks = std::set<Block*, BlockLess>;

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_BLOCK_H_
