#include "ppx/core/npy.h"

#include <bit>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

// The format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// "\x93NUMPY", major, minor, header length (uint16 LE in 1.0; uint32 LE in 2.0/3.0), then a
// Python dict literal {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } padded with
// spaces and a '\n' so the data starts on a 64-byte boundary, then the raw data.

namespace ppx {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error(path + ": " + problem);
}

template <class T>
T load_little_endian(const unsigned char* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  if constexpr (std::endian::native == std::endian::big && sizeof(T) > 1) {
    unsigned char swapped[sizeof(T)];
    for (std::size_t i = 0; i < sizeof(T); ++i) swapped[i] = bytes[sizeof(T) - 1 - i];
    std::memcpy(&value, swapped, sizeof(T));
  }
  return value;
}

// The header dict, parsed as far as the three keys the format defines.
struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int32_t> shape;
};

// A small parser for the header's Python literal; reports problems through fail().
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  Header parse() {
    Header header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    while (!consume('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        skip_space();
        if (peek() != '\'' && peek() != '"') bad("unsupported dtype (only simple dtypes are read)");
        header.descr = string_literal();
        seen_descr = true;
      } else if (key == "fortran_order") {
        header.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape") {
        header.shape = shape_tuple();
        seen_shape = true;
      } else {
        bad("unexpected key '" + key + "'");
      }
      if (!consume(',')) {
        expect('}');
        break;
      }
    }
    if (!seen_descr || !seen_order || !seen_shape) {
      bad("the header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return header;
  }

 private:
  [[noreturn]] void bad(const std::string& problem) {
    fail(path_, "bad .npy header: " + problem);
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  char peek() {
    skip_space();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  bool consume(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void expect(char c) {
    if (!consume(c)) bad(std::string("expected '") + c + "'");
  }
  bool consume_word(std::string_view word) {
    skip_space();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') bad("expected a quoted string");
    const std::size_t end = text_.find(quote, ++pos_);
    if (end == std::string_view::npos) bad("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    if (consume_word("True")) return true;
    if (consume_word("False")) return false;
    bad("fortran_order must be True or False");
  }
  std::vector<int32_t> shape_tuple() {
    std::vector<int32_t> shape;
    expect('(');
    while (!consume(')')) {
      skip_space();
      std::size_t start = pos_;
      std::uint64_t dim = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        dim = dim * 10 + static_cast<std::uint64_t>(text_[pos_++] - '0');
        if (dim > static_cast<std::uint64_t>(std::numeric_limits<int32_t>::max())) {
          bad("a dimension is too large");
        }
      }
      if (pos_ == start) bad("expected a non-negative integer in the shape");
      consume_word("L");  // Python 2 longs
      shape.push_back(static_cast<int32_t>(dim));
      if (!consume(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }

  std::string_view text_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

// Element reader for each supported dtype: bytes per element and a conversion to double.
struct Dtype {
  std::string_view descr;
  std::size_t size;
  double (*load)(const unsigned char*);
};

constexpr Dtype kDtypes[] = {
    {"<f8", 8, [](const unsigned char* b) { return load_little_endian<double>(b); }},
    {"<f4", 4, [](const unsigned char* b) { return static_cast<double>(load_little_endian<float>(b)); }},
    {"<i4", 4, [](const unsigned char* b) { return static_cast<double>(load_little_endian<int32_t>(b)); }},
    {"<i8", 8, [](const unsigned char* b) { return static_cast<double>(load_little_endian<int64_t>(b)); }},
    {"|b1", 1, [](const unsigned char* b) { return *b ? 1.0 : 0.0; }},
    {"|u1", 1, [](const unsigned char* b) { return static_cast<double>(*b); }},
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, std::string("cannot open: ") + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail(path, "read error");
  return bytes;
}

std::string shape_tuple_string(const std::vector<int32_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

Tensor read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 10 || std::string_view(bytes).substr(0, kMagic.size()) != kMagic) {
    fail(path, "not a .npy file (no \\x93NUMPY magic)");
  }
  const int major = data[6];
  std::size_t header_start, header_length;
  if (major == 1) {
    header_start = 10;
    header_length = load_little_endian<std::uint16_t>(data + 8);
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) fail(path, "truncated .npy header");
    header_start = 12;
    header_length = load_little_endian<std::uint32_t>(data + 8);
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." +
                   std::to_string(data[7]));
  }
  if (bytes.size() - header_start < header_length) fail(path, "truncated .npy header");
  const Header header =
      HeaderParser(std::string_view(bytes).substr(header_start, header_length), path).parse();

  if (!header.descr.empty() && header.descr[0] == '>') {
    fail(path, "big-endian data ('" + header.descr + "') is not supported; save it little-endian");
  }
  const Dtype* dtype = nullptr;
  for (const Dtype& d : kDtypes) {
    if (d.descr == header.descr) dtype = &d;
  }
  if (!dtype) {
    fail(path, "unsupported dtype '" + header.descr +
                   "' (supported: <f8, <f4, <i4, <i8, |b1, |u1)");
  }
  if (header.fortran_order) fail(path, "Fortran-order arrays are not supported; save in C order");

  std::size_t count = 1;
  for (int32_t d : header.shape) {
    if (d != 0 && count > std::numeric_limits<std::size_t>::max() / 16 / static_cast<std::size_t>(d)) {
      fail(path, "array too large");
    }
    count *= static_cast<std::size_t>(d);
  }
  const std::size_t data_start = header_start + header_length;
  const std::size_t available = bytes.size() - data_start;
  if (available < count * dtype->size) {
    fail(path, "truncated data: the header promises " + std::to_string(count * dtype->size) +
                   " bytes, the file has " + std::to_string(available));
  }
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i) values[i] = dtype->load(data + data_start + i * dtype->size);
  if (header.shape.empty()) return Tensor(values[0]);  // 0-d stays 0-d
  return Tensor(std::move(values), header.shape);
}

void write_npy(const std::string& path, const Tensor& tensor) {
  std::vector<int32_t> shape = tensor.shape();
  if (shape_numel(shape) != tensor.numel()) {
    if (tensor.numel() != 0) {
      fail(path, "cannot write a tensor whose shape " + shape_tuple_string(shape) +
                     " disagrees with its " + std::to_string(tensor.numel()) + " elements");
    }
    shape = {0};  // the default (empty) tensor
  }
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': " +
                       shape_tuple_string(shape) + ", }";
  // Pad with spaces and end with '\n' so the data starts at a multiple of 64 bytes (as numpy).
  auto padded = [&header](std::size_t prefix) {
    std::string h = header;
    const std::size_t unpadded = prefix + h.size() + 1;
    h.append((64 - unpadded % 64) % 64, ' ');
    h += '\n';
    return h;
  };
  std::string out(kMagic);
  std::string h = padded(10);
  if (h.size() <= std::numeric_limits<std::uint16_t>::max()) {
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>((h.size() >> 8) & 0xff);
  } else {  // only for absurdly many dims: version 2.0 has a 32-bit header length
    h = padded(12);
    out += '\x02';
    out += '\x00';
    for (int i = 0; i < 4; ++i) out += static_cast<char>((h.size() >> (8 * i)) & 0xff);
  }
  out += h;
  const std::size_t data_start = out.size();
  out.resize(data_start + tensor.numel() * sizeof(double));
  for (std::size_t i = 0; i < tensor.numel(); ++i) {
    unsigned char bytes[sizeof(double)];
    std::memcpy(bytes, &tensor.data()[i], sizeof(double));
    if constexpr (std::endian::native == std::endian::big) {
      for (std::size_t j = 0; j < sizeof(double) / 2; ++j) std::swap(bytes[j], bytes[sizeof(double) - 1 - j]);
    }
    std::memcpy(&out[data_start + i * sizeof(double)], bytes, sizeof(double));
  }

  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) fail(path, std::string("cannot open for writing: ") + std::strerror(errno));
  file.write(out.data(), static_cast<std::streamsize>(out.size()));
  file.close();
  if (!file) fail(path, "write failed");
}

}  // namespace ppx
