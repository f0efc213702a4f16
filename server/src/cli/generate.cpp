// `ppx generate`: synthetic data from any simulator (PPX 1.0 ones included), one forward run.
//   ppx generate --simulator 'build/bin/gum --serve {endpoint}' --seed 3 --out data/gum-3
// Samples are drawn from their priors and every observe without a value gets one drawn from its
// likelihood (engine side, so the simulator needs nothing special). Written to --out:
//   <name>.npy          each named observation (a name observed k > 1 times: <name>.1.npy ... .k.npy)
//   observations.json   {"<name>": {"file", "shape", "value" (when small)}}: ready for
//                       `ppx infer --observe <name>=@DIR/<name>.npy`
//   truth.json          model, seed, every named sample and tag ("truth"), the result, and every
//                       entry's full address with its distribution and (small) value
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <map>

#include "ppx/core/npy.h"
#include "ppx/engines/executor.h"
#include "ppx/server/report.h"
#include "toolbox.h"

namespace ppx::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::size_t kInlineValues = 64;  // larger values are in .npy files only

// Draws a value for every observe that has none, then hands the site to the recorder, which
// builds full addresses and records the whole trace.
class ForwardSimulation final : public Handler {
 public:
  explicit ForwardSimulation(Rng& rng) : rng_(rng), recorder_(prior_, no_observations_, rng) {}
  Tensor on_sample(const SampleSite& site) override { return recorder_.on_sample(site); }
  void on_observe(const ObserveSite& site) override {
    if (site.value != nullptr || site.likelihood == nullptr) return recorder_.on_observe(site);
    const Tensor drawn = site.likelihood->sample(rng_);
    recorder_.on_observe(ObserveSite{site.address, site.name, site.likelihood, &drawn});
  }
  void on_tag(const TagSite& site) override { recorder_.on_tag(site); }
  engines::Trace finish(Tensor result) { return recorder_.finish(std::move(result)); }

 private:
  Rng& rng_;
  engines::PriorPolicy prior_;
  engines::Observations no_observations_;
  engines::TraceRecorder recorder_;
};

json value_json(const Tensor& t) {
  json j = {{"shape", t.shape()}};
  if (t.numel() == 1 && t.dim() == 0) {
    j["value"] = t[0];
  } else if (t.numel() <= kInlineValues) {
    j["value"] = t.data();
  }
  return j;
}

// A name as a file name: path separators and other awkward characters become '_'.
std::string file_stem(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  }
  return out;
}

}  // namespace

int run_generate(const GenerateOptions& options, const std::vector<std::string>& command_line) {
  try {
    server::PoolOptions pool_options = options.pool;
    pool_options.log = [](const std::string& line) { std::cerr << "ppx: " << line << "\n"; };
    server::SimulatorPool pool(pool_options);
    engines::Simulator& simulator = *pool.simulators().front();
    const std::string model_name = simulator.model_name();
    Rng rng = make_rng(options.seed, 0);
    ForwardSimulation forward(rng);
    Tensor result = simulator.run(forward);
    const engines::Trace trace = forward.finish(std::move(result));

    const fs::path dir(options.out);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create '" + options.out + "': " + ec.message());

    std::map<std::string, std::size_t> occurrences;  // named observes, to number repeats
    for (const engines::TraceEntry& e : trace.entries) {
      if (e.kind == SiteKind::Observe && !e.name.empty()) ++occurrences[e.name];
    }
    json observations = json::object(), entries = json::array();
    // Named samples and tags, the truth: every instance in order (one instance: the value itself).
    std::map<std::string, std::vector<json>> truth_samples, truth_tags;
    std::map<std::string, std::size_t> seen;
    std::size_t unnamed_observes = 0;
    for (const engines::TraceEntry& e : trace.entries) {
      json entry = {{"kind", e.kind == SiteKind::Sample ? "sample" : e.kind == SiteKind::Observe ? "observe" : "tag"},
                    {"address", e.address},
                    {"name", e.name}};
      if (e.distribution) entry["distribution"] = e.distribution->to_string();
      entry.update(value_json(e.value));
      entries.push_back(entry);
      if (e.name.empty()) {
        if (e.kind == SiteKind::Observe) ++unnamed_observes;
      } else if (e.kind == SiteKind::Observe) {
        const std::size_t k = ++seen[e.name];
        const std::string key = occurrences[e.name] > 1 ? fmt::format("{}.{}", e.name, k) : e.name;
        const std::string file = file_stem(key) + ".npy";
        write_npy((dir / file).string(), e.value);
        json o = value_json(e.value);
        o["file"] = file;
        observations[key] = o;
      } else {
        const json v = value_json(e.value);
        (e.kind == SiteKind::Sample ? truth_samples : truth_tags)[e.name].push_back(v.contains("value") ? v["value"] : v);
      }
    }
    const auto truth_json = [](const std::map<std::string, std::vector<json>>& group) {
      json j = json::object();
      for (const auto& [name, values] : group) j[name] = values.size() == 1 ? values.front() : json(values);
      return j;
    };
    json truth = {{"ppxd", {{"version", server::ppxd_version()}, {"git_revision", server::ppxd_git_revision()}}},
                  {"command_line", command_line},
                  {"model_name", model_name},
                  {"seed", options.seed},
                  {"samples", truth_json(truth_samples)},
                  {"tags", truth_json(truth_tags)},
                  {"result", value_json(trace.result)},
                  {"log_prior", trace.log_prior},
                  {"entries", entries}};
    if (unnamed_observes > 0) truth["unnamed_observes"] = unnamed_observes;
    server::write_file_atomically((dir / "observations.json").string(), observations.dump(2) + "\n");
    server::write_file_atomically((dir / "truth.json").string(), truth.dump(2) + "\n");
    std::string files;
    for (const auto& [name, o] : observations.items()) files += " " + o["file"].get<std::string>();
    std::cout << "wrote " << options.out << ":" << files << " observations.json truth.json\n";
    if (unnamed_observes > 0) {
      std::cerr << "ppx generate: " << unnamed_observes
                << " unnamed observe statements are in truth.json only (a query conditions by name)\n";
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ppx generate: error: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace ppx::cli
