#include "tests/testing/reference.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace seqserve::testing {

std::map<std::string, ReferenceCase> LoadReference(const std::string& dir) {
  std::ifstream manifest(dir + "/manifest.txt");
  if (!manifest) {
    std::fprintf(stderr, "missing %s/manifest.txt: build the demo_models target\n", dir.c_str());
    std::abort();
  }
  std::map<std::string, ReferenceCase> cases;
  std::string line;
  while (std::getline(manifest, line)) {
    if (line.empty()) continue;
    std::istringstream in(line);
    std::string name, model, direction, dtype, file;
    Tensor t;
    int rank = 0;
    in >> name >> model >> direction >> t.name >> dtype >> rank;
    t.shape.resize(rank);
    for (int i = 0; i < rank; ++i) in >> t.shape[i];
    in >> file;
    t.dtype = DataTypeFromName(dtype).value_or(DataType::kInvalid);
    std::ifstream data(dir + "/" + file, std::ios::binary);
    std::stringstream bytes;
    bytes << data.rdbuf();
    t.data = bytes.str();
    ReferenceCase& c = cases[name];
    c.model = model;
    (direction == "in" ? c.inputs : c.outputs).push_back(std::move(t));
  }
  return cases;
}

double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  if (a.dtype != DataType::kFp32 || b.dtype != DataType::kFp32 || a.shape != b.shape ||
      a.data.size() != b.data.size()) {
    return std::numeric_limits<double>::infinity();
  }
  double worst = 0;
  const size_t n = a.data.size() / 4;
  for (size_t i = 0; i < n; ++i) {
    float x, y;
    std::memcpy(&x, a.data.data() + 4 * i, 4);
    std::memcpy(&y, b.data.data() + 4 * i, 4);
    if (std::isnan(x) || std::isnan(y)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, static_cast<double>(std::fabs(x - y)));
  }
  return worst;
}

}  // namespace seqserve::testing
