// RequestLimits: what every request is held to before it is queued, and the element-limit rule
// that the request path and the decoders share (the decoders check it from shapes before they
// read data). Plain data and a pure function; thread-compatible.
#ifndef SEQSERVE_SERVER_ADMISSION_REQUEST_LIMITS_H_
#define SEQSERVE_SERVER_ADMISSION_REQUEST_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/admission/request_memory.h"

namespace seqserve {

// Limits every request is held to before it is queued.
struct RequestLimits {
  // Most elements over all inputs; 0 = no limit.
  int64_t max_elements = 0;
  // Deadline of requests that carry none (from the transport or the request); zero = none.
  absl::Duration default_deadline = absl::ZeroDuration();
  // Where calls with a message_bytes are charged until they finish (Note [request bytes]);
  // not owned; null = not counted.
  RequestMemory* memory = nullptr;
  // Text requests: most texts in one request (--max-client-batch-size); 0 = no limit.
  int64_t max_texts = 0;
  // Text requests: truncate texts longer than the model takes even when the request does not
  // ask for it (--auto-truncate), instead of refusing them.
  bool auto_truncate = false;
};

// Adds the elements of `shape` to `total`: INVALID_ARGUMENT when they take it past `max`
// (> 0; the --max-request-elements rule, shared by the decoders that check it before reading
// data). A negative or overflowing shape adds nothing (ValidateRequest reports it, in context).
absl::Status AddElements(absl::Span<const int64_t> shape, int64_t max, int64_t& total);

}  // namespace seqserve

#endif  // SEQSERVE_SERVER_ADMISSION_REQUEST_LIMITS_H_
