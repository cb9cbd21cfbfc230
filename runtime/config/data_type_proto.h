// The runtime's DataType and the wire schemas' v1::DataType (model configs, the Predict API),
// one for the other by name.
#ifndef SEQSERVE_RUNTIME_CONFIG_DATA_TYPE_PROTO_H_
#define SEQSERVE_RUNTIME_CONFIG_DATA_TYPE_PROTO_H_

#include "runtime/base/data_type.h"
#include "seqserve/v1/model_config.pb.h"

namespace seqserve {

// kInvalid for a type the runtime does not have.
DataType FromProto(v1::DataType type);
// DATA_TYPE_UNSPECIFIED for kInvalid.
v1::DataType ToProto(DataType type);

}  // namespace seqserve

#endif  // SEQSERVE_RUNTIME_CONFIG_DATA_TYPE_PROTO_H_
