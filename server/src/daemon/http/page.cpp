// GET /: one self-contained page (no scripts or styles from elsewhere). The job list refreshes
// itself from /v1/queries; a finished job's summary and plots are drawn here, as inline SVG.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "routes.h"

namespace ppx::daemon {

using nlohmann::json;

namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(const json& v) {
  if (!v.is_number()) return "&ndash;";
  return fmt::format("{:.4g}", v.get<double>());
}

// samples.csv as columns (empty cells are NaN).
std::map<std::string, std::vector<double>> read_csv(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> names;
  std::map<std::string, std::vector<double>> columns;
  if (!std::getline(in, line)) return columns;
  for (std::size_t start = 0;;) {
    const std::size_t comma = line.find(',', start);
    names.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  while (std::getline(in, line)) {
    std::size_t start = 0;
    for (const std::string& name : names) {
      const std::size_t comma = line.find(',', start);
      const std::string cell = line.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      columns[name].push_back(cell.empty() ? std::numeric_limits<double>::quiet_NaN() : std::strtod(cell.c_str(), nullptr));
      start = comma == std::string::npos ? line.size() : comma + 1;
    }
  }
  return columns;
}

constexpr double kWidth = 360, kHeight = 160, kPad = 28;

std::string svg_open(const std::string& title) {
  return fmt::format(R"(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img">)"
                     R"(<title>{}</title><rect width="100%" height="100%" fill="#fff"/>)"
                     R"(<text x="{}" y="14" font-size="12" font-family="sans-serif">{}</text>)",
                     kWidth, kHeight, kWidth, kHeight, escape(title), kPad, escape(title));
}

std::string axis_labels(double lo, double hi) {
  return fmt::format(R"(<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="#444"/>)"
                     R"(<text x="{0}" y="{3}" font-size="10" font-family="sans-serif">{4:.4g}</text>)"
                     R"(<text x="{2}" y="{3}" font-size="10" font-family="sans-serif" text-anchor="end">{5:.4g}</text>)",
                     kPad, kHeight - kPad, kWidth - kPad, kHeight - kPad + 14, lo, hi);
}

// Bars at x positions `centers` with heights `heights` (already normalised to [0, 1]).
std::string bars(const std::vector<double>& heights, double bar_width, const std::vector<double>& xs) {
  std::string out;
  const double plot_h = kHeight - 2 * kPad - 4;
  for (std::size_t i = 0; i < heights.size(); ++i) {
    const double h = heights[i] * plot_h;
    out += fmt::format(R"(<rect class="bar" x="{:.2f}" y="{:.2f}" width="{:.2f}" height="{:.2f}" fill="#4a7ab5"/>)", xs[i],
                       kHeight - kPad - h, std::max(1.0, bar_width - 1), h);
  }
  return out;
}

std::string histogram_svg(const std::string& name, const std::vector<double>& values, const std::vector<double>& weights) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (std::isfinite(values[i]) && weights[i] > 0) lo = std::min(lo, values[i]), hi = std::max(hi, values[i]);
  }
  std::string out = svg_open(name + " (weighted histogram)");
  if (!(hi >= lo)) return out + "</svg>";
  if (hi == lo) hi = lo + 1;
  constexpr int kBins = 40;
  std::vector<double> mass(kBins, 0.0);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i]) || weights[i] <= 0) continue;
    const int b = std::min(kBins - 1, static_cast<int>((values[i] - lo) / (hi - lo) * kBins));
    mass[b] += weights[i];
  }
  const double top = *std::max_element(mass.begin(), mass.end());
  const double w = (kWidth - 2 * kPad) / kBins;
  std::vector<double> xs, hs;
  for (int b = 0; b < kBins; ++b) xs.push_back(kPad + b * w), hs.push_back(top > 0 ? mass[b] / top : 0);
  return out + bars(hs, w, xs) + axis_labels(lo, hi) + "</svg>";
}

std::string categories_svg(const std::string& name, const json& categories) {
  std::string out = svg_open(name + " (posterior probability, top values)");
  const std::size_t n = categories.size();
  if (n == 0) return out + "</svg>";
  const double w = (kWidth - 2 * kPad) / static_cast<double>(n);
  std::vector<double> xs, hs;
  for (std::size_t i = 0; i < n; ++i) {
    xs.push_back(kPad + i * w);
    hs.push_back(categories[i].value("probability", 0.0));
    out += fmt::format(R"(<text x="{:.1f}" y="{}" font-size="9" font-family="sans-serif" text-anchor="middle">{:g}</text>)",
                       kPad + (i + 0.5) * w, kHeight - kPad + 12, categories[i].value("value", 0.0));
  }
  return out + bars(hs, w, xs) + "</svg>";
}

std::string trace_svg(const std::string& name, const std::vector<double>& values, const std::vector<double>& chains) {
  std::string out = svg_open(name + " (trace per chain)");
  std::map<long, std::vector<double>> by_chain;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) continue;
    by_chain[static_cast<long>(chains[i])].push_back(values[i]);
    lo = std::min(lo, values[i]), hi = std::max(hi, values[i]);
  }
  if (by_chain.empty()) return out + "</svg>";
  if (hi == lo) hi = lo + 1;
  static const char* colours[] = {"#4a7ab5", "#d9822b", "#3a9a5b", "#b5404a", "#7a5ab5", "#5a5a5a"};
  std::size_t c = 0;
  for (const auto& [chain, v] : by_chain) {
    std::string points;
    // At most 500 points per chain: the picture, not the data.
    const std::size_t step = std::max<std::size_t>(1, v.size() / 500);
    for (std::size_t i = 0; i < v.size(); i += step) {
      const double x = kPad + (kWidth - 2 * kPad) * static_cast<double>(i) / std::max<std::size_t>(1, v.size() - 1);
      const double y = kHeight - kPad - (kHeight - 2 * kPad - 4) * (v[i] - lo) / (hi - lo);
      points += fmt::format("{:.1f},{:.1f} ", x, y);
    }
    out += fmt::format(R"(<polyline fill="none" stroke-width="1" stroke="{}" points="{}"/>)", colours[c++ % 6], points);
  }
  return out + axis_labels(lo, hi) + "</svg>";
}

const char* kStyle = R"(body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}
td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}.bar-bg{background:#eee;width:120px;height:10px}
.bar-fg{background:#4a7ab5;height:10px}.plots svg{margin:4px;border:1px solid #eee}code{background:#f4f4f4})";

// Refreshes the state and progress cells from the API; no library, no other origin.
const char* kScript = R"(const token=new URLSearchParams(location.search).get('token');
async function refresh(){try{const r=await fetch('/v1/queries',{headers:token?{Authorization:'Bearer '+token}:{}});
if(!r.ok)return;for(const j of await r.json()){const row=document.getElementById('job-'+j.id);if(!row)continue;
const p=j.progress||{};const f=p.total?p.done/p.total:0;row.querySelector('.state').textContent=j.state;
row.querySelector('.done').textContent=(p.done||0)+' / '+(p.total||0);row.querySelector('.bar-fg').style.width=(100*f)+'%';}}
catch(e){}}setInterval(refresh,2000);)";

}  // namespace

std::string variable_svg(const InferenceService& service, const std::string& id, const std::string& variable) {
  const json job = service.status(id);
  const json summary = job.value("summary", json::object());
  const bool trace = variable.ends_with(".trace");
  const std::string name = trace ? variable.substr(0, variable.size() - 6) : variable;
  const json vars = summary.value("variables", json::object());
  if (!vars.contains(name)) throw ServiceError(ErrorCode::NotFound, "query " + id + " has no variable '" + name + "'");
  if (!trace && vars[name].value("discrete", false)) return categories_svg(name, vars[name].value("categories", json::array()));
  auto columns = read_csv(service.results(id, "csv").body);
  const std::vector<double>& values = columns[name];
  if (trace) return trace_svg(name, values, columns.count("chain") ? columns["chain"] : std::vector<double>(values.size(), 0));
  const std::vector<double>& lw = columns["log_weight"];
  double top = -std::numeric_limits<double>::infinity();
  for (double x : lw) top = std::max(top, x);
  std::vector<double> weights;
  for (double x : lw) weights.push_back(std::isfinite(top) ? std::exp(x - top) : 0.0);
  return histogram_svg(name, values, weights);
}

std::string page_html(const InferenceService& service, const std::string& token) {
  const json jobs = service.list();
  std::string html = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ppxd</title><style>";
  html += kStyle;
  html += "</style></head><body><h1>ppxd</h1><h2>Models</h2><ul>";
  for (const json& m : service.models()) {
    html += fmt::format("<li><code>{}</code>: {} simulators</li>", escape(m.value("name", "")), m.value("simulators", 0));
  }
  html += "</ul><h2>Queries</h2><table id=\"jobs\"><tr><th>id</th><th>model</th><th>engine</th><th>state</th>"
          "<th>traces</th><th>progress</th></tr>";
  std::string latest_finished;
  for (const json& j : jobs) {
    const json p = j.value("progress", json::object());
    const double total = p.value("total", 0.0), done = p.value("done", 0.0);
    const std::string id = j.value("id", "");
    html += fmt::format(
        "<tr id=\"job-{0}\"><td><code>{0}</code></td><td>{1}</td><td>{2}</td><td class=\"state\">{3}</td>"
        "<td class=\"done\">{4} / {5}</td><td><div class=\"bar-bg\"><div class=\"bar-fg\" style=\"width:{6:.0f}%\">"
        "</div></div></td></tr>",
        escape(id), escape(j.value("model", "")), escape(j.value("engine", "")), escape(j.value("state", "")), done, total,
        total > 0 ? 100 * done / total : 0.0);
    if (j.value("has_result", false)) latest_finished = id;
  }
  html += "</table>";
  if (!latest_finished.empty()) {
    const json job = service.status(latest_finished);
    const json summary = job.value("summary", json::object());
    const json vars = summary.value("variables", json::object());
    const bool chains = summary.value("chains", false);
    html += fmt::format("<h2 id=\"result\">Posterior of query <code>{}</code> ({})</h2>", escape(latest_finished),
                        escape(job.value("state", "")));
    html += "<table id=\"summary\"><tr><th>variable</th><th>mean</th><th>sd</th><th>5%</th><th>50%</th><th>95%</th>"
            "<th>ESS bulk</th><th>R-hat</th></tr>";
    for (const auto& [name, v] : vars.items()) {
      html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                          escape(name), num(v.value("mean", json())), num(v.value("sd", json())), num(v.value("q05", json())),
                          num(v.value("q50", json())), num(v.value("q95", json())), num(v.value("ess_bulk", json())),
                          num(v.value("r_hat", json())));
    }
    html += "</table>";
    const json d = summary.value("diagnostics", json::object());
    html += fmt::format("<p>traces {} &middot; ESS {} &middot; log evidence {}</p>", num(d.value("traces", json())),
                        num(d.value("ess", json())), num(d.value("log_evidence", json())));
    for (const json& w : summary.value("warnings", json::array())) html += "<p class=\"warning\">&#9888; " + escape(w.get<std::string>()) + "</p>";
    html += "<div class=\"plots\">";
    for (const auto& [name, v] : vars.items()) {
      try {
        html += variable_svg(service, latest_finished, name);
        if (chains) html += variable_svg(service, latest_finished, name + ".trace");
      } catch (const std::exception& e) {
        html += "<p>" + escape(name) + ": no plot (" + escape(e.what()) + ")</p>";
      }
    }
    html += "</div>";
  }
  (void)token;
  html += "<script>";
  html += kScript;
  html += "</script></body></html>";
  return html;
}

}  // namespace ppx::daemon
