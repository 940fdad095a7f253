"""Vectorised Newton solvers for per-label temperature and Platt scaling, all labels at once.

A scipy `minimize` per label costs milliseconds of Python overhead each, which is far too slow at 6,941 labels;
here every iteration is one float32 pass over the labels still unsolved (see `_kernels`).

- Temperature (1 unknown per label, beta = 1 / T): the binary NLL is convex in beta, so its derivative is
  increasing and a safeguarded Newton iteration ("rtsafe", Press et al., Numerical Recipes, 3rd ed., section 9.4)
  keeps a bracket [lo, hi] per label and bisects whenever a Newton step would leave it. The bracket starts
  as the allowed range, so a label whose optimum lies outside converges to the bound.
- Platt (a, b per label): Newton's method with backtracking (Armijo) line search on the regularised NLL, as
  in Lin, Lin & Weng, "A note on Platt's probabilistic outputs for support vector machines", Machine Learning
  68(3), 2007. The NLL is convex in (a, b), so a slope outside [min_slope, max_slope] at the unconstrained
  optimum means the constrained optimum has the slope at that bound; b is then refitted by rtsafe.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tailtag.calibration._base import EPS
from tailtag.calibration._kernels import LogitColumns, platt_sums, temperature_sums

GradHess = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
Positives = tuple[np.ndarray, np.ndarray]  # (rows, cols) int64 of the cells whose target is 1


def safeguarded_newton(
    grad_hess: GradHess, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, tol: float, max_iter: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """Solve M independent 1-D convex problems: find x in [lo, hi] with increasing g(x) = 0, or the bound.

    Args:
        grad_hess: (x (A,), index (A,) into the M problems) -> (g (A,), h (A,)): derivative and curvature.
        x0, lo, hi: (M,) start and bounds, lo <= x0 <= hi.
        tol: stop when a step or the bracket is below tol * (1 + |x|).
        max_iter: passes at most (problems still open then keep their last iterate).

    Returns:
        (x (M,), number of passes run, (M,) bool: still open after `max_iter` passes).
    """
    x, lo, hi = x0.astype(np.float64), lo.astype(np.float64), hi.astype(np.float64)
    active = np.arange(x.size)
    passes = 0
    while active.size and passes < max_iter:
        passes += 1
        xa = x[active]
        g, h = grad_hess(xa, active)
        lo[active] = np.where(g < 0, xa, lo[active])
        hi[active] = np.where(g > 0, xa, hi[active])
        la, ha = lo[active], hi[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xa - g / h
        inside = np.isfinite(newton) & (newton > la) & (newton < ha)
        new = np.where(g == 0, xa, np.where(inside, newton, 0.5 * (la + ha)))
        # quadratic convergence: a Newton step of sqrt(tol) leaves an error ~tol (bisection gets no such credit)
        scale = np.where(inside, np.sqrt(tol), tol) * (1.0 + np.abs(new))
        done = (np.abs(new - xa) <= scale) | (ha - la <= tol * (1.0 + np.abs(new)))
        x[active] = new
        active = active[~done]
    return x, passes, np.isin(np.arange(x.size), active)


def fit_temperature(
    z: np.ndarray, positives: Positives, bounds: tuple[float, float], tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-label beta = 1 / T minimising sum_i softplus(beta z_i) - y_i beta z_i.

    Args:
        z: (N, M) float32 logits of the labels to fit (each with both classes present).
        positives: (rows, cols) of the positive cells, cols in [0, M).
        bounds: (min, max) of the temperature.

    Returns:
        (temperature (M,), unconverged (M,) bool, passes).
    """
    m = z.shape[1]
    sum_z = z.sum(axis=0, dtype=np.float64)
    sum_pos_z = _sum_where_positive(z, positives)
    work = LogitColumns(z)

    def grad_hess(log_beta: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        beta = np.exp(log_beta)
        sum_tz, sum_vzz = work.sums(temperature_sums, index, (0.5 * beta).astype(np.float32))
        g, h = 0.5 * (sum_z[index] + sum_tz) - sum_pos_z[index], 0.25 * sum_vzz
        # chain rule for x = log(beta); g keeps its single sign change, h may turn negative (then rtsafe bisects)
        return beta * g, beta * beta * h + beta * g

    # solved in log(beta): rare labels want T ~ 0.1, and the NLL's exponential tails make Newton steps in beta
    # creep there by ~0.4 per pass, while steps in log(beta) cover that distance in a few passes
    lo, hi = np.full(m, -np.log(bounds[1])), np.full(m, -np.log(bounds[0]))
    # a separated label's NLL decreases for every beta, so its optimum is the lowest temperature; the float32
    # gradient reaches exactly 0 long before (every tanh rounds to +-1), which rtsafe would take for the optimum
    separated = separated_labels(z, positives)
    lo[separated] = hi[separated]
    start = np.clip(np.zeros(m), lo, hi)
    log_beta, passes, unconverged = safeguarded_newton(grad_hess, start, lo, hi, tol=tol, max_iter=max_iter)
    return np.exp(-np.clip(log_beta, lo, hi)), unconverged, passes


def separated_labels(z: np.ndarray, positives: Positives) -> np.ndarray:
    """(M,) bool: the sign of z separates the label, every positive z >= 0 and every negative z <= 0 (some
    z != 0). Then softplus(beta z) - y beta z decreases in beta for every cell: no finite temperature is optimal.
    """
    rows, cols = positives
    m = z.shape[1]
    z_pos = z[rows, cols]
    above, below = (z > 0).sum(axis=0), (z < 0).sum(axis=0)
    pos_above = np.bincount(cols, weights=z_pos > 0, minlength=m)
    pos_below = np.bincount(cols, weights=z_pos < 0, minlength=m)
    return (pos_below == 0) & (above - pos_above == 0) & (above + below > 0)


def _sum_where_positive(z: np.ndarray, positives: Positives) -> np.ndarray:
    """(M,) float64 sum of z over the positive cells of each column (positives are sparse: gather them)."""
    rows, cols = positives
    return np.bincount(cols, weights=z[rows, cols].astype(np.float64), minlength=z.shape[1])


class _PlattProblem:
    """The regularised Platt NLL of the selected columns: F(a, b) = sum_i softplus(a z_i + b) - tau_i (a z_i + b),
    with Platt's smoothed targets tau = (n+ + 1) / (n+ + 2) for positives and 1 / (n- + 2) for negatives."""

    def __init__(self, z: np.ndarray, positives: Positives):
        n = z.shape[0]
        n_pos = np.bincount(positives[1], minlength=z.shape[1]).astype(np.float64)
        n_neg = n - n_pos
        t_pos, t_neg = (n_pos + 1) / (n_pos + 2), 1.0 / (n_neg + 2)
        sum_z = z.sum(axis=0, dtype=np.float64)
        sum_pos_z = _sum_where_positive(z, positives)
        self.n, self.n_pos = float(n), n_pos
        self.tau_sum = t_pos * n_pos + t_neg * n_neg
        self.tau_z = t_pos * sum_pos_z + t_neg * (sum_z - sum_pos_z)
        self.sum_z = sum_z
        self.sum_zz = np.einsum("ij,ij->j", z, z, dtype=np.float64)
        self.work = LogitColumns(z)

    def evaluate(self, a: np.ndarray, b: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, ...]:
        """(F, g_a, g_b, H_aa, H_ab, H_bb), each (A,), at (a, b) for the problems in `index`."""
        sums = self.work.sums(platt_sums, index, (0.5 * a).astype(np.float32), (0.5 * b).astype(np.float32))
        return self._assemble(a, b, index, sums)

    def evaluate_constant(self, b: np.ndarray) -> tuple[np.ndarray, ...]:
        """`evaluate` at a = 0 for every problem, without a pass: u = b is constant down each column."""
        t = np.tanh(0.5 * b)
        v = 1.0 - t * t
        sums = (self.n * t, t * self.sum_z, self.n * v, v * self.sum_z, v * self.sum_zz)
        sums += (self.n * np.maximum(b, 0.0), self.n * np.log1p(np.abs(t)))
        return self._assemble(np.zeros_like(b), b, np.arange(b.size), sums)

    def _assemble(self, a: np.ndarray, b: np.ndarray, index: np.ndarray, sums: tuple) -> tuple[np.ndarray, ...]:
        st, stz, sv, svz, svzz, sum_relu_u, slog = sums
        loss = sum_relu_u - slog + self.n * np.log(2.0) - (a * self.tau_z[index] + b * self.tau_sum[index])
        g_a = 0.5 * (self.sum_z[index] + stz) - self.tau_z[index]
        g_b = 0.5 * (self.n + st) - self.tau_sum[index]
        return loss, g_a, g_b, 0.25 * svzz, 0.25 * svz, 0.25 * sv


def _newton_direction(g_a, g_b, h_aa, h_ab, h_bb) -> tuple[np.ndarray, np.ndarray]:
    ridge = 1e-12 * (1.0 + h_aa + h_bb)  # Lin et al. add a tiny ridge so a flat (saturated) Hessian inverts
    h_aa, h_bb = h_aa + ridge, h_bb + ridge
    det = h_aa * h_bb - h_ab * h_ab
    return -(h_bb * g_a - h_ab * g_b) / det, -(h_aa * g_b - h_ab * g_a) / det


def fit_platt(
    z: np.ndarray, positives: Positives, slope_bounds: tuple[float, float], tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Per-label (a, b) minimising the regularised Platt NLL with a in `slope_bounds`.

    Args:
        z: (N, M) float32 logits of the labels to fit (each with both classes present).
        positives: (rows, cols) of the positive cells, cols in [0, M).

    Returns:
        (slope a (M,), intercept b (M,), at_bound (M,) bool: the slope was clipped to a bound,
        unconverged (M,) bool, passes).
    """
    problem = _PlattProblem(z, positives)
    m = z.shape[1]
    a, b, unconverged, passes = _platt_newton(problem, m, tol, max_iter)
    outside = (a < slope_bounds[0]) | (a > slope_bounds[1])
    if outside.any():
        index = np.flatnonzero(outside)
        a[index] = np.clip(a[index], *slope_bounds)
        b[index], extra, unconverged[index] = _refit_intercept(problem, a[index], index, tol, max_iter)
        passes += extra
    return a, b, outside, unconverged, passes


def _platt_newton(problem: _PlattProblem, m: int, tol: float, max_iter: int) -> tuple[np.ndarray, ...]:
    """Newton with Armijo backtracking from Platt's start; returns (a, b, unconverged (m,) bool, passes)."""
    # Platt's start: a = 0 and b = the smoothed prior log-odds, a constant predictor; from there Newton reaches
    # rare labels' large negative b in a few passes, where a start at the identity (1, 0) sits deep in the tail
    a, b = np.zeros(m), np.log((problem.n_pos + 1.0) / (problem.n - problem.n_pos + 1.0))
    state = list(problem.evaluate_constant(b))  # F, g_a, g_b, H_aa, H_ab, H_bb, all (m,)
    d_a, d_b = _newton_direction(*state[1:])
    step = np.ones(m)
    active = np.arange(m)
    passes = 0
    while active.size and passes < max_iter:
        passes += 1
        ta, tb = a[active] + step[active] * d_a[active], b[active] + step[active] * d_b[active]
        trial = problem.evaluate(ta, tb, active)
        slope = state[1][active] * d_a[active] + state[2][active] * d_b[active]  # g . d < 0
        # float32 passes leave ~1e-6 relative noise in F; without the allowance converged labels would backtrack
        allowance = 1e-6 * (np.abs(state[0][active]) + 1.0)
        accept = trial[0] <= state[0][active] + 1e-4 * step[active] * slope + allowance
        # Newton converges quadratically: after a full step of relative size sqrt(tol) the error is ~tol, and
        # polishing further only chases the float32 noise in the sums
        limit = np.where(step[active] == 1.0, np.sqrt(tol), tol)
        moved_a, moved_b = np.abs(ta - a[active]), np.abs(tb - b[active])
        small = (moved_a <= limit * (1.0 + np.abs(ta))) & (moved_b <= limit * (1.0 + np.abs(tb)))
        acc = active[accept]
        a[acc], b[acc] = ta[accept], tb[accept]
        for slot, values in zip(state, trial, strict=True):
            slot[acc] = values[accept]
        d_a[acc], d_b[acc] = _newton_direction(*(slot[acc] for slot in state[1:]))
        step[acc] = 1.0
        # a rejected step whose whole predicted decrease is within the noise cannot be told from the optimum
        at_noise_floor = ~accept & (-step[active] * slope <= allowance)
        step[active[~accept]] *= 0.5
        active = active[~((accept & small) | at_noise_floor | (step[active] < 1e-6))]
    return a, b, np.isin(np.arange(m), active), passes


def _refit_intercept(
    problem: _PlattProblem, a: np.ndarray, index: np.ndarray, tol: float, max_iter: int
) -> tuple[np.ndarray, int, np.ndarray]:
    """b for fixed slopes a (A,), by rtsafe: dF/db = sum sigmoid(a z + b) - sum tau is increasing in b."""

    def grad_hess(b: np.ndarray, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, _, g_b, _, _, h_bb = problem.evaluate(a[sub], b, index[sub])
        return g_b, h_bb

    # beyond |b| = a * max|z| + log-odds of the extreme smoothed targets, every sigmoid sits on the far side
    limit = a * float(np.log((1.0 - EPS) / EPS)) + 2.0 * np.log(problem.n + 2.0) + 10.0
    return safeguarded_newton(grad_hess, np.zeros(len(a)), -limit, limit, tol=tol, max_iter=max_iter)
