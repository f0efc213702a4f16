#include "netcdf_writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <limits>
#include <map>
#include <mutex>
#include <netcdf.h>
#include <stdexcept>
#include <unistd.h>

namespace ppx::daemon {
namespace {

void check(int status, const std::string& what) {
  if (status != NC_NOERR) throw std::runtime_error("writing NetCDF (" + what + "): " + nc_strerror(status));
}

void text_attribute(int group, const std::string& name, const std::string& value) {
  check(nc_put_att_text(group, NC_GLOBAL, name.c_str(), value.size(), value.c_str()), "attribute " + name);
}

// NetCDF names: letters, digits, '_', '.', '-' (ppx names are already like this; be safe).
std::string nc_name(const std::string& name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-') ? c : '_';
  if (out.empty() || !std::isalpha(static_cast<unsigned char>(out[0]))) out = "v_" + out;
  return out;
}

// Closes the file whatever happens.
struct File {
  int id = -1;
  ~File() {
    if (id >= 0) nc_close(id);
  }
};

// chain x draw layout of the posterior's rows (row index per cell, -1 where a chain is short).
struct Layout {
  std::size_t chains = 1, draws = 0;
  std::vector<long> rows;
};

Layout layout_of(const engines::WeightedTraces& post, bool chains) {
  Layout l;
  if (!chains) {
    l.draws = post.size();
    for (std::size_t i = 0; i < post.size(); ++i) l.rows.push_back(static_cast<long>(i));
    return l;
  }
  std::map<std::uint32_t, std::vector<std::size_t>> by_chain;
  for (std::size_t i = 0; i < post.size(); ++i) by_chain[post.chains()[i]].push_back(i);
  l.chains = std::max<std::size_t>(1, by_chain.size());
  for (auto& [chain, rows] : by_chain) {
    std::sort(rows.begin(), rows.end(), [&](std::size_t a, std::size_t b) { return post.draws()[a] < post.draws()[b]; });
    l.draws = std::max(l.draws, rows.size());
  }
  l.rows.assign(l.chains * l.draws, -1);
  std::size_t c = 0;
  for (auto& [chain, rows] : by_chain) {
    for (std::size_t d = 0; d < rows.size(); ++d) l.rows[c * l.draws + d] = static_cast<long>(rows[d]);
    ++c;
  }
  return l;
}

void put_provenance(int group, const server::InferenceReport& report) {
  char created[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  text_attribute(group, "created_at", created);
  text_attribute(group, "inference_library", "ppxd");
  text_attribute(group, "inference_library_version", server::ppxd_version());
  text_attribute(group, "ppxd_git_revision", server::ppxd_git_revision());
  text_attribute(group, "engine", report.provenance.engine);
  text_attribute(group, "model_name", report.provenance.model_name);
  text_attribute(group, "options", report.provenance.options.dump());
  text_attribute(group, "interrupted", report.interrupted ? "true" : "false");
}

// A (chain, draw) group with coordinate variables; returns the two dimension ids.
std::pair<int, int> chain_draw_group(int file, const char* name, const Layout& l, int& group) {
  check(nc_def_grp(file, name, &group), name);
  int chain_dim = 0, draw_dim = 0, chain_var = 0, draw_var = 0;
  check(nc_def_dim(group, "chain", l.chains, &chain_dim), "chain");
  check(nc_def_dim(group, "draw", l.draws, &draw_dim), "draw");
  check(nc_def_var(group, "chain", NC_INT64, 1, &chain_dim, &chain_var), "chain");
  check(nc_def_var(group, "draw", NC_INT64, 1, &draw_dim, &draw_var), "draw");
  std::vector<long long> chains(l.chains), draws(l.draws);
  for (std::size_t i = 0; i < l.chains; ++i) chains[i] = static_cast<long long>(i);
  for (std::size_t i = 0; i < l.draws; ++i) draws[i] = static_cast<long long>(i);
  check(nc_put_var_longlong(group, chain_var, chains.data()), "chain");
  if (l.draws > 0) check(nc_put_var_longlong(group, draw_var, draws.data()), "draw");
  return {chain_dim, draw_dim};
}

void put_chain_draw(int group, std::pair<int, int> dims, const std::string& name, const std::vector<double>& column,
                    const Layout& l) {
  int var = 0;
  const int d[2] = {dims.first, dims.second};
  check(nc_def_var(group, nc_name(name).c_str(), NC_DOUBLE, 2, d, &var), name);
  std::vector<double> values(l.rows.size(), std::numeric_limits<double>::quiet_NaN());
  for (std::size_t i = 0; i < l.rows.size(); ++i) {
    if (l.rows[i] >= 0) values[i] = column[static_cast<std::size_t>(l.rows[i])];
  }
  if (!values.empty()) check(nc_put_var_double(group, var, values.data()), name);
}

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error("cannot reopen " + path + " to sync it");
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error("cannot sync " + path);
}

}  // namespace

void write_netcdf(const std::string& path, const server::InferenceReport& report) {
  const engines::WeightedTraces& post = *report.posterior;
  const std::string temp = path + ".partial";
  // libnetcdf (and the HDF5 under it, as Debian builds it) is not thread-safe: one writer at a time.
  static std::mutex netcdf_mutex;
  std::lock_guard lock(netcdf_mutex);
  {
    File file;
    check(nc_create(temp.c_str(), NC_NETCDF4 | NC_CLOBBER, &file.id), temp);
    put_provenance(file.id, report);
    const Layout l = layout_of(post, report.chains);

    int posterior = 0;
    const auto pdims = chain_draw_group(file.id, "posterior", l, posterior);
    put_provenance(posterior, report);
    for (const std::string& name : server::summary_variables(post)) {
      put_chain_draw(posterior, pdims, name, *post.column(name), l);
    }

    int stats = 0;
    const auto sdims = chain_draw_group(file.id, "sample_stats", l, stats);
    put_provenance(stats, report);
    put_chain_draw(stats, sdims, "log_weight", post.log_weights(), l);
    // MCMC: ArviZ's names for the sampler columns, when the results carry them.
    if (report.chains) {
      for (const auto& [column, name] : {std::pair{"lp__", "lp"}, std::pair{"accept_stat__", "acceptance"}}) {
        if (const std::vector<double>* values = post.column(column)) put_chain_draw(stats, sdims, name, *values, l);
      }
    }

    int observed = 0;
    check(nc_def_grp(file.id, "observed_data", &observed), "observed_data");
    put_provenance(observed, report);
    if (report.provenance.observed != nullptr) {
      for (const auto& [name, tensor] : *report.provenance.observed) {
        const std::string n = nc_name(name);
        std::vector<int> dims;
        for (std::size_t k = 0; k < tensor.shape().size(); ++k) {
          int dim = 0;
          check(nc_def_dim(observed, (n + "_dim_" + std::to_string(k)).c_str(),
                           static_cast<std::size_t>(tensor.shape()[k]), &dim), name);
          dims.push_back(dim);
        }
        int var = 0;
        check(nc_def_var(observed, n.c_str(), NC_DOUBLE, static_cast<int>(dims.size()), dims.data(), &var), name);
        if (tensor.numel() > 0) check(nc_put_var_double(observed, var, tensor.data().data()), name);
      }
    }
    check(nc_close(file.id), "close");
    file.id = -1;
  }
  fsync_path(temp);
  if (std::rename(temp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + temp + " to " + path);
}

}  // namespace ppx::daemon
