#pragma once
// Parsing observations from the command line or an API request:
//   name=8            a number
//   name=[1,2,3]      a JSON array (nested arrays give the shape)
//   name=@file.json   a JSON number or array in a file
//   name=@file.npy    a NumPy array
// Errors throw std::invalid_argument naming the observation and the problem.
#include <nlohmann/json.hpp>
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

// Deepest nesting of arrays/objects accepted in JSON from users (tensors have far fewer axes).
inline constexpr std::size_t kMaxJsonDepth = 64;

// Parses JSON text, refusing nesting deeper than kMaxJsonDepth before parsing (no recursion on
// hostile input). Throws std::invalid_argument.
nlohmann::json parse_json_bounded(std::string_view text);

// A JSON number or (nested) array of numbers as a tensor; booleans, strings, objects, ragged or
// empty arrays throw std::invalid_argument.
Tensor tensor_from_json(const nlohmann::json& value);
Tensor tensor_from_json_text(std::string_view text);

}  // namespace ppx::server
