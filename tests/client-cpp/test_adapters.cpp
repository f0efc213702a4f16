// The engine adapters and stack-address options, in-process: each adapter draw is one recorded
// Uniform(0, 1) sample whose value the library sees unchanged, at a stack address that skips the
// random library's frames; depth limits and filters do what they say.
#include <catch2/catch.hpp>

#include <CLHEP/Random/RandFlat.h>
#include <CLHEP/Random/RandGauss.h>
#include <CLHEP/Random/Random.h>
#include <gsl/gsl_randist.h>

#include <random>

#include "ppx/clhep_engine.h"
#include "ppx/gsl_rng.h"
#include "ppx/random_bits.h"
#include "ppx/stack_address.h"

namespace {

ppx::TraceRecord record_of(const std::function<void()>& body) {
  ppx::LocalHandler local({.seed = 7, .record = true});
  ppx::ScopedHandler scope(local);
  body();
  return local.take_record();
}

double value_of(const ppx::SiteRecord& site) { return site.value->item(); }

bool is_uniform01(const ppx::SiteRecord& site) {
  return site.kind == ppx::SiteKind::Sample && site.distribution && *site.distribution == ppx::Uniform(0.0, 1.0);
}

// Results are used (sink): a discarded result lets the compiler turn the calls into jumps (no frames).
volatile double sink = 0;
[[gnu::noinline]] double inner(ppx::StackAddresser& a) { return 2.0 * ppx::sample_uniform01_at_stack(a); }
[[gnu::noinline]] double outer(ppx::StackAddresser& a) { return 1.0 + inner(a); }

}  // namespace

TEST_CASE("a <random> distribution on RandomBits sees each latent uniform unchanged") {
  ppx::RandomBits bits;
  std::uniform_real_distribution<double> canonical(0.0, 1.0);
  std::vector<double> drawn;
  const auto record = record_of([&] {
    for (int i = 0; i < 5; ++i) drawn.push_back(canonical(bits));
  });
  REQUIRE(record.sites.size() == 5);  // one latent per canonical draw (64 bits per call)
  for (std::size_t i = 0; i < 5; ++i) {
    CHECK(is_uniform01(record.sites[i]));
    CHECK(drawn[i] == value_of(record.sites[i]));
  }
  CHECK(record.sites[0].address.rfind("test_client_adapters:", 0) == 0);
}

TEST_CASE("ppx_gsl_rng: GSL draws are the recorded uniforms, addressed past GSL's frames") {
  gsl_rng* r = gsl_rng_alloc(ppx_gsl_rng);
  REQUIRE(r != nullptr);
  double u = 0;
  unsigned long k = 0;
  const auto record = record_of([&] {
    u = gsl_rng_uniform(r);
    k = gsl_rng_get(r);
    (void)gsl_ran_gaussian(r, 1.0);
  });
  REQUIRE(record.sites.size() >= 4);  // the polar method draws pairs until one is accepted
  CHECK(u == value_of(record.sites[0]));
  CHECK(k == static_cast<unsigned long>(std::ldexp(value_of(record.sites[1]), 32)));
  for (const ppx::SiteRecord& site : record.sites) {
    CHECK(is_uniform01(site));
    CHECK(site.address.find("gsl_") == std::string::npos);
    CHECK(site.address.find("libgsl") == std::string::npos);
  }
  CHECK(record.sites[2].address == record.sites[3].address);  // both draws of a pair: one call of GSL
  gsl_rng_free(r);
}

TEST_CASE("ppx::ClhepEngine: CLHEP draws are the recorded uniforms, addressed past CLHEP's frames") {
  ppx::ClhepEngine engine;
  CLHEP::HepRandomEngine* previous = CLHEP::HepRandom::getTheEngine();
  CLHEP::HepRandom::setTheEngine(&engine);
  double u = 0;
  const auto record = record_of([&] {
    u = CLHEP::RandFlat::shoot();
    CLHEP::RandGauss::setFlag(false);
    (void)CLHEP::RandGauss::shoot();
  });
  CLHEP::HepRandom::setTheEngine(previous);
  REQUIRE(record.sites.size() >= 3);
  CHECK(u == value_of(record.sites[0]));
  for (const ppx::SiteRecord& site : record.sites) {
    CHECK(is_uniform01(site));
    CHECK(site.address.find("CLHEP::") == std::string::npos);
  }
}

TEST_CASE("stack address options: depth limit, symbol filters, scoped addresses, validation") {
  ppx::StackAddresser one({.depth = 1});
  ppx::StackAddresser skipping({.skip_symbols = {"(anonymous namespace)::inner"}});
  ppx::StackAddresser full;
  const auto record = record_of([&] {
    sink = sink + outer(one);
    sink = sink + outer(skipping);
    sink = sink + outer(full);
    {
      ppx::ScopedDrawAddress a("a");
      {
        ppx::ScopedDrawAddress b("b");
        sink = sink + outer(full);
      }
      sink = sink + outer(full);
    }
  });
  REQUIRE(record.sites.size() == 5);
  CHECK(record.sites[0].address.find(';') == std::string::npos);
  CHECK(record.sites[0].address.find("inner") != std::string::npos);
  CHECK(record.sites[1].address.find("inner") == std::string::npos);
  CHECK(record.sites[1].address.rfind("test_client_adapters:(anonymous namespace)::outer(", 0) == 0);
  CHECK(record.sites[2].address.find(";test_client_adapters:(anonymous namespace)::outer(") != std::string::npos);
  CHECK(record.sites[3].address == "b");
  CHECK(record.sites[4].address == "a");
  CHECK(full.cached_chains() == 1);

  CHECK_THROWS_AS(ppx::StackAddresser({.depth = 0}), std::invalid_argument);
  CHECK_THROWS_AS(ppx::StackAddresser({.depth = 20, .max_frames = 10}), std::invalid_argument);
  CHECK_THROWS_AS(ppx::StackAddresser({.max_frames = 5000}), std::invalid_argument);
  CHECK_THROWS_AS(ppx::StackAddresser({.skip_symbols = {""}}), std::invalid_argument);
}
