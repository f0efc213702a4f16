#include "ppx/core/tensor.h"

#include <sstream>
#include <stdexcept>

namespace ppx {

std::size_t shape_numel(const std::vector<int32_t>& shape) {
  std::size_t n = 1;
  for (int32_t d : shape) {
    if (d < 0) throw std::invalid_argument("tensor shape has a negative dimension");
    n *= static_cast<std::size_t>(d);
  }
  return n;
}

Tensor::Tensor(std::initializer_list<double> values)
    : data_(values), shape_{static_cast<int32_t>(values.size())} {}

Tensor::Tensor(std::vector<double> data)
    : data_(std::move(data)), shape_{static_cast<int32_t>(data_.size())} {}

Tensor::Tensor(std::vector<double> data, std::vector<int32_t> shape)
    : data_(std::move(data)), shape_(std::move(shape)) {
  if (shape_numel(shape_) != data_.size()) {
    throw std::invalid_argument("tensor shape " + to_string() + " does not match its " +
                                std::to_string(data_.size()) + " elements");
  }
}

double Tensor::item() const {
  if (data_.size() != 1) {
    throw std::logic_error("Tensor::item() on a tensor with " + std::to_string(data_.size()) +
                           " elements");
  }
  return data_[0];
}

std::string Tensor::to_string() const {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < shape_.size(); ++i) out << (i ? "," : "") << shape_[i];
  out << "]{";
  const std::size_t shown = data_.size() < 6 ? data_.size() : 6;
  for (std::size_t i = 0; i < shown; ++i) out << (i ? ", " : "") << data_[i];
  if (shown < data_.size()) out << ", ...";
  out << "}";
  return out.str();
}

}  // namespace ppx
