#include "ppx/server/report.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

namespace ppx::server {

using nlohmann::json;
namespace fs = std::filesystem;

std::string ppxd_version() { return PPX_VERSION; }
std::string ppxd_git_revision() { return PPX_GIT_REVISION; }

namespace {

json number(double x) { return std::isfinite(x) ? json(x) : json(nullptr); }

json tensor_json(const Tensor& t) {
  json j = {{"shape", t.shape()}};
  if (t.numel() <= 64) j["data"] = t.data();
  return j;
}

std::string csv_number(double x) { return std::isnan(x) ? "" : fmt::format("{:.17g}", x); }

}  // namespace

std::vector<std::string> summary_variables(const engines::WeightedTraces& posterior) {
  std::vector<std::string> names;
  for (const std::string& n : posterior.names()) {
    if (n != "result") names.push_back(n);
  }
  if (posterior.column("result") != nullptr) names.push_back("result");
  return names;
}

json posterior_json(const InferenceReport& report) {
  const engines::WeightedTraces& post = *report.posterior;
  const Provenance& p = report.provenance;
  json observations = json::object();
  for (const ObservationSource& source : p.observations) {
    json o = {{"given", source.text}};
    if (p.observed != nullptr) {
      if (auto it = p.observed->find(source.name); it != p.observed->end()) o["value"] = tensor_json(it->second);
    }
    observations[source.name] = o;
  }
  json variables = json::object();
  for (const std::string& name : summary_variables(post)) {
    const engines::VariableSummary s = post.summarize(name, 10);
    json v = {{"discrete", s.discrete}, {"present", number(s.present)}, {"mean", number(s.mean)},
              {"sd", number(s.sd)},     {"q05", number(s.q05)},         {"q50", number(s.q50)},
              {"q95", number(s.q95)}};
    if (s.discrete) {
      json categories = json::array();
      for (const auto& c : s.categories) categories.push_back({{"value", c.value}, {"probability", c.probability}});
      v["categories"] = categories;
    }
    if (auto it = report.variable_diagnostics.find(name); it != report.variable_diagnostics.end()) {
      for (const auto& [key, value] : it->second) v[key] = number(value);
    }
    variables[name] = v;
  }
  const engines::TraceLengthStats lengths = post.trace_lengths();
  json diagnostics = report.diagnostics;
  diagnostics["traces"] = post.size();
  diagnostics["dropped_non_finite_weights"] = post.dropped();
  diagnostics["trace_length"] = {{"min", lengths.min}, {"mean", lengths.mean}, {"max", lengths.max}};
  return json{{"ppxd", {{"version", ppxd_version()}, {"git_revision", ppxd_git_revision()}}},
              {"query",
               {{"command_line", p.command_line},
                {"engine", p.engine},
                {"options", p.options},
                {"model_name", p.model_name},
                {"observations", observations}}},
              {"interrupted", report.interrupted},
              {"diagnostics", diagnostics},
              {"warnings", report.warnings},
              {"variables", variables}};
}

std::string summary_text(const InferenceReport& report) {
  const engines::WeightedTraces& post = *report.posterior;
  std::string out;
  // Extra diagnostic columns, in a stable order, from whatever the engine reported.
  std::vector<std::string> extra;
  for (const auto& [name, values] : report.variable_diagnostics) {
    for (const auto& [key, value] : values) {
      if (std::find(extra.begin(), extra.end(), key) == extra.end()) extra.push_back(key);
    }
  }
  out += fmt::format("{:<20} {:>11} {:>11} {:>11} {:>11} {:>11}", "variable", "mean", "sd", "5%", "50%", "95%");
  for (const std::string& key : extra) out += fmt::format(" {:>9}", key);
  out += "\n";
  for (const std::string& name : summary_variables(post)) {
    const engines::VariableSummary s = post.summarize(name);
    out += fmt::format("{:<20} {:>11.5g} {:>11.5g} {:>11.5g} {:>11.5g} {:>11.5g}", name, s.mean, s.sd, s.q05, s.q50,
                       s.q95);
    for (const std::string& key : extra) {
      double v = std::nan("");
      if (auto it = report.variable_diagnostics.find(name); it != report.variable_diagnostics.end()) {
        if (auto jt = it->second.find(key); jt != it->second.end()) v = jt->second;
      }
      out += fmt::format(" {:>9.4g}", v);
    }
    out += "\n";
    if (s.discrete) {
      std::string line = "  top:";
      for (const auto& c : s.categories) line += fmt::format(" {:g} ({:.3f})", c.value, c.probability);
      out += line + "\n";
    }
  }
  out += "\n";
  for (const auto& [key, value] : report.diagnostics.items()) {
    if (value.is_number_float()) {
      out += fmt::format("{:<28} {:.6g}\n", key, value.get<double>());
    } else if (value.is_primitive()) {
      out += fmt::format("{:<28} {}\n", key, value.dump());
    }
  }
  const engines::TraceLengthStats lengths = post.trace_lengths();
  // Trace lengths are unknown (0) for rows read back from samples.csv (`ppx summary`).
  out += lengths.max == 0 ? fmt::format("{:<28} {}\n", "traces", post.size())
                          : fmt::format("{:<28} {} (min {}, mean {:.1f}, max {})\n", "traces", post.size(), lengths.min,
                                        lengths.mean, lengths.max);
  if (post.dropped() > 0) out += fmt::format("{:<28} {}\n", "dropped (non-finite weight)", post.dropped());
  if (report.interrupted) out += "INTERRUPTED: the result covers only the traces finished before the stop\n";
  for (const std::string& w : report.warnings) out += "WARNING: " + w + "\n";
  return out;
}

void write_file_atomically(const std::string& path, const std::string& content) {
  // A unique temp file in the same folder, fsync, rename over the target, fsync the folder.
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string temp = (folder / ("." + target.filename().string() + ".XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) throw std::runtime_error("cannot write in '" + folder.string() + "': " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(temp.c_str());
    throw std::runtime_error(what + " '" + path + "': " + why);
  };
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0) fail("cannot flush");
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    throw std::runtime_error("cannot close '" + path + "': " + std::strerror(errno));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(temp.c_str());
    throw std::runtime_error("cannot rename '" + temp + "' to '" + path + "': " + why);
  }
  if (const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);  // makes the rename itself durable
    ::close(dir);
  }
}

void write_report(const std::string& directory, const InferenceReport& report) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) throw std::runtime_error("cannot create '" + directory + "': " + ec.message());
  const engines::WeightedTraces& post = *report.posterior;

  const bool mcmc = report.chains;
  const std::vector<std::string> names = summary_variables(post);
  std::string csv = "log_weight";
  if (mcmc) csv += ",chain,draw";
  for (const std::string& n : names) csv += "," + n;
  csv += "\n";
  std::vector<const std::vector<double>*> columns;
  for (const std::string& n : names) columns.push_back(post.column(n));
  for (std::size_t row = 0; row < post.size(); ++row) {
    csv += csv_number(post.log_weights()[row]);
    if (mcmc) csv += fmt::format(",{},{}", post.chains()[row], post.draws()[row]);
    for (const auto* column : columns) csv += "," + csv_number((*column)[row]);
    csv += "\n";
  }
  write_file_atomically((fs::path(directory) / "samples.csv").string(), csv);
  write_file_atomically((fs::path(directory) / "posterior.json").string(), posterior_json(report).dump(2) + "\n");
}

}  // namespace ppx::server
