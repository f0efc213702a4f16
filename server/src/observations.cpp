#include "ppx/server/observations.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "ppx/core/npy.h"

namespace ppx::server {
namespace {

using nlohmann::json;

void flatten(const json& value, std::size_t depth, std::vector<int32_t>& shape, std::vector<double>& data) {
  if (value.is_boolean()) throw std::invalid_argument("true/false is not a number (write 1 or 0)");
  if (value.is_number()) {
    if (depth != shape.size()) throw std::invalid_argument("ragged array");
    data.push_back(value.get<double>());
    return;
  }
  if (!value.is_array()) throw std::invalid_argument("expected a number or an array of numbers");
  if (depth == shape.size()) {
    if (!data.empty()) throw std::invalid_argument("ragged array");
    shape.push_back(static_cast<int32_t>(value.size()));
  } else if (shape[depth] != static_cast<int32_t>(value.size())) {
    throw std::invalid_argument("ragged array");
  }
  for (const json& element : value) flatten(element, depth + 1, shape, data);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

nlohmann::json parse_json_bounded(std::string_view text) {
  // Nesting is counted before parsing: deeper values are refused without recursing into them.
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw std::invalid_argument("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    const std::string shown = text.size() > 80 ? std::string(text.substr(0, 77)) + "..." : std::string(text);
    throw std::invalid_argument("not valid JSON: '" + shown + "'");
  }
  return value;
}

Tensor tensor_from_json(const nlohmann::json& value) {
  std::vector<int32_t> shape;
  std::vector<double> data;
  flatten(value, 0, shape, data);
  if (value.is_array() && data.empty()) throw std::invalid_argument("empty array");
  return Tensor(std::move(data), std::move(shape));
}

Tensor tensor_from_json_text(std::string_view text) { return tensor_from_json(parse_json_bounded(text)); }

ObservationSource parse_observation(std::string_view spec, engines::Observations& observations) {
  const auto eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == spec.size()) {
    throw std::invalid_argument("observation '" + std::string(spec) + "' is not NAME=VALUE, NAME=@FILE.json or NAME=@FILE.npy");
  }
  ObservationSource source{std::string(spec.substr(0, eq)), std::string(spec.substr(eq + 1))};
  if (observations.contains(source.name)) throw std::invalid_argument("observation '" + source.name + "' given twice");
  try {
    Tensor value;
    if (source.text.front() == '@') {
      const std::string path = source.text.substr(1);
      if (ends_with(path, ".npy")) {
        try {
          value = read_npy(path);
        } catch (const std::invalid_argument&) {
          throw;
        } catch (const std::exception& e) {  // unreadable, malformed or absurdly large files
          throw std::invalid_argument(e.what());
        }
      } else {
        value = tensor_from_json_text(read_file(path));
      }
    } else {
      value = tensor_from_json_text(source.text);
    }
    for (double x : value.data()) {
      if (!std::isfinite(x)) throw std::invalid_argument("contains NaN or infinity");
    }
    observations.emplace(source.name, std::move(value));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("observation '" + source.name + "': " + e.what());
  }
  return source;
}

}  // namespace ppx::server
