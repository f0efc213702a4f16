// Tensor: construction, shape validation, item(), scalars.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <vector>

#include "ppx/core/tensor.h"

using namespace ppx;

TEST_CASE("a double is a 0-d tensor", "[tensor]") {
  const Tensor t = 2.5;
  CHECK(t.shape().empty());
  CHECK(t.dim() == 0);
  CHECK(t.numel() == 1);
  CHECK_FALSE(t.empty());
  CHECK(t.item() == 2.5);
  CHECK(t[0] == 2.5);
}

TEST_CASE("vectors and initializer lists are 1-d", "[tensor]") {
  const Tensor a{1.0, 2.0, 3.0};
  CHECK(a.shape() == std::vector<int32_t>{3});
  CHECK(a.dim() == 1);
  const Tensor b(std::vector<double>{4.0});
  CHECK(b.shape() == std::vector<int32_t>{1});
  CHECK(b.item() == 4.0);  // one element: item() works whatever the rank
  // Same values, different shapes: different tensors (the wire keeps [] and [1] apart).
  CHECK_FALSE(Tensor(4.0) == b);
  CHECK(Tensor{1.0, 2.0, 3.0} == a);
}

TEST_CASE("an explicit shape must match the data", "[tensor]") {
  const Tensor t({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.shape() == std::vector<int32_t>{2, 3});
  CHECK(t.numel() == 6);
  CHECK(t[4] == 5.0);
  CHECK_NOTHROW(Tensor({}, {0}));
  CHECK_NOTHROW(Tensor({}, {2, 0}));
  CHECK_NOTHROW(Tensor({7.0}, {}));  // 0-d
  CHECK_THROWS_AS(Tensor({1, 2, 3}, {2, 2}), std::invalid_argument);
  CHECK_THROWS_AS(Tensor({1, 2}, {}), std::invalid_argument);
  CHECK_THROWS_AS(Tensor({}, {}), std::invalid_argument);  // 0-d holds exactly one element
  CHECK_THROWS_AS(Tensor({1, 2}, {-1, -2}), std::invalid_argument);
}

TEST_CASE("item() needs exactly one element", "[tensor]") {
  CHECK_THROWS_AS(Tensor({1.0, 2.0}).item(), std::logic_error);
  CHECK_THROWS_AS(Tensor().item(), std::logic_error);
  CHECK(Tensor({3.0}, {1, 1}).item() == 3.0);
}

TEST_CASE("the default tensor is empty", "[tensor]") {
  const Tensor t;
  CHECK(t.empty());
  CHECK(t.numel() == 0);
}

TEST_CASE("shape_numel", "[tensor]") {
  CHECK(shape_numel({}) == 1);
  CHECK(shape_numel({2, 3, 4}) == 24);
  CHECK(shape_numel({5, 0}) == 0);
  CHECK_THROWS_AS(shape_numel({2, -1}), std::invalid_argument);
}

TEST_CASE("to_string shows the shape and the first values", "[tensor]") {
  CHECK(Tensor({1, 2, 3, 4, 5, 6}, {2, 3}).to_string() == "[2,3]{1, 2, 3, 4, 5, 6}");
  CHECK(Tensor(0.5).to_string() == "[]{0.5}");
  CHECK(Tensor(std::vector<double>(10, 1.0)).to_string() == "[10]{1, 1, 1, 1, 1, 1, ...}");
}
