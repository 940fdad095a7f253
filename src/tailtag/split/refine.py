"""After iterative stratification: make the subset sizes exact, then improve the spread by swaps.

The paper's greedy pass places each example by one label at a time, so subsets drift off their sizes
(a subset that got many multi-label images holds fewer images for the same label counts) and the most
frequent labels, placed last, absorb whatever the rarer ones left. Two local-search steps follow it:

1. size repair: move units from overfull to underfull subsets, cheapest first;
2. swaps: exchange a unit of subset a with an equally large unit of subset b while that lowers the
   objective, e.g. a two-label image of a subset with too many positives for a single-label image.

Both minimise J = sum_j sum_i |count_ji - f_j * total_i| / target_j over items i (labels, and pairs
for order 2), which at exact sizes is k * L times the mean absolute proportion deviation that
`tailtag.split.quality` reports. `wanted[j, i]` = f_j * total_i - count_ji is kept up to date.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

_MOVE_BATCH = 256  # units moved per scoring round of the size repair
_SHORTLIST = 32  # cheapest units per side considered for swaps in one round
_MAX_SWAP_ROUNDS = 50
_MIN_ROUND_GAIN = 1e-3  # stop swapping when a round lowers J by less than this share


def gather_rows(csr: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of `rows`: (M,) position in `rows` of each entry's row, (M,) column, (M,) value."""
    starts = csr.indptr[rows]
    lengths = csr.indptr[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    positions = np.repeat(starts, lengths) + offsets
    return owner, csr.indices[positions], csr.data[positions]


def move_costs(
    csr: sp.csr_matrix, units: np.ndarray, wanted: np.ndarray, source: int, dest: int, scale: np.ndarray
) -> np.ndarray:
    """(len(units),) change of J if each unit alone moved from `source` to `dest` (negative: better).

    A unit's cost only reads the wanted counts of its own items, which is what lets units with
    disjoint items move in one batch.
    """
    owner, columns, values = gather_rows(csr, units)
    give, take = wanted[source, columns], wanted[dest, columns]  # < 0: already has too many
    change = (np.abs(give + values) - np.abs(give)) * scale[source]
    change += (np.abs(take - values) - np.abs(take)) * scale[dest]
    return np.bincount(owner, weights=change, minlength=len(units))


def _move(csr: sp.csr_matrix, unit: int, source: int, dest: int, placed: np.ndarray, wanted: np.ndarray) -> None:
    columns = csr.indices[csr.indptr[unit] : csr.indptr[unit + 1]]
    values = csr.data[csr.indptr[unit] : csr.indptr[unit + 1]]
    wanted[source, columns] += values
    wanted[dest, columns] -= values
    placed[unit] = dest


def repair_sizes(
    csr: sp.csr_matrix, sizes: np.ndarray, placed: np.ndarray, wanted: np.ndarray, room: np.ndarray, scale: np.ndarray
) -> None:
    """Move units until no subset is over its target while another is under it (in place).

    Args:
        csr: (U, I) item counts of each unit.
        sizes: (U,) images per unit.
        placed: (U,) subset of each unit; updated.
        wanted: (k, I) wanted counts; updated.
        room: (k,) images each subset is short of its target (negative: over); updated.
        scale: (k,) 1 / target size.
    """
    while True:
        source, dest = int(np.argmin(room)), int(np.argmax(room))
        limit = int(min(-room[source], room[dest]))  # images that can move without overshooting
        # one unit up to this size still lowers sum |room| (a group of 4 when 3 over and 2 under)
        largest = int(-room[source] + room[dest] - 1)
        if limit <= 0:
            return
        units = np.flatnonzero((placed == source) & (sizes <= largest))
        if len(units) == 0:
            return  # only groups too big to move are left: the sizes stay off and the caller warns
        cost = move_costs(csr, units, wanted, source, dest, scale)
        shortlist = min(len(units), 4 * min(limit, _MOVE_BATCH))
        best = np.argsort(cost, kind="stable")[:shortlist]
        used: set[int] = set()
        moved = 0
        for unit in units[best].tolist():
            items = set(csr.indices[csr.indptr[unit] : csr.indptr[unit + 1]].tolist())
            fits = moved + sizes[unit] <= limit or moved == 0
            if items & used or not fits:
                continue
            _move(csr, unit, source, dest, placed, wanted)
            used |= items
            moved += int(sizes[unit])
            if moved >= limit or moved >= _MOVE_BATCH:
                break
        room[source] += moved
        room[dest] -= moved


def improve_by_swaps(
    csr: sp.csr_matrix, sizes: np.ndarray, placed: np.ndarray, wanted: np.ndarray, scale: np.ndarray
) -> int:
    """Swap equally large units between subsets while J drops; sizes stay as they are. In place.

    Each round, for every ordered pair of subsets (a, b), the `_SHORTLIST` units of a whose move to b
    would help most are paired with the units of b whose move to a would hurt least, and each pair's
    exact change of J decides. Rounds stop when one gains less than `_MIN_ROUND_GAIN` of J (the search
    has converged for practical purposes) or after `_MAX_SWAP_ROUNDS`. Returns the number of swaps.
    """
    k = wanted.shape[0]
    owner = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))  # (nnz,) unit of each entry
    swaps = 0
    for _ in range(_MAX_SWAP_ROUNDS):
        before = _objective(wanted, scale)
        # costs go stale as swaps are made within the round; they only rank the shortlists, and every
        # swap is checked exactly against the current counts, so staleness costs speed, never quality
        costs = [_costs_to(csr, owner, placed, wanted, scale, dest) for dest in range(k)]
        made = 0
        for a in range(k):
            for b in range(k):
                if a != b:
                    made += _swap_round(csr, sizes, placed, wanted, scale, a, b, costs[b], costs[a])
        swaps += made
        if made == 0 or before - _objective(wanted, scale) < _MIN_ROUND_GAIN * before:
            break
    return swaps


def _objective(wanted: np.ndarray, scale: np.ndarray) -> float:
    return float((np.abs(wanted) * scale[:, None]).sum())


def _costs_to(csr, owner, placed, wanted, scale, dest: int) -> np.ndarray:
    """(U,) change of J if each unit alone moved from its subset to `dest` (0 for units already there)."""
    source = placed[owner]
    give, take = wanted[source, csr.indices], wanted[dest, csr.indices]
    change = (np.abs(give + csr.data) - np.abs(give)) * scale[source]
    change += (np.abs(take - csr.data) - np.abs(take)) * scale[dest]
    change[source == dest] = 0.0
    return np.bincount(owner, weights=change, minlength=csr.shape[0])


def _cheapest(units: np.ndarray, cost: np.ndarray, n: int) -> list[int]:
    """The n units of lowest cost, cheapest first (ties: lower index, for determinism)."""
    if len(units) > n:
        units = units[np.argpartition(cost[units], n - 1)[:n]]
    return units[np.lexsort((units, cost[units]))].tolist()


def _swap_round(csr, sizes, placed, wanted, scale, a: int, b: int, cost_to_b, cost_to_a) -> int:
    """Best swaps between the shortlists of subsets a and b, each checked exactly; returns how many."""
    from_a, from_b = np.flatnonzero(placed == a), np.flatnonzero(placed == b)
    if len(from_a) == 0 or len(from_b) == 0:
        return 0
    out_of_a, out_of_b = _cheapest(from_a, cost_to_b, _SHORTLIST), _cheapest(from_b, cost_to_a, _SHORTLIST)
    items = {u: _items(csr, u) for u in out_of_a + out_of_b}
    # plain lists: this loop reads single entries, where numpy indexing costs ten times more
    wanted_a, wanted_b, scale_a, scale_b = wanted[a].tolist(), wanted[b].tolist(), float(scale[a]), float(scale[b])
    taken: set[int] = set()
    made = 0
    for u in out_of_a:
        best, partner = -1e-12, None
        for v in out_of_b:
            if v in taken or sizes[u] != sizes[v]:
                continue
            change = _swap_change(items[u], items[v], wanted_a, wanted_b, scale_a, scale_b)
            if change < best:
                best, partner = change, v
        if partner is not None:
            _move(csr, u, a, b, placed, wanted)
            _move(csr, partner, b, a, placed, wanted)
            for item in (*items[u], *items[partner]):
                wanted_a[item], wanted_b[item] = float(wanted[a, item]), float(wanted[b, item])
            taken.add(partner)
            made += 1
    return made


def _items(csr: sp.csr_matrix, unit: int) -> dict[int, int]:
    start, stop = csr.indptr[unit], csr.indptr[unit + 1]
    return dict(zip(csr.indices[start:stop].tolist(), csr.data[start:stop].tolist(), strict=True))


def _swap_change(
    u: dict[int, int], v: dict[int, int], wanted_a: list[float], wanted_b: list[float], scale_a: float, scale_b: float
) -> float:
    """Exact change of J when unit u goes from subset a to b and unit v from b to a."""
    net = dict(u)
    for item, count in v.items():
        net[item] = net.get(item, 0) - count
    change = 0.0
    for item, d in net.items():
        if d:
            wa, wb = wanted_a[item], wanted_b[item]
            change += (abs(wa + d) - abs(wa)) * scale_a + (abs(wb - d) - abs(wb)) * scale_b
    return change
