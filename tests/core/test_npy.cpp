// .npy files: round trips, files built byte by byte as numpy lays them out, and every error path.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "ppx/core/npy.h"

using namespace ppx;

namespace {

// A scratch folder per test process, removed at exit.
class ScratchDir {
 public:
  ScratchDir()
      : path_(std::filesystem::temp_directory_path() /
              ("ppx_test_npy_" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

const ScratchDir& scratch() {
  static const ScratchDir dir;
  return dir;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

template <class T>
std::string le_bytes(const std::vector<T>& values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), values.data(), out.size());  // the test machine is little-endian
  return out;
}

// A .npy file laid out as numpy does: magic, version, header length, the dict padded with spaces
// and '\n' to a 64-byte boundary, then the data.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  for (std::size_t i = 0; i < length_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

// Made by python3:
//   h = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"; h += ' ' * 58 + '\n'
//   struct.pack('<6sBBH', b'\x93NUMPY', 1, 0, len(h)) + h.encode()
//     + struct.pack('<6d', 0.5, -1.25, 3.0, 1e-300, -0.0, 6.02214076e23)
// which is byte for byte what numpy.save writes for that float64 array.
const std::string kPythonFile = from_hex(
    "934e554d5059010076007b276465736372273a20273c6638272c2027666f727472616e5f6f72646572273a2046616c73"
    "652c20277368617065273a2028322c2033292c207d202020202020202020202020202020202020202020202020202020"
    "202020202020202020202020202020202020202020202020202020202020200a000000000000e03f000000000000f4bf"
    "000000000000084059f3f8c21f6ea501000000000000008017c557ca85e1df44");

}  // namespace

TEST_CASE("reads a file built by python3 as numpy writes it", "[npy]") {
  const std::string path = scratch().file("python.npy");
  write_bytes(path, kPythonFile);
  const Tensor t = read_npy(path);
  CHECK(t == Tensor({0.5, -1.25, 3.0, 1e-300, -0.0, 6.02214076e23}, {2, 3}));
  CHECK(std::signbit(t[4]));
}

TEST_CASE("writes the bytes numpy writes", "[npy]") {
  const std::string path = scratch().file("ours.npy");
  write_npy(path, Tensor({0.5, -1.25, 3.0, 1e-300, -0.0, 6.02214076e23}, {2, 3}));
  CHECK(read_bytes(path) == kPythonFile);
}

TEST_CASE("round trips keep shape and values", "[npy]") {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Tensor> tensors = {
      Tensor(3.25),                                              // 0-d
      Tensor{1.0, -2.0, inf, -inf, 1e-310, 1.7976931348623157e308},  // 1-d
      Tensor(std::vector<double>(24, 0.125), {2, 3, 4}),
      Tensor(std::vector<double>{}, {0}),
      Tensor(std::vector<double>{}, {3, 0}),
      Tensor({7.0}, {1, 1, 1, 1, 1, 1, 1, 1}),
  };
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    INFO(tensors[i].to_string());
    const std::string path = scratch().file("round" + std::to_string(i) + ".npy");
    write_npy(path, tensors[i]);
    const Tensor back = read_npy(path);
    CHECK(back == tensors[i]);
    CHECK(back.shape() == tensors[i].shape());
    // numpy's layout: version 1.0, data on a 64-byte boundary, header ending in '\n'.
    const std::string bytes = read_bytes(path);
    REQUIRE(bytes.size() >= 10);
    CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
    const std::size_t header_length = static_cast<unsigned char>(bytes[8]) |
                                      (static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    CHECK((10 + header_length) % 64 == 0);
    CHECK(bytes[10 + header_length - 1] == '\n');
    CHECK(bytes.size() == 10 + header_length + 8 * tensors[i].numel());
  }
  // NaN survives bit for bit (NaN != NaN, so compare apart).
  const std::string path = scratch().file("nan.npy");
  write_npy(path, Tensor{std::nan("")});
  CHECK(std::isnan(read_npy(path)[0]));
  // 0-d is written as shape ().
  write_npy(path, Tensor(1.0));
  CHECK(read_bytes(path).find("'shape': (), }") != std::string::npos);
}

TEST_CASE("reads every supported dtype and header version", "[npy]") {
  struct Case {
    std::string name, bytes;
    Tensor expected;
  };
  const std::vector<Case> cases = {
      {"<f4", npy_file(dict("<f4", "(3,)"), le_bytes<float>({1.5f, -2.0f, 0.25f})), Tensor{1.5, -2.0, 0.25}},
      {"<i4", npy_file(dict("<i4", "(2, 2)"), le_bytes<int32_t>({1, -2, 3, 2147483647})),
       Tensor({1.0, -2.0, 3.0, 2147483647.0}, {2, 2})},
      {"<i8", npy_file(dict("<i8", "(2,)"), le_bytes<int64_t>({-5, int64_t{1} << 40})),
       Tensor{-5.0, 1099511627776.0}},
      {"|b1", npy_file(dict("|b1", "(3,)"), std::string("\x01\x00\x01", 3)), Tensor{1.0, 0.0, 1.0}},
      {"|u1", npy_file(dict("|u1", "(2,)"), std::string("\xff\x07", 2)), Tensor{255.0, 7.0}},
      {"<f8 0-d", npy_file(dict("<f8", "()"), le_bytes<double>({2.5})), Tensor(2.5)},
      {"version 2.0", npy_file(dict("<f8", "(2,)"), le_bytes<double>({1.0, 2.0}), 2), Tensor{1.0, 2.0}},
      {"version 3.0", npy_file(dict("<f8", "(1,)"), le_bytes<double>({4.0}), 3), Tensor{4.0}},
      {"keys in another order, no trailing comma",
       npy_file("{'shape': (2,), 'fortran_order': False, 'descr': '<f8'}", le_bytes<double>({1.0, 2.0})),
       Tensor{1.0, 2.0}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO(cases[i].name);
    const std::string path = scratch().file("dtype" + std::to_string(i) + ".npy");
    write_bytes(path, cases[i].bytes);
    const Tensor t = read_npy(path);
    CHECK(t == cases[i].expected);
  }
}

TEST_CASE("bad files throw std::runtime_error naming the file and the problem", "[npy]") {
  struct Case {
    std::string name, bytes, problem;
  };
  const std::string good = npy_file(dict("<f8", "(2,)"), le_bytes<double>({1.0, 2.0}));
  const std::vector<Case> cases = {
      {"not npy", "hello, this is not a numpy file", "magic"},
      {"empty", "", "magic"},
      {"truncated header", good.substr(0, 40), "truncated"},
      {"truncated data", good.substr(0, good.size() - 3), "truncated"},
      {"fortran order", npy_file(dict("<f8", "(2, 2)", "True"), le_bytes<double>({1, 2, 3, 4})), "Fortran"},
      {"big-endian", npy_file(dict(">f8", "(1,)"), std::string(8, '\0')), "big-endian"},
      {"complex dtype", npy_file(dict("<c16", "(1,)"), std::string(16, '\0')), "unsupported dtype"},
      {"structured dtype",
       npy_file("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
       "unsupported dtype"},
      {"version 4", [&] { std::string b = good; b[6] = 4; return b; }(), "version"},
      {"no shape", npy_file("{'descr': '<f8', 'fortran_order': False, }", ""), "shape"},
      {"negative dim", npy_file(dict("<f8", "(-1,)"), ""), "header"},
      {"garbage header", npy_file("{'descr' '<f8'}", ""), "header"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    INFO(cases[i].name);
    const std::string path = scratch().file("bad" + std::to_string(i) + ".npy");
    write_bytes(path, cases[i].bytes);
    CHECK_THROWS_AS(read_npy(path), std::runtime_error);
    CHECK_THROWS_WITH(read_npy(path), Catch::Contains(path) && Catch::Contains(cases[i].problem));
  }
  CHECK_THROWS_WITH(read_npy(scratch().file("missing.npy")), Catch::Contains("missing.npy"));
  CHECK_THROWS_AS(write_npy(scratch().file("no/such/dir/x.npy"), Tensor(1.0)), std::runtime_error);
}
