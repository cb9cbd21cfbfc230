// What a model accepts and returns, in plain C++: the part of its config.pbtxt that the request
// path (validation, batch assembly, execution) needs. Built once at load; immutable after.
#ifndef SEQSERVE_RUNTIME_EXECUTION_MODEL_SIGNATURE_H_
#define SEQSERVE_RUNTIME_EXECUTION_MODEL_SIGNATURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/base/data_type.h"

namespace seqserve {

struct TensorSpec {
  std::string name;
  DataType dtype = DataType::kInvalid;
  // Shape without the leading row dimension; -1 only on the sequence axis.
  std::vector<int64_t> dims;
  // True when dims[sequence_axis] == -1: the tensor's length varies with the request.
  bool carries_sequence = false;
  // Inputs: one element of `dtype` written into padded positions.
  std::string pad_bytes;
  // Integer inputs: the values a request may carry, [range_begin, range_end), when has_range.
  bool has_range = false;
  int64_t range_begin = 0;
  int64_t range_end = 0;
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
  // Index into TensorSpec::dims of the sequence dimension; -1 when the model has none.
  int sequence_axis = -1;
  // Longest accepted sequence (0 when there is no sequence dimension).
  int64_t max_sequence_length = 0;
  // Most rows in one batch and in one request.
  int64_t max_batch_size = 1;

  bool has_sequence() const { return sequence_axis >= 0; }
};

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_EXECUTION_MODEL_SIGNATURE_H_
