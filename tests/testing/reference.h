// Reads the reference inputs/outputs that models/export_demo_models.py computed in Python.
#ifndef SEQSERVE_TESTS_TESTING_REFERENCE_H_
#define SEQSERVE_TESTS_TESTING_REFERENCE_H_

#include <map>
#include <string>
#include <vector>

#include "runtime/base/tensor.h"

namespace seqserve::testing {

struct ReferenceCase {
  std::string model;
  std::vector<Tensor> inputs;   // in the model's input order
  std::vector<Tensor> outputs;  // in the model's output order
};

// Keyed by case name (e.g. "enc_3x33"). Aborts the test binary if the manifest is missing.
std::map<std::string, ReferenceCase> LoadReference(const std::string& dir);

// Largest |a - b| over FP32 tensors of equal shape; +inf if shapes or types differ.
double MaxAbsDiff(const Tensor& a, const Tensor& b);

}  // namespace seqserve::testing

#endif  // SEQSERVE_TESTS_TESTING_REFERENCE_H_
