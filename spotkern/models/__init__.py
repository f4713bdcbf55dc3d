"""Spotting networks: CALF's network (calf.md section 8) and the dense-anchor models (dense_anchors.md
section 4: frame MLP, u-net and Transformer trunks, kernel-3 heads). All trace under
``torch.compile(fullgraph=True)``."""
from spotkern.models.calf import CALFNet, safe_sqrt
from spotkern.models.heads import DenseSpotter, FrameMLP, TemporalHead
from spotkern.models.transformer import DenseTransformer
from spotkern.models.unet import BottleneckBlock, DenseUNet

__all__ = ["CALFNet", "safe_sqrt", "DenseSpotter", "FrameMLP", "TemporalHead", "DenseTransformer",
           "DenseUNet", "BottleneckBlock"]
