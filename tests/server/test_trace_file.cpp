// Trace files: what is written is read back exactly; damaged files are errors, never crashes.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "ppx/server/trace_file.h"

namespace fs = std::filesystem;
using ppx::Tensor;
using ppx::engines::Trace;
using ppx::engines::TraceEntry;
using ppx::server::TraceFileReader;
using ppx::server::TraceFileWriter;

namespace {

fs::path temp_file(const std::string& name) {
  return fs::temp_directory_path() / ("ppx-trace-file-" + name + "-" + std::to_string(::getpid()));
}

Trace example_trace(double mu) {
  Trace t;
  t.entries.push_back(TraceEntry{.kind = ppx::SiteKind::Sample,
                                 .address = "gum.cpp:5:forward__Normal__1",
                                 .name = "mu",
                                 .distribution = ppx::Normal(1.0, 2.236),
                                 .value = Tensor(mu),
                                 .log_prob = ppx::Normal(1.0, 2.236).log_prob(Tensor(mu)),
                                 .log_proposal = -0.25 * mu});
  t.entries.push_back(TraceEntry{.kind = ppx::SiteKind::Observe,
                                 .address = "obs__Normal__1",
                                 .name = "image",
                                 .distribution = ppx::Normal(Tensor({1, 2, 3, 4, 5, 6}, {2, 3}), 0.5),
                                 .value = Tensor({1, 2, 3, 4, 5, 6.5}, {2, 3}),
                                 .log_prob = -INFINITY,
                                 .control = false,
                                 .observed = true});
  t.entries.push_back(TraceEntry{.kind = ppx::SiteKind::Observe, .address = "free__Normal__1", .name = "free",
                                 .distribution = ppx::Normal(0, 1), .control = false});
  t.entries.push_back(TraceEntry{.kind = ppx::SiteKind::Tag, .address = "t__None__1", .name = "truth/x",
                                 .value = Tensor({7, 8}), .control = false});
  t.result = Tensor(mu);
  t.log_likelihood = -INFINITY;
  t.log_prior = t.entries[0].log_prob;
  t.log_weight = -INFINITY;
  return t;
}

}  // namespace

TEST_CASE("trace files read back every entry, value, distribution and weight") {
  const fs::path path = temp_file("roundtrip");
  {
    TraceFileWriter writer(path.string(), {{"model_name", "gum"}});
    CHECK(fs::exists(path.string() + ".partial"));
    CHECK_FALSE(fs::exists(path));
    for (int i = 0; i < 3; ++i) writer.write(example_trace(0.5 * i), 1, 10 + i);
    writer.close();
  }
  CHECK(ppx::server::is_trace_file(path.string()));
  TraceFileReader reader(path.string());
  CHECK(reader.header()["model_name"] == "gum");
  CHECK(reader.header()["format"] == "ppx-traces");
  CHECK(reader.header()["version"] == 1);
  for (int i = 0; i < 3; ++i) {
    auto stored = reader.next();
    REQUIRE(stored);
    const Trace expected = example_trace(0.5 * i);
    const Trace& got = stored->trace;
    CHECK(stored->chain == 1);
    CHECK(stored->draw == static_cast<std::uint64_t>(10 + i));
    REQUIRE(got.entries.size() == expected.entries.size());
    for (std::size_t k = 0; k < got.entries.size(); ++k) {
      INFO(k);
      CHECK(got.entries[k].kind == expected.entries[k].kind);
      CHECK(got.entries[k].address == expected.entries[k].address);
      CHECK(got.entries[k].name == expected.entries[k].name);
      CHECK(got.entries[k].distribution == expected.entries[k].distribution);
      CHECK(got.entries[k].value.data() == expected.entries[k].value.data());
      CHECK(got.entries[k].log_prob == expected.entries[k].log_prob);  // -inf survives
      CHECK(got.entries[k].log_proposal == expected.entries[k].log_proposal);  // absent stays absent
      CHECK(got.entries[k].control == expected.entries[k].control);
      CHECK(got.entries[k].observed == expected.entries[k].observed);
    }
    CHECK(got.entries[1].value.shape() == std::vector<std::int32_t>{2, 3});
    CHECK(got.entries[0].value.shape().empty());  // a 0-d scalar stays 0-d
    CHECK(got.entries[2].value.empty());          // an observe without a value has none
    CHECK(got.result == expected.result);
    CHECK(got.log_weight == -INFINITY);
    CHECK(got.log_prior == expected.log_prior);
  }
  CHECK_FALSE(reader.next());
  fs::remove(path);
}

TEST_CASE("a writer that is not closed leaves no file") {
  const fs::path path = temp_file("unclosed");
  {
    TraceFileWriter writer(path.string(), {});
    writer.write(example_trace(1.0));
  }
  CHECK_FALSE(fs::exists(path));
  CHECK_FALSE(fs::exists(path.string() + ".partial"));
}

TEST_CASE("damaged trace files are errors naming the record") {
  const fs::path path = temp_file("damaged");
  {
    TraceFileWriter writer(path.string(), {});
    writer.write(example_trace(1.0));
    writer.write(example_trace(2.0));
    writer.close();
  }
  const auto size = fs::file_size(path);
  SECTION("truncated") {
    fs::resize_file(path, size - 5);
    TraceFileReader reader(path.string());
    CHECK(reader.next());
    CHECK_THROWS_WITH(reader.next(), Catch::Contains("record 2") && Catch::Contains("range"));
  }
  SECTION("a huge size field is refused before allocating") {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(13);  // the header record's JSON size
    const std::uint64_t huge = std::uint64_t{1} << 62;
    f.write(reinterpret_cast<const char*>(&huge), sizeof huge);
    f.close();
    CHECK_THROWS_WITH(TraceFileReader(path.string()), Catch::Contains("out of range"));
  }
  SECTION("not a trace file") {
    std::ofstream(path) << "log_weight,mu\n0,1\n";
    CHECK_FALSE(ppx::server::is_trace_file(path.string()));
    CHECK_THROWS_WITH(TraceFileReader(path.string()), Catch::Contains("not a ppx trace file"));
  }
  fs::remove(path);
}
