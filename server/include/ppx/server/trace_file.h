#pragma once
// Trace files: whole traces (every sample, observe and tag with its address, name, distribution,
// value and log_prob) written by `ppx prior/infer --save-traces FILE` and read back by
// `ppx summary` and by training code. The format (docs/trace-files.md) is a magic line, then
// records of [u64 JSON size][JSON object][u64 count][count float64]: the structure as JSON, every
// tensor's data as raw little-endian doubles, so a calorimeter costs 8 bytes per voxel and any
// language with a JSON parser and NumPy reads it (docs/read_traces.py). Record 0 is the header
// (format, version, provenance); each later record is one trace.
//
// Writers and readers are not thread-safe (one thread each). Errors throw std::runtime_error
// naming the file and the record; a reader checks every size against the file before allocating,
// so a damaged or hostile file is an error, never a crash or a huge allocation.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ppx/engines/trace.h"

namespace ppx::server {

inline constexpr int kTraceFileVersion = 1;

struct StoredTrace {
  engines::Trace trace;   // entries, result, log weight terms (run_time and counts are not stored)
  std::uint32_t chain = 0;  // MCMC chain (0 for IS and prior)
  std::uint64_t draw = 0;   // draw within the chain, or trace index
};

class TraceFileWriter {
 public:
  // Writes `path` + ".partial", renamed to `path` by close(); `header` (an object: provenance) is
  // stored in record 0 with "format" and "version" added.
  TraceFileWriter(const std::string& path, nlohmann::json header);
  ~TraceFileWriter();  // without close(), the partial file is removed
  TraceFileWriter(const TraceFileWriter&) = delete;
  TraceFileWriter& operator=(const TraceFileWriter&) = delete;

  void write(const engines::Trace& trace, std::uint32_t chain = 0, std::uint64_t draw = 0);
  void close();  // flush, fsync, rename: the file appears whole or not at all
  std::uint64_t traces_written() const { return written_; }

 private:
  void write_record(const nlohmann::json& record, const std::vector<double>& data);
  std::string path_;
  std::string partial_;
  std::FILE* file_ = nullptr;
  std::uint64_t written_ = 0;
};

class TraceFileReader {
 public:
  explicit TraceFileReader(const std::string& path);  // opens and reads the header
  ~TraceFileReader();
  TraceFileReader(const TraceFileReader&) = delete;
  TraceFileReader& operator=(const TraceFileReader&) = delete;

  const nlohmann::json& header() const { return header_; }
  // The next trace, or nullopt at the end of the file.
  std::optional<StoredTrace> next();

 private:
  bool read_record(nlohmann::json& record, std::vector<double>& data);  // false at a clean end
  std::string path_;
  std::FILE* file_ = nullptr;
  std::uint64_t size_ = 0;
  std::uint64_t record_ = 0;
  nlohmann::json header_;
};

// True when `path` starts with the trace-file magic line.
bool is_trace_file(const std::string& path);

}  // namespace ppx::server
