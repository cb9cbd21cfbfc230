// Per-thread working buffers of the tokenizer's stages.
//
// Note [tokenizer buffers]: every stage works in `thread_local` strings and vectors that keep
// their capacity from one text to the next, so once a thread's buffers have grown to the usual
// text size an encoding allocates nothing (the tokenizer itself stays immutable and lock-free).
// A buffer that grew past kKeepBufferBytes (256 KiB) for one large text is released after it, so
// a request thread does not hold a hostile text's memory for the rest of its life. Each buffer
// belongs to one function that is never re-entered (nested pre-tokenizer Sequences are flattened
// when the file is read), so no buffer is in use twice at once.
#ifndef SEQSERVE_RUNTIME_TOKENIZER_BUFFERS_H_
#define SEQSERVE_RUNTIME_TOKENIZER_BUFFERS_H_

#include <cstddef>

namespace seqserve::tokenizer {

inline constexpr size_t kKeepBufferBytes = size_t{256} << 10;

// Frees `buffer` (a std::string or std::vector) when its capacity is above kKeepBufferBytes.
template <typename Buffer>
void ReleaseIfLarge(Buffer& buffer) {
  if (buffer.capacity() * sizeof(typename Buffer::value_type) > kKeepBufferBytes) Buffer().swap(buffer);
}

}  // namespace seqserve::tokenizer

#endif  // SEQSERVE_RUNTIME_TOKENIZER_BUFFERS_H_
