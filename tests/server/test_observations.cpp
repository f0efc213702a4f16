// Observation parsing for the CLI and API: numbers, JSON arrays, JSON and .npy files.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "ppx/core/npy.h"
#include "ppx/server/observations.h"

using namespace ppx;

TEST_CASE("observations parse from numbers, arrays and files") {
  engines::Observations o;
  server::parse_observation("a=8", o);
  server::parse_observation("b=[[1,2,3],[4,5,6]]", o);
  CHECK(o.at("a").item() == 8);
  CHECK(o.at("b").shape() == std::vector<int32_t>{2, 3});
  CHECK(o.at("b").data()[5] == 6);

  const auto dir = std::filesystem::temp_directory_path();
  const std::string json_path = (dir / "ppx-obs-test.json").string();
  std::ofstream(json_path) << "[0.5, 1.5]";
  server::parse_observation("c=@" + json_path, o);
  CHECK(o.at("c").data() == std::vector<double>{0.5, 1.5});

  const std::string npy_path = (dir / "ppx-obs-test.npy").string();
  write_npy(npy_path, Tensor({1, 2, 3, 4}, {2, 2}));
  const auto source = server::parse_observation("d=@" + npy_path, o);
  CHECK(source.name == "d");
  CHECK(o.at("d").shape() == std::vector<int32_t>{2, 2});
  std::filesystem::remove(json_path);
  std::filesystem::remove(npy_path);
}

TEST_CASE("bad observations are rejected with the name and the reason") {
  engines::Observations o;
  const std::vector<std::string> bad{"novalue", "=3", "x=", "x=abc", "x=[1,[2]]", "x=@/nonexistent.npy",
                                     "x=@/nonexistent.json", "x=[]", "x=NaN"};
  for (const std::string& spec : bad) {
    INFO(spec);
    CHECK_THROWS_AS(server::parse_observation(spec, o), std::invalid_argument);
  }
  server::parse_observation("x=1", o);
  CHECK_THROWS_WITH(server::parse_observation("x=2", o), Catch::Contains("given twice"));
}
