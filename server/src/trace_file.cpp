#include "ppx/server/trace_file.h"

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <unistd.h>

namespace ppx::server {

using nlohmann::json;

// The data blocks are raw doubles in the host's order; every platform we build on is little-endian.
static_assert(std::endian::native == std::endian::little, "trace files store little-endian doubles");

namespace {

constexpr std::string_view kMagic = "ppx-traces 1\n";
constexpr std::uint64_t kMaxJsonBytes = std::uint64_t{1} << 30;

// JSON has no inf/nan: non-finite numbers are the strings "inf", "-inf", "nan" (Python's float()
// reads them as they are).
json number(double x) {
  if (std::isfinite(x)) return x;
  return std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf");
}

double to_number(const json& j, const std::string& what) {
  if (j.is_number()) return j.get<double>();
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    if (s == "nan") return NAN;
  }
  throw std::invalid_argument(what + " is not a number");
}

SiteKind parse_kind(const std::string& name) {
  if (name == "sample") return SiteKind::Sample;
  if (name == "observe") return SiteKind::Observe;
  if (name == "tag") return SiteKind::Tag;
  throw std::invalid_argument("unknown entry kind '" + name + "'");
}

json put_tensor(const Tensor& t, std::vector<double>& data) {
  // An empty tensor (no value) is stored with shape [0], so shape always gives the element count.
  json j = {{"shape", t.empty() ? std::vector<std::int32_t>{0} : t.shape()}, {"offset", data.size()}};
  data.insert(data.end(), t.data().begin(), t.data().end());
  return j;
}

Tensor get_tensor(const json& j, const std::vector<double>& data) {
  if (!j.is_object() || !j.contains("shape") || !j.contains("offset")) throw std::invalid_argument("tensor without shape/offset");
  std::vector<std::int32_t> shape;
  std::uint64_t numel = 1;
  for (const json& d : j.at("shape")) {
    const auto n = d.get<std::int64_t>();
    if (n < 0 || n > std::int64_t{1} << 31) throw std::invalid_argument("bad tensor dimension");
    shape.push_back(static_cast<std::int32_t>(n));
    numel *= static_cast<std::uint64_t>(n);
    if (numel > data.size()) throw std::invalid_argument("tensor larger than its record's data");
  }
  const auto offset = j.at("offset").get<std::uint64_t>();
  if (offset > data.size() || numel > data.size() - offset) throw std::invalid_argument("tensor data out of range");
  std::vector<double> values(data.begin() + static_cast<std::ptrdiff_t>(offset),
                             data.begin() + static_cast<std::ptrdiff_t>(offset + numel));
  return Tensor(std::move(values), std::move(shape));
}

DistributionKind parse_distribution_kind(const std::string& name) {
  for (const DistributionInfo& d : all_distributions()) {
    if (d.name == name) return d.kind;
  }
  throw std::invalid_argument("unknown distribution '" + name + "'");
}

}  // namespace

TraceFileWriter::TraceFileWriter(const std::string& path, json header) : path_(path), partial_(path + ".partial") {
  if (!header.is_object()) header = json::object();
  if (const auto folder = std::filesystem::path(path).parent_path(); !folder.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);  // fopen below reports what went wrong
  }
  file_ = std::fopen(partial_.c_str(), "wb");
  if (file_ == nullptr) throw std::runtime_error("cannot write '" + partial_ + "': " + std::strerror(errno));
  if (std::fwrite(kMagic.data(), 1, kMagic.size(), file_) != kMagic.size()) {
    throw std::runtime_error("cannot write '" + partial_ + "': " + std::strerror(errno));
  }
  header["format"] = "ppx-traces";
  header["version"] = kTraceFileVersion;
  write_record(header, {});
}

TraceFileWriter::~TraceFileWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(partial_.c_str());
  }
}

void TraceFileWriter::write_record(const json& record, const std::vector<double>& data) {
  const std::string text = record.dump();
  const std::uint64_t text_size = text.size(), count = data.size();
  const bool ok = std::fwrite(&text_size, sizeof text_size, 1, file_) == 1 &&
                  std::fwrite(text.data(), 1, text.size(), file_) == text.size() &&
                  std::fwrite(&count, sizeof count, 1, file_) == 1 &&
                  (count == 0 || std::fwrite(data.data(), sizeof(double), count, file_) == count);
  if (!ok) throw std::runtime_error("cannot write '" + partial_ + "': " + std::strerror(errno));
}

void TraceFileWriter::write(const engines::Trace& trace, std::uint32_t chain, std::uint64_t draw) {
  if (file_ == nullptr) throw std::logic_error("trace file '" + path_ + "' is closed");
  std::vector<double> data;
  json entries = json::array();
  for (const engines::TraceEntry& e : trace.entries) {
    json j = {{"kind", site_kind_name(e.kind)}, {"address", e.address}, {"name", e.name},
              {"log_prob", number(e.log_prob)}, {"control", e.control}, {"observed", e.observed}};
    if (e.log_proposal) j["log_proposal"] = number(*e.log_proposal);
    if (e.distribution) {
      json parameters = json::array();
      for (const Tensor& p : e.distribution->parameters()) parameters.push_back(put_tensor(p, data));
      j["distribution"] = {{"type", e.distribution->name()}, {"parameters", parameters}};
    }
    if (!e.value.empty() || e.kind != SiteKind::Observe) j["value"] = put_tensor(e.value, data);
    entries.push_back(std::move(j));
  }
  const json record = {{"chain", chain},
                       {"draw", draw},
                       {"log_weight", number(trace.log_weight)},
                       {"log_likelihood", number(trace.log_likelihood)},
                       {"log_prior", number(trace.log_prior)},
                       {"result", put_tensor(trace.result, data)},
                       {"entries", entries}};
  write_record(record, data);
  ++written_;
}

void TraceFileWriter::close() {
  if (file_ == nullptr) return;
  const bool flushed = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    std::remove(partial_.c_str());
    throw std::runtime_error("cannot flush '" + partial_ + "': " + std::strerror(errno));
  }
  if (std::rename(partial_.c_str(), path_.c_str()) != 0) {
    throw std::runtime_error("cannot rename '" + partial_ + "' to '" + path_ + "': " + std::strerror(errno));
  }
}

TraceFileReader::TraceFileReader(const std::string& path) : path_(path) {
  std::error_code ec;
  size_ = std::filesystem::file_size(path, ec);
  if (ec) throw std::runtime_error("cannot read '" + path + "': " + ec.message());
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) throw std::runtime_error("cannot read '" + path + "': " + std::strerror(errno));
  std::string magic(kMagic.size(), '\0');
  if (std::fread(magic.data(), 1, magic.size(), file_) != magic.size() || magic != kMagic) {
    std::fclose(file_);
    throw std::runtime_error("'" + path + "' is not a ppx trace file (version " + std::to_string(kTraceFileVersion) + ")");
  }
  std::vector<double> data;
  try {
    if (!read_record(header_, data) || !header_.is_object() || header_.value("format", "") != "ppx-traces") {
      throw std::runtime_error("'" + path + "': no trace-file header");
    }
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

TraceFileReader::~TraceFileReader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool TraceFileReader::read_record(json& record, std::vector<double>& data) {
  const auto where = [&] { return "'" + path_ + "', record " + std::to_string(record_); };
  const auto remaining = [&] {
    const long at = std::ftell(file_);
    return at < 0 ? std::uint64_t{0} : size_ - static_cast<std::uint64_t>(at);
  };
  std::uint64_t text_size = 0;
  const std::size_t got = std::fread(&text_size, 1, sizeof text_size, file_);
  if (got == 0 && std::feof(file_)) return false;
  if (got != sizeof text_size) throw std::runtime_error(where() + ": truncated");
  if (text_size > kMaxJsonBytes || text_size > remaining()) throw std::runtime_error(where() + ": record size out of range");
  std::string text(text_size, '\0');
  std::uint64_t count = 0;
  if (std::fread(text.data(), 1, text.size(), file_) != text.size() || std::fread(&count, sizeof count, 1, file_) != 1) {
    throw std::runtime_error(where() + ": truncated");
  }
  if (count > remaining() / sizeof(double)) throw std::runtime_error(where() + ": data size out of range");
  data.resize(count);
  if (count > 0 && std::fread(data.data(), sizeof(double), count, file_) != count) {
    throw std::runtime_error(where() + ": truncated");
  }
  record = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) throw std::runtime_error(where() + ": not JSON");
  ++record_;
  return true;
}

std::optional<StoredTrace> TraceFileReader::next() {
  json record;
  std::vector<double> data;
  if (!read_record(record, data)) return std::nullopt;
  try {
    StoredTrace stored;
    engines::Trace& t = stored.trace;
    stored.chain = record.at("chain").get<std::uint32_t>();
    stored.draw = record.at("draw").get<std::uint64_t>();
    t.log_weight = to_number(record.at("log_weight"), "log_weight");
    t.log_likelihood = to_number(record.at("log_likelihood"), "log_likelihood");
    t.log_prior = to_number(record.at("log_prior"), "log_prior");
    t.result = get_tensor(record.at("result"), data);
    for (const json& j : record.at("entries")) {
      engines::TraceEntry e;
      e.kind = parse_kind(j.at("kind").get<std::string>());
      e.address = j.at("address").get<std::string>();
      e.name = j.at("name").get<std::string>();
      e.log_prob = to_number(j.at("log_prob"), "log_prob");
      e.control = j.at("control").get<bool>();
      e.observed = j.at("observed").get<bool>();
      if (j.contains("log_proposal")) e.log_proposal = to_number(j["log_proposal"], "log_proposal");
      if (j.contains("distribution")) {
        const json& d = j["distribution"];
        std::vector<Tensor> parameters;
        for (const json& p : d.at("parameters")) parameters.push_back(get_tensor(p, data));
        e.distribution.emplace(parse_distribution_kind(d.at("type").get<std::string>()), std::move(parameters));
        e.discrete = e.distribution->is_discrete();
      }
      if (j.contains("value")) e.value = get_tensor(j["value"], data);
      if (e.kind == SiteKind::Sample && !e.observed) ++t.samples;
      if (e.kind == SiteKind::Observe && !e.observed) ++t.unconditioned_observes;
      t.entries.push_back(std::move(e));
    }
    return stored;
  } catch (const std::exception& e) {  // json type errors, invalid distributions, bad tensors
    throw std::runtime_error("'" + path_ + "', record " + std::to_string(record_ - 1) + ": " + e.what());
  }
}

bool is_trace_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  std::string magic(kMagic.size(), '\0');
  const bool match = std::fread(magic.data(), 1, magic.size(), f) == magic.size() && magic == kMagic;
  std::fclose(f);
  return match;
}

}  // namespace ppx::server
