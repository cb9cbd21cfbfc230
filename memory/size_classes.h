// Size classes of the caching allocator: how a request is rounded, which pool serves it, how big
// a segment the pool asks its backend for, and when a cached block is split.
//
// Pure functions of their arguments; thread-safe.
#ifndef SEQSERVE_MEMORY_SIZE_CLASSES_H_
#define SEQSERVE_MEMORY_SIZE_CLASSES_H_

#include <cstddef>
#include <cstdint>

namespace seqserve::memory {

inline constexpr size_t kKiB = size_t{1} << 10;
inline constexpr size_t kMiB = size_t{1} << 20;

// Note [512-byte rounding]: every request is rounded up to a multiple of 512 bytes.
//  - Reuse: tensors whose sizes differ by a few elements (a [L] int64 mask at L=100 is 800 B,
//    at L=101 808 B) land on the same size, so a freed block fits the next request exactly
//    instead of leaving a sliver.
//  - Alignment: blocks start at multiples of 512 inside their segment, so every pointer keeps
//    min(segment alignment, 512) — 64 B from the host backend (c10's CPU alignment), 256 B
//    from cudaMalloc (CUDA's guarantee) — without any per-block padding.
//  - Bounded waste: at most 511 B per block; under 1% for any tensor of 50 KiB or more.
inline constexpr size_t kMinBlockSize = 512;

// Note [small and large pools]: requests of at most 1 MiB are served from 2 MiB segments of
// their own pool. Small tensors (biases, masks, per-row scalars) are numerous and short-lived;
// if they were carved out of the large segments, one live 4 KiB mask would pin a 20 MiB segment
// (it could never be released) and split it into pieces no large request fits. 2 MiB is the
// x86-64 huge page and the CUDA virtual-memory granularity on current GPUs, holds two of the
// largest small requests and 4096 of the smallest, and costs one backend call per 2 MiB of
// small tensors.
inline constexpr size_t kSmallRequestLimit = 1 * kMiB;
inline constexpr size_t kSmallSegmentSize = 2 * kMiB;

// Note [large segments]: a request above 1 MiB gets a segment of max(request rounded up to
// 2 MiB, 20 MiB), 20 MiB being CachingAllocatorOptions::large_segment_bytes (default
// kLargeSegmentSize). With expandable segments on, a miss first grows its stream's arena (Note
// [expandable segments] in allocator_options.h); these sizes apply when it cannot.
//  - A backend call is expensive (cudaMalloc costs tens of microseconds to milliseconds and
//    cudaFree synchronizes the device; a fresh host segment page-faults on first touch, 512
//    faults per 2 MiB of 4 KiB pages), so a segment should serve several of the common
//    1-10 MiB tensors: the demo encoder's [32, 64, 256] fp32 activation is 2 MiB, so one 20 MiB
//    segment holds ten.
//  - Sequence lengths vary 3x between batches, and so do the sizes of "the same" tensor. A
//    20 MiB segment freed by a 6 MiB activation serves the 18 MiB one of the next, longer batch
//    instead of forcing a new segment; exact-size segments would accumulate one per shape.
//  - Beyond 20 MiB, rounding to 2 MiB keeps the slack of a segment under 2 MiB (< 10%).
// The cost: one live 2 MiB tensor can pin 20 MiB. Under a capacity budget the pool falls back to
// the exact size (Note [shrinking under a budget] in caching_allocator.cc).
inline constexpr size_t kLargeSegmentSize = 20 * kMiB;
inline constexpr size_t kLargeSegmentRounding = 2 * kMiB;

// Expandable segments start at, and grow by, multiples of this (Note [expandable segments] in
// allocator_options.h): a few pages, so the pool's footprint tracks its live bytes closely.
inline constexpr size_t kExpandableGrowth = 64 * kKiB;

// Largest request the pool accepts (256 TiB): beyond any device, and far enough from SIZE_MAX
// that rounding cannot overflow.
inline constexpr size_t kMaxRequestSize = size_t{1} << 48;

// `bytes` rounded up to a multiple of `multiple` (> 0). No overflow for bytes <= kMaxRequestSize.
inline constexpr size_t RoundUp(size_t bytes, size_t multiple) { return (bytes + multiple - 1) / multiple * multiple; }

// `p` rounded down / up to a multiple of `multiple` (> 0).
inline char* RoundDownPtr(char* p, size_t multiple) { return p - reinterpret_cast<uintptr_t>(p) % multiple; }
inline char* RoundUpPtr(char* p, size_t multiple) {
  return p + (multiple - 1 - (reinterpret_cast<uintptr_t>(p) + multiple - 1) % multiple);
}

// The block size a request of `bytes` (1..kMaxRequestSize) needs.
inline constexpr size_t RoundRequest(size_t bytes) { return RoundUp(bytes, kMinBlockSize); }

// Whether a rounded request is served by the small pool.
inline constexpr bool IsSmallRequest(size_t rounded) { return rounded <= kSmallRequestLimit; }

// Note [oversize blocks]: a block larger than Options::max_split_size is "oversize": it is never
// split, so that a few very large tensors (say 1 GiB of attention scores) keep their segments
// whole instead of being chipped away by medium requests until no large request fits anywhere.
// Consequently (a) a request of at most max_split_size never takes an oversize block (it could
// not give the rest back), and (b) an oversize request takes a cached oversize block only when
// that wastes less than large_segment_bytes, the cost of the smallest fresh large segment.
// Since max_split_size >= large_segment_bytes (CachingAllocator::Create refuses less), an oversize
// request's segment is its exact 2 MiB-rounded size.

// Segment size the pool asks for when no cached block serves a `rounded` request.
inline constexpr size_t SegmentSizeFor(size_t rounded, size_t large_segment = kLargeSegmentSize) {
  if (IsSmallRequest(rounded)) return kSmallSegmentSize;
  const size_t exact = RoundUp(rounded, kLargeSegmentRounding);
  return exact < large_segment ? large_segment : exact;
}

// Smallest segment that can serve a `rounded` request (the fallback under a budget).
inline constexpr size_t MinSegmentSizeFor(size_t rounded) {
  return IsSmallRequest(rounded) ? kSmallSegmentSize : RoundUp(rounded, kLargeSegmentRounding);
}

// Note [split thresholds]: serving `rounded` from a free block of `block_size` splits the block
// when the remainder can serve a later request of the same pool. In the small pool any
// remainder (>= 512 B) can. In the large pool only a remainder above 1 MiB can: every large
// request is above 1 MiB and small requests never look in the large pool, so a smaller
// remainder would be a dead fragment until its neighbour is freed. Left attached to the
// allocation it costs the same memory and one free-list entry less; this bounds the slack of a
// large allocation to 1 MiB (at most 50% of the smallest large request, under 10% of a 10 MiB
// one). Oversize blocks are never split (Note [oversize blocks]).
inline constexpr bool ShouldSplit(size_t block_size, size_t rounded, bool small_pool, size_t max_split_size) {
  if (block_size > max_split_size) return false;
  const size_t remainder = block_size - rounded;
  return small_pool ? remainder >= kMinBlockSize : remainder > kSmallRequestLimit;
}

}  // namespace seqserve::memory

#endif  // SEQSERVE_MEMORY_SIZE_CLASSES_H_
