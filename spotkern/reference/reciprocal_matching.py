"""CALF iterative reciprocal matching (calf.md section 6), twice:

* ``reciprocal_matching_ref``: plain numpy, straight from the proposal-round statement;
* ``reciprocal_matching_masked_ref``: torch, in the public implementation's per-operator style
  (masked one-hot/argmax, exactly N iterations per phase, similarity 0 doubling as "masked"). It is
  the second, independent oracle and the baseline that users replace. It agrees with the first one
  except in the degenerate case sim = 0 (a position 1.0 against a padded row at 0.0).
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch


def _match_one_chunk(x: np.ndarray, real: np.ndarray, p: np.ndarray) -> np.ndarray:
    N = len(x)
    sim = np.float32(1) - np.abs(x[:, None] - p[None, :])  # float32 throughout
    perm = np.full(N, -1, dtype=np.int64)
    col_free = np.ones(N, dtype=bool)
    # Phase A: the real rows; phase B: the padded rows, over the columns still free.
    for phase_rows in (np.flatnonzero(real), np.flatnonzero(~real)):
        unmatched: list[int] = phase_rows.tolist()
        while unmatched:  # one proposal round
            proposals: dict[int, list[int]] = {}
            for i in unmatched:  # ascending row order
                free = np.flatnonzero(col_free)
                j = int(free[np.argmax(sim[i, free])])  # most similar free column, lowest on ties
                proposals.setdefault(j, []).append(i)
            for j, rows in proposals.items():
                i = rows[int(np.argmax(sim[rows, j]))]  # best proposer, lowest row on ties
                perm[i] = j
                col_free[j] = False
                unmatched.remove(i)
    return perm


def reciprocal_matching_ref(gt_positions: npt.ArrayLike, gt_presence: npt.ArrayLike,
                            pred_positions: npt.ArrayLike) -> np.ndarray:
    """CALF matching from the proposal-round statement.

    gt_positions, pred_positions: (N,) or (B, N) float32. gt_presence: same shape, bool or 0/1.
    Returns perm (N,) or (B, N) int64: perm[..., i] = prediction slot matched to GT slot i.
    """
    x = np.asarray(gt_positions, dtype=np.float32)
    real = np.asarray(gt_presence) != 0
    p = np.asarray(pred_positions, dtype=np.float32)
    if x.ndim == 1:
        return _match_one_chunk(x, real, p)
    return np.stack([_match_one_chunk(*args) for args in zip(x, real, p)])


def reciprocal_matching_masked_ref(gt_positions: torch.Tensor, gt_presence: torch.Tensor,
                                   pred_positions: torch.Tensor) -> torch.Tensor:
    """CALF matching in the masked one-hot/argmax formulation (calf.md section 6), eager torch.

    gt_positions, pred_positions: (B, N) float32 tensors; gt_presence: (B, N) 0/1 (any dtype).
    Returns perm (B, N) int64. Each iteration: row argmax over the free columns, column argmax over
    the proposing rows, accept the reciprocal pairs; N iterations per phase, no early exit.
    """
    N = gt_positions.shape[-1]
    alpha = gt_presence.to(torch.float32)
    sim = 1 - torch.abs(gt_positions.unsqueeze(-1) - pred_positions.unsqueeze(-2))  # (B, N, N)
    matched = torch.zeros_like(sim)  # matched[b, i, j] = 1 if row i holds column j
    for phase_rows in (alpha, 1 - alpha):
        for _ in range(N):
            row_free = (1 - matched.sum(-1)) * phase_rows  # (B, N)
            col_free = 1 - matched.sum(-2)  # (B, N)
            masked = sim * row_free.unsqueeze(-1) * col_free.unsqueeze(-2)
            proposals = torch.nn.functional.one_hot(masked.argmax(-1), N) * row_free.unsqueeze(-1)
            offered = proposals * masked
            accepted = torch.nn.functional.one_hot(offered.argmax(-2), N).transpose(-1, -2)
            matched = matched + proposals * accepted
    return matched.argmax(-1)
