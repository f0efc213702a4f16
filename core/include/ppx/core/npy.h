#pragma once
// NumPy .npy files (format 1.0/2.0/3.0) <-> Tensor: how observations travel between the tau-decay
// generator, analysis scripts and `ppx infer --observe name=@file.npy`.
// Reads little-endian float64/float32/int32/int64/bool arrays in C order (converted to double);
// writes float64, C order. Errors (missing file, bad header, Fortran order, unsupported dtype,
// truncated data) throw std::runtime_error naming the file and the problem.
#include <string>

#include "ppx/core/tensor.h"

namespace ppx {

Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace ppx
