#pragma once
// Shared plumbing for the benchmarks: command-line options, timing loops, a raw ZeroMQ echo
// baseline, and an aligned table printer. Benchmarks are programs, not tests: they never assert
// on timings; they print each row next to a baseline measured in the same run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <vector>
#include <zmq.hpp>

namespace ppx::bench {

using Clock = std::chrono::steady_clock;

// Keeps the compiler from discarding a value computed only for timing.
template <typename T>
inline void do_not_optimize(const T& value) {
  asm volatile("" : : "r,m"(value) : "memory");
}

struct BenchOptions {
  int rounds = 10;       // every row is measured once per round, round-robin across the rows
  double slice = 0.2;    // seconds per measurement
  bool quick = false;
  bool verbose = false;     // print every slice of every row
  std::string echo_server;  // internal: serve the raw echo baseline on this endpoint and exit
  std::size_t echo_reply_bytes = 0;  // internal: with --echo-server, reply with this many bytes (0: echo)

  // Returns false when the program should exit with `exit_code` (help shown, or a bad option).
  bool parse(int argc, char** argv, const char* description, int& exit_code) {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) {
          std::cerr << argv[0] << ": " << arg << " needs a value\n";
          std::exit(2);
        }
        return argv[++i];
      };
      if (arg == "--quick") {
        quick = true;
        rounds = 1;
        slice = 0.05;
      } else if (arg == "--rounds") {
        rounds = std::max(1, std::stoi(value()));
      } else if (arg == "--slice") {
        slice = std::stod(value());
      } else if (arg == "--verbose") {
        verbose = true;
      } else if (arg == "--echo-server") {
        echo_server = value();
      } else if (arg == "--echo-reply-bytes") {
        echo_reply_bytes = std::stoul(value());
      } else if (arg == "-h" || arg == "--help") {
        std::cout << description << "\n\n"
                  << "Every row is measured in `rounds` slices, round-robin across the rows, so load from\n"
                  << "other processes hits all rows alike; a row shows the median of its slices and a ratio\n"
                  << "the median of the per-round ratios.\n\nOptions:\n"
                  << "  --quick        CI smoke check: 1 round of 0.05 s slices\n"
                  << "  --rounds R     rounds (default 10)\n"
                  << "  --slice S      seconds per measurement (default 0.2)\n"
                  << "  --verbose      print every slice of every row (us per operation)\n";
        exit_code = 0;
        return false;
      } else {
        std::cerr << argv[0] << ": unknown option " << arg << " (see --help)\n";
        exit_code = 2;
        return false;
      }
    }
    return true;
  }
};

inline double median(std::vector<double> values) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// printf-style formatting of one number.
inline std::string fmt(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

inline std::string ratio(double value) {
  return fmt(value >= 100 ? "%.0fx" : value >= 10 ? "%.1fx" : value >= 0.1 || value <= 0 ? "%.2fx" : "%.2gx", value);
}

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A timed row: `run(n)` performs n operations and returns the seconds they took. The first
// measurement warms up (run(min_ops), untimed) and calibrates n; later ones reuse the estimate, so
// the clock is read twice per slice.
struct Series {
  std::string label;
  std::function<double(std::uint64_t n)> run;
  std::uint64_t min_ops = 1;
  std::vector<double> per_op;  // seconds per operation, one per round
  double estimate = 0.0;

  void measure(double seconds) {
    if (estimate == 0.0) {
      (void)run(min_ops);
      std::uint64_t n = min_ops;
      while (true) {
        const double t = run(n);
        estimate = t / static_cast<double>(n);
        if (t >= std::min(0.02, seconds / 2) || n >= (std::uint64_t{1} << 40)) break;
        n *= 2;
      }
    }
    const auto n = std::max<std::uint64_t>(min_ops, static_cast<std::uint64_t>(seconds / estimate));
    const double t = run(n);
    estimate = t / static_cast<double>(n);
    per_op.push_back(estimate);
  }
  double seconds_per_op() const { return median(per_op); }
  double per_second() const { return 1.0 / median(per_op); }
};

// A Series::run for `op()`, one call per operation (a template, so no indirect call per op).
template <typename Op>
std::function<double(std::uint64_t)> loop(Op op) {
  return [op](std::uint64_t n) mutable {
    const auto start = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) op();
    return seconds_since(start);
  };
}

// Measures every series once per round, round-robin.
inline void run_rounds(const std::vector<Series*>& series, const BenchOptions& options) {
  for (int round = 0; round < options.rounds; ++round) {
    for (Series* s : series) s->measure(options.slice);
  }
  if (!options.verbose) return;
  for (const Series* s : series) {
    std::cout << s->label << " (us/op):";
    for (double t : s->per_op) std::cout << ' ' << fmt("%.3g", t * 1e6);
    std::cout << '\n';
  }
  std::cout << '\n';
}

// Median over rounds of a.per_op / b.per_op: a time ratio paired by round (load drifts cancel).
inline double paired_ratio(const Series& a, const Series& b) {
  std::vector<double> r;
  for (std::size_t i = 0; i < a.per_op.size() && i < b.per_op.size(); ++i) r.push_back(a.per_op[i] / b.per_op[i]);
  return median(r);
}

// ----- the raw ZeroMQ baseline: REQ/REP echo of a fixed payload -----

// How a side waits for a message: a blocking recv (the plain baseline), or poll with a timeout and
// then a non-blocking recv, which is what the shim's serve loop and RemoteSimulator do so that they
// can check stop flags and deadlines.
enum class Wait { Blocking, Poll };

// Receives one message the `wait` way; false after `timeout` without one.
inline bool receive(zmq::socket_t& socket, zmq::message_t& message, Wait wait, std::chrono::milliseconds timeout) {
  if (wait == Wait::Blocking) return socket.recv(message, zmq::recv_flags::none).has_value();
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) == 0) continue;
    if (socket.recv(message, zmq::recv_flags::dontwait)) return true;
  }
  return false;
}

// Serves an echo on `endpoint` until a zero-length request (answered, then returns) or
// `idle_timeout` without a request. Own context: like a separate program would have.
// `reply_bytes` > 0 answers every request with that many bytes instead of echoing it (a large
// request with a small reply, as a simulator's Observe and the engine's ObserveResult).
inline void serve_echo(const std::string& endpoint, std::chrono::milliseconds idle_timeout, Wait wait = Wait::Blocking,
                       std::size_t reply_bytes = 0) {
  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::rep);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, static_cast<int>(idle_timeout.count()));
  socket.bind(endpoint);
  while (true) {
    zmq::message_t request;
    if (!receive(socket, request, wait, idle_timeout)) return;
    const bool quit = request.size() == 0;
    if (reply_bytes > 0 && !quit) {
      socket.send(zmq::message_t(reply_bytes), zmq::send_flags::none);
    } else {
      socket.send(request, zmq::send_flags::none);
    }
    if (quit) return;
  }
}

// The client side of the echo baseline (own context, as the engine side would have).
// `reply_bytes`: the size the server answers with (0: the payload's, an echo).
class EchoClient {
 public:
  EchoClient(const std::string& endpoint, std::size_t payload_bytes, Wait wait = Wait::Blocking,
             std::size_t reply_bytes = 0)
      : socket_(context_, zmq::socket_type::req),
        payload_(payload_bytes, 0x5a),
        wait_(wait),
        reply_bytes_(reply_bytes > 0 ? reply_bytes : payload_bytes) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::rcvtimeo, 10'000);
    socket_.connect(endpoint);
  }
  // One round trip; throws if the echo does not come back.
  void round_trip() {
    socket_.send(zmq::buffer(payload_.data(), payload_.size()), zmq::send_flags::none);
    zmq::message_t reply;
    if (!receive(socket_, reply, wait_, std::chrono::seconds(10)) || reply.size() != reply_bytes_) {
      throw std::runtime_error("echo server did not answer");
    }
  }
  // Asks the server to stop.
  void quit() {
    socket_.send(zmq::message_t(), zmq::send_flags::none);
    zmq::message_t reply;
    (void)socket_.recv(reply, zmq::recv_flags::none);
  }

 private:
  zmq::context_t context_{1};
  zmq::socket_t socket_;
  std::vector<char> payload_;
  Wait wait_;
  std::size_t reply_bytes_;
};

// A free loopback TCP port (bound then released; fine on a quiet machine).
inline std::string free_tcp_endpoint() {
  zmq::context_t context(1);
  zmq::socket_t probe(context, zmq::socket_type::rep);
  probe.set(zmq::sockopt::linger, 0);
  probe.bind("tcp://127.0.0.1:*");
  std::string endpoint = probe.get(zmq::sockopt::last_endpoint);
  probe.unbind(endpoint);
  return endpoint;
}

// A private folder for ipc:// socket files, removed with everything in it when the run ends
// (ZeroMQ leaves the files of bound ipc sockets behind).
class SocketDir {
 public:
  SocketDir() : path_(std::filesystem::temp_directory_path() / ("ppx-bench-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~SocketDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  SocketDir(const SocketDir&) = delete;
  SocketDir& operator=(const SocketDir&) = delete;
  std::string endpoint(std::string_view name) const { return "ipc://" + (path_ / name).string(); }
  // The folder itself (also used for other scratch files of the run).
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// ----- output -----

// An aligned text table: first column left-aligned, the others right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out = std::cout) const {
    std::vector<std::size_t> width(header_.size(), 0);
    auto widen = [&](const std::vector<std::string>& row) {
      for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
    };
    widen(header_);
    for (const auto& row : rows_) widen(row);
    auto line = [&](const std::vector<std::string>& row) {
      std::string text;
      for (std::size_t i = 0; i < width.size(); ++i) {
        const std::string cell = i < row.size() ? row[i] : "";
        const std::string pad(width[i] - cell.size(), ' ');
        if (i > 0) text += "  ";
        text += i == 0 ? cell + pad : pad + cell;
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out << text << '\n';
    };
    line(header_);
    std::size_t total = 0;
    for (std::size_t w : width) total += w;
    out << std::string(total + 2 * (width.size() - 1), '-') << '\n';
    for (const auto& row : rows_) line(row);
  }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

inline std::string load_average() {
  std::ifstream loadavg("/proc/loadavg");
  std::string load1;
  loadavg >> load1;
  return load1;
}

// One line saying where the numbers came from.
inline void print_machine(const BenchOptions& options) {
  std::string model = "unknown CPU";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::cout << "machine: " << model << ", " << std::thread::hardware_concurrency() << " cores, load "
            << load_average()
            << "; " << options.rounds << " round(s) of " << options.slice << " s per row"
            << (options.quick ? " (--quick)" : "") << "\n\n";
}

// The shared main of every benchmark: parse the options, serve the echo baseline when re-executed
// as --echo-server (an idle echo exits after 15 minutes), otherwise run `bench`; errors exit 1.
inline int bench_main(int argc, char** argv, const char* name, const char* description,
                      const std::function<int(const BenchOptions&)>& bench) {
  BenchOptions options;
  int exit_code = 0;
  if (!options.parse(argc, argv, description, exit_code)) return exit_code;
  try {
    if (!options.echo_server.empty()) {
      serve_echo(options.echo_server, std::chrono::minutes(15), Wait::Blocking, options.echo_reply_bytes);
      return 0;
    }
    return bench(options);
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << '\n';
    return 1;
  }
}

}  // namespace ppx::bench
