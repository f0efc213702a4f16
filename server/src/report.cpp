#include "ppx/server/report.h"

#include "ppx/server/query_check.h"
#include "ppx/engines/diagnostics.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <algorithm>
#include <iterator>
#include <optional>
#include <fmt/format.h>
#include <fmt/ranges.h>
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

std::size_t column_position(const engines::WeightedTraces& post, std::string_view name) {
  return static_cast<std::size_t>(std::find(post.names().begin(), post.names().end(), name) - post.names().begin());
}

// A CSV header field, quoted (RFC 4180) when it holds a comma, quote or line break.
std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Shortest text that reads back to the same double.
std::string csv_number(double x) { return std::isnan(x) ? "" : fmt::format("{}", x); }

// One '#' line per fact; a value never spans lines.
std::string csv_comment_header(const InferenceReport& report) {
  const Provenance& p = report.provenance;
  const auto one_line = [](std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    std::replace(text.begin(), text.end(), '\r', ' ');
    return text;
  };
  std::string command;
  for (const std::string& arg : p.command_line) {
    const bool plain = !arg.empty() && arg.find_first_not_of(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@,+%") == std::string::npos;
    std::string quoted = arg;
    if (!plain) {
      quoted = "'";
      for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      quoted += "'";
    }
    command += (command.empty() ? "" : " ") + quoted;
  }
  std::string out;
  out += "# ppxd " + ppxd_version() + " (" + ppxd_git_revision() + ")\n";
  out += "# command: " + one_line(command) + "\n";
  out += "# engine: " + p.engine + "\n";
  out += "# model: " + one_line(p.model_name) + "\n";
  if (p.options.is_object() && p.options.contains("seed")) out += "# seed: " + p.options["seed"].dump() + "\n";
  out += "# options: " + p.options.dump() + "\n";
  for (const ObservationSource& o : p.observations) out += "# observe: " + o.name + "=" + one_line(o.text) + "\n";
  if (report.interrupted) out += "# interrupted: true\n";
  return out;
}

}  // namespace

bool natural_less(std::string_view a, std::string_view b) {
  std::size_t i = 0, j = 0;
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::string_view x = a.substr(i, ie - i), y = b.substr(j, je - j);
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size();
      if (x != y) return x < y;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::vector<std::string> summary_variables(const engines::WeightedTraces& posterior) {
  const auto rank = [&](std::size_t column) {
    const std::string& base = posterior.bases()[column];
    if (base == engines::kLogJointColumn) return 0;
    if (base == "result") return 3;
    return posterior.is_addressed(posterior.names()[column]) ? 2 : 1;
  };
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < posterior.names().size(); ++i) {
    if (posterior.bases()[i] != engines::kAcceptStatColumn) order.push_back(i);  // a sampler statistic
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    return natural_less(posterior.names()[a], posterior.names()[b]);
  });
  std::vector<std::string> names;
  for (std::size_t i : order) names.push_back(posterior.names()[i]);
  return names;
}

namespace {

// "<base>__<suffix>" and what follows the last "__" (instance, element indices) of an address
// column; nullopt when the column is not shaped like one.
std::optional<std::pair<std::string_view, std::string_view>> split_address(std::string_view column) {
  const auto last = column.rfind("__");
  if (last == std::string_view::npos || last == 0) return std::nullopt;
  return std::pair{column.substr(0, last), column.substr(last + 2)};
}

std::string label_stem(std::string_view key) {
  const auto suffix_at = key.rfind("__");
  std::string_view kind = suffix_at == std::string_view::npos ? std::string_view("sample") : key.substr(suffix_at + 2);
  kind = kind.substr(0, kind.find('('));  // "Categorical(len_probs:3)" -> "Categorical"
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : key) hash = (hash ^ c) * 1099511628211ull;
  return fmt::format("{}@{:06x}", kind, hash & 0xffffff);
}

}  // namespace

std::string address_label(std::string_view column) {
  const auto parts = split_address(column);
  if (!parts) return std::string(column);
  return label_stem(parts->first) + "." + std::string(parts->second);
}

std::map<std::string, std::string> display_names(const engines::WeightedTraces& posterior) {
  std::map<std::string, std::string> out;
  std::map<std::string, std::string> key_of_stem;  // label stem -> the address key that has it
  std::vector<std::string> clashing;
  for (const std::string& name : posterior.names()) {
    if (!posterior.is_addressed(name)) continue;
    const auto parts = split_address(name);
    if (!parts) continue;
    const std::string stem = label_stem(parts->first);
    const auto [it, fresh] = key_of_stem.emplace(stem, parts->first);
    if (!fresh && it->second != parts->first) clashing.push_back(stem);
  }
  for (const std::string& name : posterior.names()) {
    if (!posterior.is_addressed(name)) continue;
    const std::string label = address_label(name);
    const bool clash = std::any_of(clashing.begin(), clashing.end(), [&](const std::string& stem) {
      return label.starts_with(stem + ".");
    });
    out[name] = clash ? name : label;  // two addresses with one label: show the addresses
  }
  return out;
}

std::vector<double> accept_stat_by_chain(const engines::WeightedTraces& posterior) {
  const std::vector<double>* column = posterior.column(engines::kAcceptStatColumn);
  if (column == nullptr) return {};
  std::vector<double> sum, count;
  for (std::size_t row = 0; row < column->size(); ++row) {
    const double x = (*column)[row];
    if (std::isnan(x)) continue;
    const std::uint32_t chain = posterior.chains()[row];
    if (chain >= sum.size()) {
      sum.resize(chain + 1, 0.0);
      count.resize(chain + 1, 0.0);
    }
    sum[chain] += x;
    count[chain] += 1.0;
  }
  for (std::size_t c = 0; c < sum.size(); ++c) sum[c] = count[c] > 0 ? sum[c] / count[c] : std::nan("");
  return sum;
}

const engines::VariableSummary& summary_of(const InferenceReport& report, const std::string& name) {
  auto it = report.summary_cache.find(name);
  if (it == report.summary_cache.end()) it = report.summary_cache.emplace(name, report.posterior->summarize(name, 10)).first;
  return it->second;
}

json variable_json(const engines::VariableSummary& s, bool importance_weighted,
                   const std::map<std::string, double>* diagnostics, const std::string* note) {
  json v = {{"discrete", s.discrete}, {"present", number(s.present)}, {"mean", number(s.mean)},
            {"sd", number(s.sd)},     {"q05", number(s.q05)},         {"q50", number(s.q50)},
            {"q95", number(s.q95)}};
  if (s.discrete) {
    json categories = json::array();
    for (const auto& c : s.categories) categories.push_back({{"value", c.value}, {"probability", c.probability}});
    v["categories"] = categories;
  }
  if (importance_weighted) {
    v["ess"] = number(s.ess);
    if (!s.discrete) v["mcse_mean"] = number(s.mcse_mean);
  }
  if (diagnostics != nullptr) {
    for (const auto& [key, value] : *diagnostics) v[key] = number(value);
  }
  if (note != nullptr) v["note"] = *note;
  return v;
}

ChainDiagnostics diagnose_chains(const engines::WeightedTraces& post, std::size_t chain_count) {
  ChainDiagnostics out;
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;  // first name -> duplicates
  for (const std::string& name : summary_variables(post)) {
    const std::vector<double>& column = *post.column(name);
    auto same = std::find_if(groups.begin(), groups.end(), [&](const auto& g) {
      const std::vector<double>& other = *post.column(g.first);
      return std::equal(column.begin(), column.end(), other.begin(), other.end(),
                        [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); });
    });
    if (same != groups.end()) {
      same->second.push_back(name);
    } else {
      groups.push_back({name, {}});
    }
  }
  std::vector<std::pair<std::size_t, std::string>> warning_owner;  // warning index -> group's first name
  for (const std::string& name : summary_variables(post)) {
    const engines::ChainDraws draws = engines::chain_draws(post, name);
    bool some_missing = false, some_present = false;
    for (const auto& chain : draws) {
      for (double v : chain) (std::isnan(v) ? some_missing : some_present) = true;
    }
    const auto group = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == name; });
    const bool leader = group != groups.end();
    const auto warn = [&](std::string text) {
      if (!leader) return;
      warning_owner.emplace_back(out.warnings.size(), name);
      out.warnings.push_back(std::move(text));
    };
    if (some_missing && some_present) {
      out.variable_notes[name] = "absent from some draws: R-hat and ESS are not defined";
      warn(name + " is absent from some draws: its R-hat and ESS are not defined");
      continue;
    }
    const engines::VariableDiagnostics d = engines::diagnose(draws);
    out.variable_diagnostics[name] = {
        {"r_hat", d.r_hat}, {"ess_bulk", d.ess_bulk}, {"ess_tail", d.ess_tail}, {"mcse_mean", d.mcse_mean}};
    if (!d.problem.empty()) {
      out.variable_notes[name] = d.problem;
      warn(name + ": " + d.problem);
    }
    if (d.r_hat > 1.01 && std::isfinite(d.r_hat)) {
      warn(fmt::format("{}: R-hat {:.3f} > 1.01: the chains have not mixed; run longer", name, d.r_hat));
    }
    if (d.ess_bulk < 100.0 * static_cast<double>(chain_count)) {
      warn(fmt::format("{}: bulk ESS {:.0f} is below {:.0f} (100 per chain, {} chain{}); run longer", name, d.ess_bulk,
                       100.0 * static_cast<double>(chain_count), chain_count, chain_count == 1 ? "" : "s"));
    }
  }
  for (const auto& [index, name] : warning_owner) {
    const auto group = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == name; });
    if (!group->second.empty()) {
      out.warnings[index] += fmt::format(" (same draws: {})", fmt::join(group->second, ", "));
    }
  }
  return out;
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
  const std::map<std::string, std::string> labels = display_names(post);
  for (const std::string& name : summary_variables(post)) {
    const auto d = report.variable_diagnostics.find(name);
    const auto n = report.variable_notes.find(name);
    json& v = variables[name] = variable_json(summary_of(report, name), !report.chains,
                                              d != report.variable_diagnostics.end() ? &d->second : nullptr,
                                              n != report.variable_notes.end() ? &n->second : nullptr);
    if (const auto label = labels.find(name); label != labels.end()) {
      v["address"] = post.bases()[column_position(post, name)];
      v["label"] = label->second;
    }
  }
  json too_large = json::object();
  for (const auto& [name, shape] : post.too_large()) too_large[name] = {{"shape", shape}};
  const engines::TraceLengthStats lengths = post.trace_lengths();
  json diagnostics = report.diagnostics;
  diagnostics["traces"] = post.size();
  diagnostics["dropped_non_finite_weights"] = post.dropped();
  diagnostics["trace_length"] = {{"min", lengths.min}, {"mean", lengths.mean}, {"max", lengths.max}};
  if (const std::vector<double> by_chain = accept_stat_by_chain(post); !by_chain.empty()) {
    json means = json::array();
    for (double m : by_chain) means.push_back(number(m));
    diagnostics["accept_stat_mean_by_chain"] = means;  // kept draws only (burn-in excluded)
  }
  json out{{"ppxd", {{"version", ppxd_version()}, {"git_revision", ppxd_git_revision()}}},
           {"query",
            {{"command_line", p.command_line},
             {"engine", p.engine},
             {"options", p.options},
             {"model_name", p.model_name},
             {"observations", observations}}},
           {"interrupted", report.interrupted},
           {"failure", report.failure.empty() ? json(nullptr) : json(report.failure)},
           {"diagnostics", diagnostics},
           {"warnings", report.warnings},
           {"variables", variables},
           // What got columns: named variables only or every sample (unnamed ones by address), and
           // for names repeated within traces one column per instance or the last value.
           {"tabulation",
            {{"variables", post.tabulation().all_samples ? "all" : "named"},
             {"repeated", post.tabulation().repeated == engines::RepeatedNames::Last ? "last" : "instances"}}},
           // Names repeated within traces and values too large to tabulate.
           {"repeated_names", post.repeated()},
           {"not_tabulated", too_large}};
  return out;
}

namespace {

// Columns of one variable printed before the rest are collapsed into one line.
constexpr std::size_t kPrintedElements = 6;

std::string chains_table(const json& chains) {
  std::string out = fmt::format("{:<6} {:>11} {:>9} {:>27} {:>9}\n", "chain", "iterations", "kept",
                                "acceptance (incl. burn-in)", "reuse");
  for (const json& c : chains) {
    out += fmt::format("{:<6} {:>11} {:>9} {:>27.3f} {:>9.3f}\n", c.value("chain", 0), c.value("iterations", 0),
                       c.value("kept", 0), c.value("acceptance_rate", 0.0), c.value("reuse_fraction", 0.0));
  }
  return out;
}

}  // namespace

std::string summary_text(const InferenceReport& report) {
  const engines::WeightedTraces& post = *report.posterior;
  std::string out;
  // Extra diagnostic columns, in a stable order, from whatever the engine reported.
  std::vector<std::string> extra;
  if (!report.chains) extra.push_back("mcse_mean");  // from the weights (MCMC: from diagnostics)
  for (const auto& [name, values] : report.variable_diagnostics) {
    for (const auto& [key, value] : values) {
      if (std::find(extra.begin(), extra.end(), key) == extra.end()) extra.push_back(key);
    }
  }
  const std::vector<std::string> names = summary_variables(post);
  // Unnamed samples are shown by their short label (full addresses are in the files).
  const std::map<std::string, std::string> labels = display_names(post);
  const auto shown = [&](const std::string& name) -> const std::string& {
    const auto it = labels.find(name);
    return it == labels.end() ? name : it->second;
  };
  std::size_t width = 20;
  for (const std::string& name : names) width = std::max(width, shown(name).size());
  out += fmt::format("{:<{}} {:>11} {:>11} {:>11} {:>11} {:>11}", "variable", width, "mean", "sd", "5%", "50%", "95%");
  for (const std::string& key : extra) out += fmt::format(" {:>9}", key);
  out += "\n";
  // A variable with many columns (a [17, 3] result) shows its first ones and a line saying where
  // the rest are.
  std::map<std::string, std::size_t> columns_of;
  std::map<std::string, std::string> base_of, first_of, last_of;
  for (std::size_t i = 0; i < post.names().size(); ++i) base_of[post.names()[i]] = post.bases()[i];
  for (const std::string& name : names) {
    const std::string& base = base_of[name];
    if (columns_of[base]++ == 0) first_of[base] = name;
    last_of[base] = name;
  }
  std::map<std::string, std::size_t> printed;
  for (const std::string& name : names) {
    const std::string& base = base_of[name];
    const std::size_t count = columns_of[base];
    const std::size_t k = printed[base]++;
    if (count > kPrintedElements && k >= kPrintedElements - 1) {
      if (k == kPrintedElements - 1) {
        out += fmt::format("  ... {} columns of {} in all ({} to {}): every one is in posterior.json and samples.csv\n",
                           count, shown(base), shown(first_of[base]), shown(last_of[base]));
      }
      continue;
    }
    const engines::VariableSummary& s = summary_of(report, name);
    if (s.discrete) {  // probabilities of values, not a mean and sd
      out += fmt::format("{:<{}} {:>11} {:>11} {:>11.5g} {:>11.5g} {:>11.5g}", shown(name), width, "", "", s.q05, s.q50,
                         s.q95);
    } else {
      out += fmt::format("{:<{}} {:>11.5g} {:>11.5g} {:>11.5g} {:>11.5g} {:>11.5g}", shown(name), width, s.mean, s.sd,
                         s.q05, s.q50, s.q95);
    }
    for (const std::string& key : extra) {
      std::optional<double> v;
      if (!report.chains && key == "mcse_mean" && !s.discrete) v = s.mcse_mean;
      if (auto it = report.variable_diagnostics.find(name); it != report.variable_diagnostics.end()) {
        if (auto jt = it->second.find(key); jt != it->second.end()) v = jt->second;
      }
      out += v ? fmt::format(" {:>9.4g}", *v) : fmt::format(" {:>9}", "");  // blank: does not apply
    }
    out += "\n";
    if (s.discrete) {
      std::string line = "  P(value):";
      for (std::size_t i = 0; i < std::min<std::size_t>(s.categories.size(), 5); ++i) {
        line += fmt::format(" {:g}: {:.3f}", s.categories[i].value, s.categories[i].probability);
      }
      out += line + "\n";
    }
    if (s.present < 0.9995) out += fmt::format("  present in {:.1f}% of the posterior\n", 100.0 * s.present);
  }
  const bool last_only = post.tabulation().repeated == engines::RepeatedNames::Last;
  for (const std::string& name : post.repeated()) {
    out += last_only ? fmt::format("  {} repeats within traces: its last value in each trace (--repeated last)\n", name)
                     : fmt::format("  {} repeats within traces: one column per instance, {}.1, {}.2, ... in trace order "
                                   "(--repeated instances)\n", name, name, name);
  }
  if (!labels.empty()) {
    out += "  unnamed samples (--variables all): labelled KIND@HASH.INSTANCE, HASH from the address; the full "
           "addresses are the columns of posterior.json and samples.csv\n";
  }
  for (const auto& [name, shape] : post.too_large()) {
    std::size_t n = 1;
    for (int32_t d : shape) n *= static_cast<std::size_t>(std::max(d, 0));
    out += fmt::format("  {} (shape {}, {} elements) is too large to tabulate\n", name, shape_text(shape), n);
  }
  out += "\n";
  if (report.diagnostics.contains("chains") && report.diagnostics["chains"].is_array()) {
    out += chains_table(report.diagnostics["chains"]) + "\n";
  }
  for (const auto& [key, value] : report.diagnostics.items()) {
    if (value.is_number_float()) {
      out += fmt::format("{:<28} {:.6g}\n", key, value.get<double>());
    } else if (value.is_primitive()) {
      out += fmt::format("{:<28} {}\n", key, value.dump());
    }
  }
  if (const std::vector<double> by_chain = accept_stat_by_chain(post); !by_chain.empty()) {
    std::string means;
    for (double m : by_chain) means += fmt::format(" {:.3f}", m);
    out += fmt::format("{:<28}{} (mean per chain, kept draws)\n", engines::kAcceptStatColumn, means);
  }
  const engines::TraceLengthStats lengths = post.trace_lengths();
  // Trace lengths are unknown (0) for rows read back from samples.csv (`ppx summary`).
  out += lengths.max == 0 ? fmt::format("{:<28} {}\n", "traces", post.size())
                          : fmt::format("{:<28} {} (min {}, mean {:.1f}, max {})\n", "traces", post.size(), lengths.min,
                                        lengths.mean, lengths.max);
  if (post.dropped() > 0) out += fmt::format("{:<28} {}\n", "dropped (non-finite weight)", post.dropped());
  if (report.interrupted) out += "INTERRUPTED: the result covers only the traces finished before the stop\n";
  if (!report.failure.empty()) out += "FAILED: " + report.failure + "\n";
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

void check_output_folder(const std::string& directory) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) throw std::invalid_argument("--out '" + directory + "': cannot create it: " + ec.message());
  if (!fs::is_directory(directory, ec)) throw std::invalid_argument("--out '" + directory + "' is not a folder");
  std::string probe = (fs::path(directory) / ".ppx-write-check.XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) throw std::invalid_argument("--out '" + directory + "': cannot write in it: " + std::strerror(errno));
  ::close(fd);
  ::unlink(probe.c_str());
}

void write_report(const std::string& directory, const InferenceReport& report) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) throw std::runtime_error("cannot create '" + directory + "': " + ec.message());
  const engines::WeightedTraces& post = *report.posterior;

  const bool mcmc = report.chains;
  std::vector<std::string> names = summary_variables(post);
  if (post.column(engines::kAcceptStatColumn) != nullptr) {  // next to lp__, as CmdStan
    const auto lp = std::find(names.begin(), names.end(), engines::kLogJointColumn);
    names.insert(lp == names.end() ? names.begin() : lp + 1, std::string(engines::kAcceptStatColumn));
  }
  std::string csv = csv_comment_header(report);
  csv += "log_weight";
  if (mcmc) csv += ",chain,draw";
  for (const std::string& n : names) csv += "," + csv_field(n);
  csv += "\n";
  std::vector<const std::vector<double>*> columns;
  for (const std::string& n : names) columns.push_back(post.column(n));
  for (std::size_t row = 0; row < post.size(); ++row) {
    csv += csv_number(post.log_weights()[row]);
    if (mcmc) csv += fmt::format(",{},{}", post.chains()[row], post.draws()[row]);
    for (const auto* column : columns) {
      const double x = (*column)[row];
      csv += ',';
      if (!std::isnan(x)) fmt::format_to(std::back_inserter(csv), "{}", x);
    }
    csv += "\n";
  }
  write_file_atomically((fs::path(directory) / "samples.csv").string(), csv);
  write_file_atomically((fs::path(directory) / "posterior.json").string(), posterior_json(report).dump(2) + "\n");
}

}  // namespace ppx::server
