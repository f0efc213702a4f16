#pragma once
// Tensor: the one value type of PPX — row-major doubles with a shape.
// An empty shape with one element is a 0-d tensor (a scalar), as pyprob_cpp sends C++ scalars.
// Plain value type: copyable, no sharing, not thread-safe beyond const use.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace ppx {

class Tensor {
 public:
  Tensor() = default;  // empty: no data, shape [0]
  Tensor(double scalar) : data_{scalar} {}  // NOLINT: implicit, so ppx::Normal(0, 1) reads naturally
  Tensor(std::initializer_list<double> values);            // 1-d
  Tensor(std::vector<double> data);                        // NOLINT: 1-d
  Tensor(std::vector<double> data, std::vector<int32_t> shape);  // throws std::invalid_argument
                                                                 // if the shape disagrees with data

  const std::vector<double>& data() const { return data_; }
  std::vector<double>& data() { return data_; }
  // The shape as sent on the wire: [] for a 0-d tensor, [n] for a 1-d tensor built from a vector.
  const std::vector<int32_t>& shape() const { return shape_; }
  std::size_t numel() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  std::size_t dim() const { return shape_.size(); }
  double operator[](std::size_t i) const { return data_[i]; }
  // The single value of a one-element tensor; throws std::logic_error otherwise.
  double item() const;

  bool operator==(const Tensor& other) const = default;
  std::string to_string() const;  // short human form for logs and errors

 private:
  std::vector<double> data_;
  std::vector<int32_t> shape_;  // empty shape with one element: 0-d
};

// Number of elements a shape describes (1 for the empty shape).
std::size_t shape_numel(const std::vector<int32_t>& shape);

}  // namespace ppx
