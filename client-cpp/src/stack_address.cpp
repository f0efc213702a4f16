// Stack addresses: libunwind reads the return addresses (unw_backtrace: its fast path caches the
// unwind rule of each address, far cheaper than libgcc's _Unwind_Backtrace per frame), dladdr names
// the module, libbacktrace (GCC's, from the ELF symbol table) names the symbol, and a trie over
// return addresses caches every resolved chain.
#include "ppx/stack_address.h"

#include <backtrace.h>
#include <cxxabi.h>
#include <dlfcn.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <unordered_map>

namespace ppx {
namespace {

thread_local const std::string* scoped_draw_address = nullptr;

// One process-wide symbol reader (libbacktrace is thread-safe when created with threaded = 1).
// Errors (no symbol table, unreadable file) are ignored: the frame degrades to module+offset.
backtrace_state* symbol_reader() {
  static backtrace_state* const state = backtrace_create_state(
      nullptr, /*threaded=*/1, [](void*, const char*, int) {}, nullptr);
  return state;
}

struct Symbol {
  std::string name;          // demangled; "" when unknown
  std::uintptr_t start = 0;
};

Symbol symbol_at(std::uintptr_t pc) {
  Symbol symbol;
  if (backtrace_state* state = symbol_reader()) {
    backtrace_syminfo(
        state, pc,
        [](void* data, std::uintptr_t, const char* name, std::uintptr_t value, std::uintptr_t) {
          if (name == nullptr) return;
          auto* out = static_cast<Symbol*>(data);
          int status = -1;
          char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
          out->name = (status == 0 && demangled != nullptr) ? demangled : name;
          std::free(demangled);
          out->start = value;
        },
        [](void*, const char*, int) {}, &symbol);
  }
  return symbol;
}

std::string hex(std::uintptr_t value) {
  char text[2 + 2 * sizeof(value) + 1];
  std::snprintf(text, sizeof text, "0x%jx", static_cast<std::uintmax_t>(value));
  return text;
}

struct Frame {
  std::string module;  // file name without directories
  Symbol symbol;
  std::uintptr_t module_offset = 0;
};

// `return_address` is where the frame resumes; the call is the instruction before it, which is what
// is looked up (a call can be a function's last instruction).
Frame describe(std::uintptr_t return_address) {
  Frame frame;
  const std::uintptr_t pc = return_address - 1;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) != 0) {
    std::string_view path = info.dli_fname != nullptr ? info.dli_fname : "";
    if (auto slash = path.find_last_of('/'); slash != std::string_view::npos) path.remove_prefix(slash + 1);
    frame.module = path;
    frame.module_offset = return_address - reinterpret_cast<std::uintptr_t>(info.dli_fbase);
  }
  if (frame.module.empty()) frame.module = "?";
  frame.symbol = symbol_at(pc);
  if (!frame.symbol.name.empty() && frame.symbol.start > pc) frame.symbol = {};
  return frame;
}

bool starts_with_any(std::string_view text, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes) {
    if (text.starts_with(p)) return true;
  }
  return false;
}

bool is_ppx_frame(const Frame& f) { return f.symbol.name.starts_with("ppx::"); }
bool is_model_entry(const Frame& f) { return f.symbol.name.starts_with("ppx::Model::run("); }

}  // namespace

void StackAddressOptions::validate() const {
  if (depth == 0) throw std::invalid_argument("stack address depth must be at least 1");
  if (max_frames == 0 || max_frames > 4096) throw std::invalid_argument("stack address max_frames must be 1..4096");
  if (depth > max_frames) throw std::invalid_argument("stack address depth exceeds max_frames");
  for (const auto* filters : {&skip_symbols, &skip_modules}) {
    for (const std::string& f : *filters) {
      if (f.empty()) throw std::invalid_argument("stack address filters must not be empty strings");
    }
  }
}

// A trie over return addresses, root = the innermost frame. A node is `terminal` when the chain of
// return addresses from the root to it decides the address (the resolution stopped there); a
// look-up that reaches a terminal node is done.
struct StackAddresser::Cache {
  struct Node {
    bool terminal = false;
    std::string address;
  };
  struct Edge {
    std::uint32_t parent;
    std::uintptr_t return_address;
    bool operator==(const Edge&) const = default;
  };
  struct EdgeHash {
    std::size_t operator()(const Edge& e) const noexcept {
      return (static_cast<std::size_t>(e.return_address) ^ (static_cast<std::size_t>(e.parent) << 40)) *
             0x9e3779b97f4a7c15ull;
    }
  };
  std::vector<Node> nodes{Node{}};  // nodes[0]: the root (no frame yet)
  std::unordered_map<Edge, std::uint32_t, EdgeHash> children;
  std::size_t chains = 0;
};

StackAddresser::StackAddresser(StackAddressOptions options)
    : options_(std::move(options)), cache_(std::make_unique<Cache>()) {
  options_.validate();
}
StackAddresser::~StackAddresser() = default;
StackAddresser::StackAddresser(StackAddresser&&) noexcept = default;
StackAddresser& StackAddresser::operator=(StackAddresser&&) noexcept = default;

std::size_t StackAddresser::cached_chains() const { return cache_->chains; }

std::string_view StackAddresser::address() {
  thread_local std::vector<void*> frames;
  if (frames.size() < options_.max_frames) frames.resize(options_.max_frames);
  const int depth = unw_backtrace(frames.data(), static_cast<int>(options_.max_frames));
  std::vector<std::uintptr_t> chain;
  std::uint32_t node = 0;
  for (int i = 0; i < depth; ++i) {
    const auto ip = reinterpret_cast<std::uintptr_t>(frames[i]);
    const auto it = cache_->children.find({node, ip});
    if (it == cache_->children.end()) break;
    node = it->second;
    if (cache_->nodes[node].terminal) return cache_->nodes[node].address;
  }

  // A new chain: resolve it, and remember how many of its return addresses decided the address.
  for (int i = 0; i < depth; ++i) chain.push_back(reinterpret_cast<std::uintptr_t>(frames[i]));
  std::string address;
  std::size_t kept = 0;
  std::size_t decided = chain.size();
  bool above_ppx = false;  // past ppx's own frames (this function, the adapter) at the top
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const Frame frame = describe(chain[i]);
    if (!above_ppx) {
      if (is_ppx_frame(frame) && !is_model_entry(frame)) continue;
      above_ppx = true;
    }
    if (is_model_entry(frame)) {
      decided = i + 1;
      break;
    }
    if (starts_with_any(frame.symbol.name, options_.skip_symbols) || starts_with_any(frame.module, options_.skip_modules)) {
      continue;
    }
    if (!address.empty()) address += ';';
    address += frame.module;
    if (!frame.symbol.name.empty()) {
      address.append(":").append(frame.symbol.name);
      if (options_.offsets) address.append("+").append(hex(chain[i] - frame.symbol.start));
    } else {
      address.append("+").append(hex(frame.module_offset));
    }
    if (++kept == options_.depth) {
      decided = i + 1;
      break;
    }
  }
  if (address.empty()) address = "stack:?";  // nothing but ppx frames and filtered ones

  node = 0;
  for (std::size_t i = 0; i < decided; ++i) {
    const auto [it, inserted] = cache_->children.try_emplace({node, chain[i]}, 0);
    if (inserted) {
      it->second = static_cast<std::uint32_t>(cache_->nodes.size());
      cache_->nodes.emplace_back();
    }
    node = it->second;
  }
  Cache::Node& leaf = cache_->nodes[node];
  leaf.terminal = true;
  leaf.address = std::move(address);
  ++cache_->chains;
  return leaf.address;
}

ScopedDrawAddress::ScopedDrawAddress(std::string address)
    : address_(std::move(address)), previous_(scoped_draw_address) {
  scoped_draw_address = &address_;
}
ScopedDrawAddress::~ScopedDrawAddress() { scoped_draw_address = previous_; }

Tensor sample_at_stack(StackAddresser& addresser, const Distribution& distribution, const SampleOptions& options) {
  if (!options.address.empty()) return sample(distribution, options);
  thread_local SampleOptions with_address;  // reuses its strings' capacity across draws
  with_address.name = options.name;
  with_address.control = options.control;
  with_address.address = scoped_draw_address != nullptr ? std::string_view(*scoped_draw_address) : addresser.address();
  return sample(distribution, with_address);
}

double sample_uniform01_at_stack(StackAddresser& addresser) {
  static const Distribution uniform01 = Uniform(0.0, 1.0);
  const double u = sample_at_stack(addresser, uniform01).item();
  return u < 1.0 ? u : std::nextafter(1.0, 0.0);
}

}  // namespace ppx
