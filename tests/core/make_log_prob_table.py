#!/usr/bin/env python3
"""Prints the reference log densities of tests/core/test_distribution.cpp (kLogProbCases).

Closed-form log densities, evaluated with python3's math module (no scipy). TruncatedNormal's
log density is evaluated in 60-digit decimal arithmetic (erfc by its Taylor series below 3, by
its continued fraction above), so the far-tail rows are exact to double precision and
independent of the C++ implementation's tail formulas.

Run: python3 tests/core/make_log_prob_table.py   (paste the rows into the test)
"""
import math
from decimal import Decimal, getcontext

getcontext().prec = 60
LOG_2PI_HALF = 0.5 * math.log(2 * math.pi)
INF = math.inf


def xlogy(x, y):
    return 0.0 if x == 0 else x * math.log(y)


def d_erfc(z):
    """erfc(z) in Decimal, z a Decimal >= 0."""
    pi = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
    if z < 3:
        # erf(z) = 2/sqrt(pi) sum_n (-1)^n z^(2n+1) / (n! (2n+1))
        total, term, n = Decimal(0), z, 0
        while True:
            contrib = term / (2 * n + 1)
            total += contrib
            if abs(contrib) < Decimal(10) ** -70:
                break
            n += 1
            term = -term * z * z / n
        return 1 - 2 / pi.sqrt() * total
    # erfc(z) = exp(-z^2)/sqrt(pi) / (z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...)))))
    f = z
    for n in range(4000, 0, -1):
        f = z + Decimal(n) / 2 / f
    return (-z * z).exp() / pi.sqrt() / f


def d_upper_tail(t):
    """Q(t) = P(Z > t) in Decimal for a float t (may be +-inf)."""
    if t == INF:
        return Decimal(0)
    if t == -INF:
        return Decimal(1)
    z = Decimal(t) / Decimal(2).sqrt()
    return d_erfc(z) / 2 if z >= 0 else 1 - d_erfc(-z) / 2


def normal(m, s, x):
    return -0.5 * ((x - m) / s) ** 2 - math.log(s) - LOG_2PI_HALF


def uniform(lo, hi, x):
    return -math.log(hi - lo) if lo <= x < hi else -INF


def categorical(probs, x):
    return math.log(probs[x] / sum(probs))


def poisson(r, x):
    return x * math.log(r) - r - math.lgamma(x + 1)


def bernoulli(p, x):
    return xlogy(x, p) + xlogy(1 - x, 1 - p)


def beta(a, b, x):
    return xlogy(a - 1, x) + xlogy(b - 1, 1 - x) - (math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b))


def exponential(r, x):
    return math.log(r) - r * x


def gamma(a, r, x):
    return a * math.log(r) + xlogy(a - 1, x) - r * x - math.lgamma(a)


def log_normal(m, s, x):
    return -0.5 * ((math.log(x) - m) / s) ** 2 - math.log(s) - LOG_2PI_HALF - math.log(x)


def binomial(n, p, x):
    return (math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1) + xlogy(x, p)
            + xlogy(n - x, 1 - p))


def weibull(lam, k, x):
    return math.log(k / lam) + xlogy(k - 1, x / lam) - (x / lam) ** k


def truncated_normal(m, s, lo, hi, x):
    alpha, beta_ = (lo - m) / s, (hi - m) / s
    if beta_ <= 0:  # mirror the left tail: 1 - Q(.) would lose the tiny mass at any precision
        mass = d_upper_tail(-beta_) - d_upper_tail(-alpha)
    else:
        mass = d_upper_tail(alpha) - d_upper_tail(beta_)
    z = (Decimal(x) - Decimal(m)) / Decimal(s)  # all in decimal: z^2/2 and log(mass) nearly cancel
    two_pi = 2 * Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
    return float(-z * z / 2 - two_pi.ln() / 2 - Decimal(s).ln() - mass.ln())


ROWS = [
    # (C++ kind, C++ parameters, C++ value, expected)
    ("Normal", "Tensor(0.0), Tensor(1.0)", "Tensor(0.0)", normal(0, 1, 0)),
    ("Normal", "Tensor(1.5), Tensor(2.0)", "Tensor(-0.7)", normal(1.5, 2, -0.7)),
    ("Normal", "Tensor(0.0), Tensor(1.0)", "Tensor(30.0)", normal(0, 1, 30)),
    ("Normal", "Tensor{0.0, 1.0}, Tensor(2.0)", "Tensor{0.5, 3.0}",
     normal(0, 2, 0.5) + normal(1, 2, 3.0)),
    ("Normal", "Tensor(0.0), Tensor(1.0)", "Tensor{-1.0, 0.0, 2.5}",
     normal(0, 1, -1) + normal(0, 1, 0) + normal(0, 1, 2.5)),
    ("Uniform", "Tensor(-1.0), Tensor(3.0)", "Tensor(0.5)", uniform(-1, 3, 0.5)),
    ("Uniform", "Tensor(-1.0), Tensor(3.0)", "Tensor(-1.0)", uniform(-1, 3, -1)),
    ("Uniform", "Tensor{0.0, 10.0}, Tensor{1.0, 20.0}", "Tensor{0.25, 15.0}",
     uniform(0, 1, 0.25) + uniform(10, 20, 15)),
    ("Categorical", "Tensor{0.2, 0.3, 0.5}", "Tensor(2.0)", categorical([0.2, 0.3, 0.5], 2)),
    ("Categorical", "Tensor{1.0, 2.0, 7.0}", "Tensor(0.0)", categorical([1, 2, 7], 0)),
    ("Categorical", "Tensor({0.1, 0.9, 0.5, 0.5}, {2, 2})", "Tensor{1.0, 0.0}",
     categorical([0.1, 0.9], 1) + categorical([0.5, 0.5], 0)),
    ("Poisson", "Tensor(3.5)", "Tensor(2.0)", poisson(3.5, 2)),
    ("Poisson", "Tensor(3.5)", "Tensor(0.0)", poisson(3.5, 0)),
    ("Poisson", "Tensor(1000.0)", "Tensor(1000.0)", poisson(1000, 1000)),
    ("Bernoulli", "Tensor(0.3)", "Tensor(1.0)", bernoulli(0.3, 1)),
    ("Bernoulli", "Tensor(0.3)", "Tensor(0.0)", bernoulli(0.3, 0)),
    ("Bernoulli", "Tensor(0.0)", "Tensor(0.0)", bernoulli(0.0, 0)),
    ("Bernoulli", "Tensor{0.2, 0.9}", "Tensor{1.0, 1.0}", bernoulli(0.2, 1) + bernoulli(0.9, 1)),
    ("Beta", "Tensor(2.0), Tensor(3.0)", "Tensor(0.4)", beta(2, 3, 0.4)),
    ("Beta", "Tensor(0.5), Tensor(0.5)", "Tensor(0.01)", beta(0.5, 0.5, 0.01)),
    ("Beta", "Tensor(1.0), Tensor(1.0)", "Tensor(0.0)", beta(1, 1, 0.0)),
    ("Beta", "Tensor(2.0), Tensor(3.0)", "Tensor(1.0)", -INF),  # density 0 at x = 1 when b > 1
    ("Exponential", "Tensor(2.0)", "Tensor(0.5)", exponential(2, 0.5)),
    ("Exponential", "Tensor(2.0)", "Tensor(0.0)", exponential(2, 0.0)),
    ("Gamma", "Tensor(3.0), Tensor(2.0)", "Tensor(1.5)", gamma(3, 2, 1.5)),
    ("Gamma", "Tensor(0.5), Tensor(1.0)", "Tensor(2.0)", gamma(0.5, 1, 2)),
    ("Gamma", "Tensor(1.0), Tensor(1.0)", "Tensor(0.0)", gamma(1, 1, 0.0)),
    # [2,1] x [3] parameters broadcast to [2,3]; the scalar value broadcasts to all six.
    ("Gamma", "Tensor({1.0, 2.0}, {2, 1}), Tensor{1.0, 2.0, 3.0}", "Tensor(0.5)",
     sum(gamma(a, r, 0.5) for a in (1, 2) for r in (1, 2, 3))),
    ("LogNormal", "Tensor(0.5), Tensor(0.8)", "Tensor(2.0)", log_normal(0.5, 0.8, 2.0)),
    ("LogNormal", "Tensor(0.0), Tensor(1.0)", "Tensor(1e-10)", log_normal(0, 1, 1e-10)),
    ("Binomial", "Tensor(10.0), Tensor(0.3)", "Tensor(3.0)", binomial(10, 0.3, 3)),
    ("Binomial", "Tensor(10.0), Tensor(0.0)", "Tensor(0.0)", binomial(10, 0.0, 0)),
    ("Binomial", "Tensor(10.0), Tensor(1.0)", "Tensor(10.0)", binomial(10, 1.0, 10)),
    ("Binomial", "Tensor(1000.0), Tensor(0.5)", "Tensor(480.0)", binomial(1000, 0.5, 480)),
    ("Binomial", "Tensor(0.0), Tensor(0.4)", "Tensor(0.0)", binomial(0, 0.4, 0)),
    ("Weibull", "Tensor(2.0), Tensor(1.5)", "Tensor(1.3)", weibull(2, 1.5, 1.3)),
    ("Weibull", "Tensor(1.0), Tensor(1.0)", "Tensor(0.0)", weibull(1, 1, 0.0)),
    ("Weibull", "Tensor(0.5), Tensor(0.7)", "Tensor(3.0)", weibull(0.5, 0.7, 3.0)),
    ("TruncatedNormal", "Tensor(0.0), Tensor(1.0), Tensor(-1.0), Tensor(2.0)", "Tensor(0.5)",
     truncated_normal(0, 1, -1, 2, 0.5)),
    ("TruncatedNormal", "Tensor(1.0), Tensor(2.0), Tensor(0.0), Tensor(10.0)", "Tensor(3.0)",
     truncated_normal(1, 2, 0, 10, 3)),
    ("TruncatedNormal", "Tensor(0.0), Tensor(1.0), Tensor(10.0), Tensor(kInf)", "Tensor(10.5)",
     truncated_normal(0, 1, 10, INF, 10.5)),
    ("TruncatedNormal", "Tensor(0.0), Tensor(1.0), Tensor(40.0), Tensor(45.0)", "Tensor(40.2)",
     truncated_normal(0, 1, 40, 45, 40.2)),
    ("TruncatedNormal", "Tensor(2.0), Tensor(0.5), Tensor(-kInf), Tensor(-8.0)", "Tensor(-8.1)",
     truncated_normal(2, 0.5, -INF, -8, -8.1)),
    ("TruncatedNormal", "Tensor(0.0), Tensor(1.0), Tensor(5.0), Tensor(5.001)", "Tensor(5.0005)",
     truncated_normal(0, 1, 5, 5.001, 5.0005)),
    ("TruncatedNormal", "Tensor(0.0), Tensor(1.0), Tensor(-0.001), Tensor(0.002)", "Tensor(0.0)",
     truncated_normal(0, 1, -0.001, 0.002, 0.0)),
    ("TruncatedNormal", "Tensor{0.0, 1.0}, Tensor(1.0), Tensor(-1.0), Tensor{1.0, 3.0}",
     "Tensor{0.0, 2.0}",
     truncated_normal(0, 1, -1, 1, 0) + truncated_normal(1, 1, -1, 3, 2)),
]

if __name__ == "__main__":
    for kind, params, value, expected in ROWS:
        e = "-kInf" if expected == -INF else repr(expected)
        print(f"    {{DistributionKind::{kind}, {{{params}}}, {value}, {e}}},")
