#pragma once
// Parsing observations from the command line or an API request:
//   name=8            a number
//   name=[1,2,3]      a JSON array (nested arrays give the shape)
//   name=@file.json   a JSON number or array in a file
//   name=@file.npy    a NumPy array
// Errors throw std::invalid_argument naming the observation and the problem.
#include <string>
#include <string_view>
#include <vector>

#include "ppx/engines/trace.h"

namespace ppx::server {

struct ObservationSource {
  std::string name;
  std::string text;  // as given after '=' (for provenance)
};

// Parses one "name=value" spec into `observations`; returns where it came from.
ObservationSource parse_observation(std::string_view spec, engines::Observations& observations);

// A JSON number or (nested) array as a tensor.
Tensor tensor_from_json_text(std::string_view text);

}  // namespace ppx::server
