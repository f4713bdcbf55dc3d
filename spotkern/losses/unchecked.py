"""The losses' unchecked fast paths, for the package's own callers (the training step): validated,
canonical arguments only, as ``spotkern.ops.unchecked`` is for the ops.

Each name is the loss's ``_<loss>_impl``: tensors of the canonical dtype and shape, options already
checked; it validates nothing, reads no data on the host and traces under ``torch.compile(fullgraph=True)``.
Code that does not already hold canonical tensors calls the public loss (``spotkern.losses.<loss>``).
"""
from spotkern.losses.calf_spotting import _calf_spotting_loss_impl as calf_spotting_loss
from spotkern.losses.dense import _dense_confidence_loss_impl as dense_confidence_loss
from spotkern.losses.dense import _dense_displacement_loss_impl as dense_displacement_loss

__all__ = ["calf_spotting_loss", "dense_confidence_loss", "dense_displacement_loss"]
