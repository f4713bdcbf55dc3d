"""CUDA kernel of CALF's matching of GT slots to prediction slots (calf.md section 6): custom op
``spotkern::reciprocal_matching``, methods "calf" and "optimal".

One program per chunk holds the (N, N) similarity matrix in registers (N <= NP, a power of two)
and runs every round inside the kernel:

* "calf": phase A (real rows) then phase B (padded rows), each a loop of proposal rounds: every
  unmatched row of the phase proposes to its most similar free column (lowest column on ties),
  every column accepts its most similar proposer (lowest row on ties). Each round matches at least
  one row, so N rounds per phase suffice (extra rounds match nothing). Explicit row/column masks,
  so a similarity of exactly 0 is never taken for "masked".
* "optimal": the real rows take a minimum-total-|x - p| assignment (the shortest-augmenting-path
  Hungarian method with potentials, in float64, the same operations in the same order as the CPU
  kernel, so ties resolve identically), then phase B as above.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from spotkern.triton._common import pow2


@triton.jit
def _proposal_rounds(sim, phase_rows, row_done, col_free, perm, N, NP: tl.constexpr):
    """Proposal rounds over the rows ``phase_rows`` (NP,) bool; returns (row_done, col_free, perm)."""
    ri = tl.arange(0, NP)[:, None]
    cj = tl.arange(0, NP)[None, :]
    for _ in range(0, N):
        active = phase_rows & ~row_done
        allowed = active[:, None] & col_free[None, :]
        masked = tl.where(allowed, sim, float("-inf"))
        best = tl.max(masked, axis=1)
        prop = tl.min(tl.where(allowed & (masked == best[:, None]), cj, NP), axis=1)  # (NP,) column or NP
        proposes = active[:, None] & (cj == prop[:, None])
        offered = tl.where(proposes, sim, float("-inf"))
        top = tl.max(offered, axis=0)
        winner = tl.min(tl.where(proposes & (offered == top[None, :]), ri, NP), axis=0)  # (NP,) row or NP
        accepted = proposes & (ri == winner[None, :])
        acc_row = tl.max(accepted.to(tl.int32), axis=1) > 0
        acc_col = tl.max(accepted.to(tl.int32), axis=0) > 0
        perm = tl.where(acc_row, prop.to(tl.int64), perm)
        row_done = row_done | acc_row
        col_free = col_free & ~acc_col
    return row_done, col_free, perm


@triton.jit
def _pick(vec, idx, index):
    """vec[index] for a scalar index (a masked sum: registers cannot be indexed dynamically)."""
    return tl.sum(tl.where(idx == index, vec, tl.zeros_like(vec)), axis=0)


@triton.jit
def _hungarian(x, p, real, N, NP: tl.constexpr, NP1: tl.constexpr):
    """Minimum-cost assignment of the real rows to the columns, cost |x_i - p_j| in float64.

    Vectors of NP1 > N lanes indexed like the CPU kernel: column lanes 1..N (lane 0 is the
    virtual column), row lanes 1..n for the n real rows in ascending order. Returns perm (NP,)
    int64 with -1 for the padded rows, and the taken columns (NP,) bool."""
    lane = tl.arange(0, NP1)
    i_np = tl.arange(0, NP)
    col_ok = (lane >= 1) & (lane <= N)
    # real row k (1-based) -> GT slot: rank the real rows with a prefix count.
    rank = tl.cumsum(real.to(tl.int32), 0)  # (NP,) 1-based rank of each real row
    n = tl.sum(real.to(tl.int32), 0)
    p_lane = tl.zeros((NP1,), tl.float64)
    for j in range(0, N):  # p_lane[j + 1] = p[j]
        p_lane = tl.where(lane == j + 1, _pick(p, i_np, j).to(tl.float64), p_lane)
    inf = float("inf")
    u = tl.zeros((NP1,), tl.float64)
    v = tl.zeros((NP1,), tl.float64)
    owner = tl.zeros((NP1,), tl.int32)  # owner[j] = row (1-based) holding column j, 0 if none
    way = tl.zeros((NP1,), tl.int32)
    for i in range(1, n + 1):
        owner = tl.where(lane == 0, i, owner)
        j0 = tl.zeros((), tl.int32)
        minv = tl.full((NP1,), inf, tl.float64)
        used = lane < 0
        in_tree = lane < 0  # rows (1-based lanes) owning a used column
        searching = j0 == 0
        while searching:
            used = used | (lane == j0)
            i0 = _pick(owner, lane, j0)
            in_tree = in_tree | (lane == i0)
            slot = tl.min(tl.where(real & (rank == i0), i_np, NP), axis=0)  # GT slot of row i0
            xi = _pick(x, i_np, slot).to(tl.float64)
            ui0 = _pick(u, lane, i0)
            cur = tl.abs(xi - p_lane) - ui0 - v
            better = col_ok & ~used & (cur < minv)
            minv = tl.where(better, cur, minv)
            way = tl.where(better, j0, way)
            cand = col_ok & ~used
            delta = tl.min(tl.where(cand, minv, inf), axis=0)
            j1 = tl.min(tl.where(cand & (minv == delta), lane, NP1), axis=0)
            # u[owner[j]] += delta for the used columns: their owners are the rows met so far in this
            # search (owners do not change before the augmentation), all distinct.
            u = tl.where(in_tree, u + delta, u)
            v = tl.where(used, v - delta, v)
            minv = tl.where(used, minv, minv - delta)
            j0 = j1
            searching = _pick(owner, lane, j0) != 0
        # Augment along the alternating path back to the virtual column.
        augmenting = j0 != 0
        while augmenting:
            j1 = _pick(way, lane, j0)
            owner = tl.where(lane == j0, _pick(owner, lane, j1), owner)
            j0 = j1
            augmenting = j0 != 0
    # perm[slot of row owner[j]] = j - 1 for the owned columns.
    row_of_slot = tl.where(real, rank, -1)  # (NP,) 1-based row index of each real slot
    hit = (owner[None, :] == row_of_slot[:, None]) & col_ok[None, :] & (owner[None, :] > 0)  # (NP, NP1)
    perm = tl.max(tl.where(hit, lane[None, :] - 1, -1), axis=1).to(tl.int64)
    taken = tl.max(tl.where(hit, i_np[:, None] * 0 + 1, 0), axis=0)  # (NP1,) per column lane
    col_taken = tl.zeros((NP,), tl.int32)
    for j in range(0, N):  # column lane j + 1 -> column j
        col_taken = tl.where(i_np == j, _pick(taken, lane, j + 1), col_taken)
    return perm, col_taken > 0


@triton.jit
def _reciprocal_matching_kernel(x_ptr, presence_ptr, p_ptr, perm_ptr, N,
                               NP: tl.constexpr, NP1: tl.constexpr, OPTIMAL: tl.constexpr):
    """x, p (B, N) float32; presence (B, N) bool or float32 (non-zero = real row); perm (B, N)
    int64. Grid (B,)."""
    b = tl.program_id(0).to(tl.int64)
    i = tl.arange(0, NP)
    valid = i < N
    base = b * N
    x = tl.load(x_ptr + base + i, mask=valid, other=0.0)
    p = tl.load(p_ptr + base + i, mask=valid, other=0.0)
    real = (tl.load(presence_ptr + base + i, mask=valid, other=0) != 0) & valid
    # Similarity in float32 (calf.md section 6): one subtraction, one abs, one subtraction.
    sim = 1.0 - tl.abs(x[:, None] - p[None, :])
    if OPTIMAL:
        perm, col_taken = _hungarian(x, p, real, N, NP, NP1)
        row_done = real | ~valid
        col_free = valid & ~col_taken
    else:
        perm = tl.full((NP,), -1, tl.int64)
        row_done = ~valid
        col_free = valid
        row_done, col_free, perm = _proposal_rounds(sim, real, row_done, col_free, perm, N, NP)
    row_done, col_free, perm = _proposal_rounds(sim, valid & ~real, row_done, col_free, perm, N, NP)
    tl.store(perm_ptr + base + i, perm, mask=valid)


#: Largest slot count per chunk on CUDA (compile-checked without spills in COMPILE_SPECS).
MAX_SLOTS = 64


def reciprocal_matching_triton(gt_positions: torch.Tensor, gt_presence: torch.Tensor, pred_positions: torch.Tensor,
                               method: str) -> torch.Tensor:
    """Launcher: (B, N) float32 positions, (B, N) bool/float32 presence -> perm (B, N) int64."""
    B, N = gt_positions.shape
    if N > MAX_SLOTS:  # one program holds the (N, N) similarity tile in registers
        raise ValueError(f"reciprocal_matching: N = {N} slots exceeds the CUDA kernel's limit of {MAX_SLOTS}; "
                         "match on the CPU (.cpu()) for larger N")
    perm = torch.empty((B, N), dtype=torch.int64, device=gt_positions.device)
    if B == 0 or N == 0:
        return perm
    NP = pow2(N, 2)
    optimal = method == "optimal"
    _reciprocal_matching_kernel[(B,)](gt_positions, gt_presence, pred_positions, perm, N, NP=NP,
                                     NP1=pow2(N + 1, 2), OPTIMAL=optimal, num_warps=1 if NP <= 16 else 4)
    return perm


@torch.library.register_kernel("spotkern::reciprocal_matching", "cuda")
def _reciprocal_matching_cuda(gt_positions, gt_presence, pred_positions, method):
    return reciprocal_matching_triton(gt_positions.contiguous(), gt_presence.contiguous(), pred_positions.contiguous(),
                               method)


def _spec(presence: str, N: int, optimal: bool):
    sig = {"x_ptr": "*fp32", "presence_ptr": presence, "p_ptr": "*fp32", "perm_ptr": "*i64", "N": "i32",
           "NP": "constexpr", "NP1": "constexpr", "OPTIMAL": "constexpr"}
    NP = pow2(N, 2)
    return (_reciprocal_matching_kernel, sig, {"NP": NP, "NP1": pow2(N + 1, 2), "OPTIMAL": optimal},
            {"num_warps": 1 if NP <= 16 else 4})


# Both presence dtypes and both methods at N = 15 (SoccerNet-v2); N = 5 (v1) and N = 32 (4 warps).
COMPILE_SPECS = ([_spec(pres, 15, opt) for pres in ("*i1", "*fp32") for opt in (False, True)]
                 + [_spec("*i1", N, opt) for N in (5, 32, MAX_SLOTS) for opt in (False, True)])
