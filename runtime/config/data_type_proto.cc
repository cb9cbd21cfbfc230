#include "runtime/config/data_type_proto.h"

#include <string>

namespace seqserve {

DataType FromProto(v1::DataType type) { return DataTypeFromName(v1::DataType_Name(type)).value_or(DataType::kInvalid); }

v1::DataType ToProto(DataType type) {
  v1::DataType out = v1::DATA_TYPE_UNSPECIFIED;
  v1::DataType_Parse(std::string(DataTypeName(type)), &out);
  return out;
}

}  // namespace seqserve
