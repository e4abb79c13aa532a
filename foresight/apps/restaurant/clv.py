"""Customer lifetime value: the BG/NBD purchase model and the Gamma-Gamma spend model.

Our own numpy/scipy implementation of

* BG/NBD: Fader, Hardie & Lee (2005), "'Counting Your Customers' the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2), 275-284; P(alive) from
  Fader, Hardie & Lee (2008), "Computing P(alive) Using the BG/NBD Model" (note 021); the
  hypergeometric term in the form of Fader & Hardie (2013), "Overcoming the BG/NBD
  Model's #NUM! Error Problem" (note 027);
* Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (note 025).

A customer is summarised by ``x`` (repeat purchases: purchases after the first), ``t_x``
(time of the last purchase, counted from the first) and ``T`` (time from the first purchase
to the end of observation). Units are free (days, weeks): every time argument must use the
same one, and ``alpha_`` is then in that unit. Everything is vectorised over customers.

>>> bg = BetaGeo.from_params(r=0.243, alpha=4.414, a=0.793, b=2.426)
>>> float(bg.p_alive(0, 0, 38.86)[0])
1.0
>>> round(float(bg.expected_purchases(39, 2, 30.43, 38.86)[0]), 2)
1.23
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1
from scipy.stats import beta as beta_dist

Array = NDArray[np.float64]

# Below this many customers (sum of weights) the four parameters are not identified.
MIN_CUSTOMERS = 10
# Log-parameter box: keeps exp() finite while the optimiser explores (e^±20 ≈ 5e8).
_LOG_BOUND = 20.0
_OPTIONS = {"maxiter": 2000, "ftol": 1e-12, "gtol": 1e-8}


def _converged(result: Any) -> bool:
    # L-BFGS-B can stop with "ABNORMAL" in its line search when the objective is already
    # flat to rounding; a vanishing gradient is the test that matters.
    return bool(result.success) or float(np.max(np.abs(result.jac))) < 1e-6


def _floats(name: str, value: ArrayLike) -> Array:
    array = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers")
    if np.any(array < 0):
        raise ValueError(f"{name} must not be negative")
    return array


def _histories(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[Array, Array, Array]:
    """Validated, broadcast ``(x, t_x, T)`` arrays; raises ValueError naming the field."""
    xs, txs, Ts = np.broadcast_arrays(_floats("x", x), _floats("t_x", t_x), _floats("T", T))
    if np.any(xs != np.round(xs)):
        raise ValueError("x (repeat purchases) must be whole numbers")
    # A small relative slack: t_x and T often come from separate float computations.
    if np.any(txs > Ts * (1 + 1e-9) + 1e-12):
        raise ValueError("t_x (time of the last purchase) must not exceed T (time observed)")
    if np.any((xs == 0) & (txs > 0)):
        raise ValueError("t_x must be 0 for customers without repeat purchases (x = 0)")
    return xs, txs, Ts


class BetaGeo:
    """The BG/NBD model: Poisson purchases at a gamma-distributed rate λ ~ Γ(r, α), and
    after each purchase the customer drops out with a beta-distributed probability
    p ~ B(a, b). Fitted values: ``r_``, ``alpha_``, ``a_``, ``b_``, ``loglik_``."""

    r_: float
    alpha_: float
    a_: float
    b_: float
    loglik_: float
    converged_: bool

    @classmethod
    def from_params(cls, *, r: float, alpha: float, a: float, b: float) -> BetaGeo:
        """A model with known parameters (a stored artifact, a simulation, a paper)."""
        model = cls()
        model.r_, model.alpha_, model.a_, model.b_ = float(r), float(alpha), float(a), float(b)
        model.loglik_, model.converged_ = float("nan"), True
        return model

    @property
    def params_(self) -> dict[str, float]:
        """The fitted parameters as a JSON-able dict."""
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def fit(
        self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, *, weights: ArrayLike | None = None
    ) -> BetaGeo:
        """Maximum likelihood on log-parameters (L-BFGS-B, analytic gradient).

        Identical ``(x, t_x, T)`` rows are pooled, each weighted by how many customers (or
        how much of ``weights``) share it, so a large base costs little more than its
        distinct histories.
        """
        xs, txs, Ts = _histories(x, t_x, T)
        w = np.ones_like(xs) if weights is None else _floats("weights", weights)
        if w.shape != xs.shape:
            raise ValueError("weights must have one value per customer")
        if w.sum() < MIN_CUSTOMERS:
            raise ValueError(f"BG/NBD needs at least {MIN_CUSTOMERS} customers to fit")
        if not np.any((xs > 0) & (w > 0)):
            raise ValueError("BG/NBD needs at least one customer with a repeat purchase")
        rows, inverse = np.unique(np.column_stack([xs, txs, Ts]), axis=0, return_inverse=True)
        pooled = np.bincount(inverse.ravel(), weights=w)
        keep = pooled > 0
        xu, txu, Tu, wu = rows[keep, 0], rows[keep, 1], rows[keep, 2], pooled[keep]
        # Rescale time so the largest T is 10: α then starts near the data's scale, which
        # the optimiser needs; the likelihood's argmax is unchanged (α scales with time).
        scale = 10.0 / max(float(Tu.max()), 1e-12)
        result = minimize(
            _bg_objective,
            x0=np.zeros(4),
            args=(xu, txu * scale, Tu * scale, wu),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
            options=_OPTIONS,
        )
        if not np.all(np.isfinite(result.x)):
            raise RuntimeError(f"BG/NBD fit failed: {result.message}")
        r, alpha, a, b = np.exp(result.x)
        self.r_, self.alpha_, self.a_, self.b_ = float(r), float(alpha / scale), float(a), float(b)
        self.converged_ = _converged(result)
        self.loglik_ = float(np.sum(wu * _bg_loglik(self.params_array(), xu, txu, Tu)[0]))
        return self

    def params_array(self) -> Array:
        """``[r, alpha, a, b]``."""
        return np.array([self.r_, self.alpha_, self.a_, self.b_])

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """P(still active at T | x, t_x, T) (note 021); 1 for customers with x = 0,
        since the model lets a customer drop out only right after a repeat purchase."""
        xs, txs, Ts = _histories(x, t_x, T)
        return self._p_alive(xs, txs, Ts)

    def _p_alive(self, xs: Array, txs: Array, Ts: Array) -> Array:
        r, alpha, a, b = self.params_array()
        # log of a/(b+x-1) * ((α+T)/(α+t_x))^(r+x); expit keeps huge x finite.
        log_odds_dead = np.log(a) - np.log(b + np.maximum(xs, 1) - 1)
        log_odds_dead += (r + xs) * (np.log(alpha + Ts) - np.log(alpha + txs))
        return np.where(xs > 0, expit(-log_odds_dead), 1.0)

    def expected_purchases(self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """E[purchases in (T, T+t] | x, t_x, T]: FHL (2005) eq. 10.

        Computed as P(alive) × E[purchases | alive]; the hypergeometric term uses Euler's
        transformation (note 027), so z = t/(α+T+t) < 1 and large x stay finite.
        """
        xs, txs, Ts = _histories(x, t_x, T)
        ts = _floats("t", t)
        ts, xs, txs, Ts = np.broadcast_arrays(ts, xs, txs, Ts)
        return self._p_alive(xs, txs, Ts) * self._purchases_if_alive(ts, xs, Ts)

    def expected_purchases_new(self, t: ArrayLike) -> Array:
        """E[X(t)]: repeat purchases in (0, t] of a customer who has just made a first
        purchase (FHL 2005 eq. 9), the building block of the cumulative sales curve."""
        ts = _floats("t", t)
        zeros = np.zeros_like(ts)
        return self._purchases_if_alive(ts, zeros, zeros)

    def _purchases_if_alive(self, ts: Array, xs: Array, Ts: Array) -> Array:
        r, alpha, a, b = self.params_array()
        if abs(a - 1.0) < 1e-8:  # the closed form is 0/0 at a = 1; its limit is smooth
            a = 1.0 + 1e-8
        c = a + b + xs - 1
        z = ts / (alpha + Ts + ts)
        # ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; c; z) = (1-z)^(a-1) · 2F1(c-r-x, a-1; c; z)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            hyp = hyp2f1(a + b - 1 - r, a - 1, c, z)
            log_term = (a - 1) * np.log1p(-z) + np.log(np.where(hyp > 0, hyp, 1.0))
            one_minus = np.where(hyp > 0, -np.expm1(log_term), 1 - np.exp(log_term) * hyp)
            out = c / (a - 1) * one_minus
        bad = ~np.isfinite(out) | (out < 0)
        if bad.any():  # huge a and b (a near-constant dropout): 2F1 overflows
            out = np.array(out, dtype=np.float64)
            out[bad] = self._purchases_by_quadrature(ts[bad], xs[bad], Ts[bad])
        return out

    def _purchases_by_quadrature(self, ts: Array, xs: Array, Ts: Array) -> Array:
        """The same expectation as one integral over the dropout probability p ~ Beta(a,
        b + x): E[(1 − (1 + p·t/(α+T))^−(r+x)) / p] (λ integrated out), by the mean over
        64 quantiles of p; used where the closed form overflows, where that Beta is
        narrow and the quantile mean is accurate."""
        r, alpha, a, b = self.params_array()
        u = (np.arange(64) + 0.5) / 64
        p = beta_dist.ppf(u[:, None], a, b + xs[None, :])
        g = -np.expm1(-(r + xs) * np.log1p(p * ts / (alpha + Ts))) / p
        return np.asarray(g.mean(axis=0), dtype=np.float64)

    def median_wait(self, x: ArrayLike, T: ArrayLike) -> Array:
        """Median time from T to the next purchase for a customer still alive.

        Given alive, the rate's posterior is Γ(r+x, α+T) and the wait is exponential in
        it, so the wait is Pareto II: P(W > w) = ((α+T)/(α+T+w))^(r+x). Counted from the
        end of observation T (waits are memoryless), not from the last purchase.
        """
        xs, Ts = np.broadcast_arrays(_floats("x", x), _floats("T", T))
        return (self.alpha_ + Ts) * np.expm1(np.log(2.0) / (self.r_ + xs))

    def posterior_rate(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """E[λ | x, t_x, T], the customer's purchase rate per time unit (posterior mean).

        The posterior of λ mixes Γ(r+x, α+T) (still alive) and Γ(r+x, α+t_x) (dropped out
        right after the last purchase), weighted by P(alive) and 1 − P(alive).
        """
        xs, txs, Ts = _histories(x, t_x, T)
        alive = self._p_alive(xs, txs, Ts)
        shape = self.r_ + xs
        return shape * (alive / (self.alpha_ + Ts) + (1 - alive) / (self.alpha_ + txs))


def _bg_loglik(params: Array, x: Array, t_x: Array, T: Array) -> tuple[Array, Array]:
    """Per-row log-likelihood (FHL 2005 eq. 6) and its gradient in the log-parameters."""
    r, alpha, a, b = params
    repeat = x > 0
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
    a4 = np.where(repeat, a4, -np.inf)
    both = np.logaddexp(a3, a4)
    w3 = np.exp(a3 - both)  # share of the "still alive" branch
    w4 = 1 - w3
    d_r = digamma(r + x) - digamma(r) + np.log(alpha)
    d_r += -w3 * np.log(alpha + T) - w4 * np.log(alpha + t_x)
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_a = digamma(a + b) - digamma(a + b + x) + w4 / a
    d_b = digamma(a + b) + digamma(b + x) - digamma(b) - digamma(a + b + x)
    d_b -= w4 / (b + np.maximum(x, 1) - 1)
    grad = np.stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return a1 + a2 + both, grad


def _bg_objective(
    log_params: Array, x: Array, t_x: Array, T: Array, w: Array
) -> tuple[float, Array]:
    # The mean, not the sum: the tolerances then mean the same for 100 or 1e6 customers.
    ll, grad = _bg_loglik(np.exp(log_params), x, t_x, T)
    total = w.sum()
    return -float(np.sum(w * ll) / total), -(grad @ w) / total


class GammaGamma:
    """The Gamma-Gamma spend model: a customer's transaction values are Γ(p, ν) with
    ν ~ Γ(q, v) across customers. Fitted on repeat customers' mean repeat spend ``m``.
    Fitted values: ``p_``, ``q_``, ``v_``, ``loglik_``."""

    p_: float
    q_: float
    v_: float
    loglik_: float
    converged_: bool

    @classmethod
    def from_params(cls, *, p: float, q: float, v: float) -> GammaGamma:
        """A model with known parameters."""
        model = cls()
        model.p_, model.q_, model.v_ = float(p), float(q), float(v)
        model.loglik_, model.converged_ = float("nan"), True
        return model

    @property
    def params_(self) -> dict[str, float]:
        """The fitted parameters as a JSON-able dict."""
        return {"p": self.p_, "q": self.q_, "v": self.v_}

    def fit(self, x: ArrayLike, m: ArrayLike) -> GammaGamma:
        """Maximum likelihood (note 025 eq. 1a) on customers with ``x > 0``.

        Rows with x = 0 are skipped: they have no repeat spend. ``q`` is kept above 1,
        where the population's mean spend v·p/(q−1) is finite.
        """
        xs = _floats("x", x)
        ms = np.broadcast_to(np.atleast_1d(np.asarray(m, dtype=np.float64)), xs.shape)
        repeat = xs > 0
        xs, ms = xs[repeat], ms[repeat]
        if not np.all(np.isfinite(ms)) or np.any(ms <= 0):
            raise ValueError("m (mean repeat spend) must be positive for customers with x > 0")
        if len(xs) < MIN_CUSTOMERS:
            raise ValueError(
                f"Gamma-Gamma needs at least {MIN_CUSTOMERS} customers with repeat purchases"
            )
        scale = float(np.mean(ms))  # conditioning only: v scales with the money unit
        result = minimize(
            _gg_objective,
            x0=np.array([0.0, 1.0, 0.0]),
            args=(xs, ms / scale),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND), (1e-6, _LOG_BOUND), (-_LOG_BOUND, _LOG_BOUND)],
            options=_OPTIONS,
        )
        if not np.all(np.isfinite(result.x)):
            raise RuntimeError(f"Gamma-Gamma fit failed: {result.message}")
        p, q, v = np.exp(result.x)
        self.p_, self.q_, self.v_ = float(p), float(q), float(v * scale)
        self.converged_ = _converged(result)
        params = np.array([self.p_, self.q_, self.v_])
        self.loglik_ = float(np.sum(_gg_loglik(params, xs, ms)[0]))
        return self

    def expected_spend(self, x: ArrayLike, m: ArrayLike) -> Array:
        """E[mean transaction value | x, m] (note 025 eq. 5): a weighted average of the
        population mean v·p/(q−1) and the customer's own ``m``; x = 0 gives the former."""
        xs = _floats("x", x)
        ms = np.asarray(m, dtype=np.float64)
        xs, ms = np.broadcast_arrays(xs, ms)
        own = np.where(xs > 0, ms, 0.0)  # m is undefined (often NaN) without repeats
        if np.any((xs > 0) & ~(own > 0)):
            raise ValueError("m (mean repeat spend) must be positive for customers with x > 0")
        p, q, v = self.p_, self.q_, self.v_
        return p * (v + xs * own) / (p * xs + q - 1)


def _gg_loglik(params: Array, x: Array, m: Array) -> tuple[Array, Array]:
    p, q, v = params
    px = p * x
    log_vxm = np.log(v + x * m)
    ll = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * log_vxm
    )
    d_p = x * (digamma(px + q) - digamma(px) + np.log(m) + np.log(x) - log_vxm)
    d_q = digamma(px + q) - digamma(q) + np.log(v) - log_vxm
    d_v = q / v - (px + q) / (v + x * m)
    return ll, np.stack([d_p * p, d_q * q, d_v * v])


def _gg_objective(log_params: Array, x: Array, m: Array) -> tuple[float, Array]:
    ll, grad = _gg_loglik(np.exp(log_params), x, m)
    return -float(np.mean(ll)), -grad.mean(axis=1)


def clv(
    bg: BetaGeo,
    gg: GammaGamma,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    m: ArrayLike,
    *,
    periods: int = 12,
    period_length: float = 30.4,
    discount: float = 0.01,
) -> Array:
    """Discounted expected spend over the next ``periods`` periods of ``period_length``:
    Σₖ [E X(k·L) − E X((k−1)·L)] · E[M] / (1+d)^k, with conditional expectations from
    ``bg`` and E[M] from ``gg``. Defaults: 12 months of 30.4 days at 1 % a month.
    """
    if periods < 1 or period_length <= 0 or discount <= -1:
        raise ValueError("periods must be ≥ 1, period_length > 0 and discount > -1")
    xs, txs, Ts = _histories(x, t_x, T)
    spend = gg.expected_spend(xs, np.broadcast_to(np.asarray(m, dtype=np.float64), xs.shape))
    horizons = period_length * np.arange(periods + 1, dtype=np.float64)[:, None]
    cumulative = bg.expected_purchases(horizons, xs[None, :], txs[None, :], Ts[None, :])
    per_period = np.diff(cumulative, axis=0)
    factors = (1 + discount) ** -np.arange(1, periods + 1, dtype=np.float64)
    return spend * (factors @ per_period)
