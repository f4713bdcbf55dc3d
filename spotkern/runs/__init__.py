"""Using a trained run: loading its configuration and checkpoints, and predicting with it (``predict_dataset``,
``score_predictions``). It sits above the methods, which define how each stage detects, beside
``spotkern.train``, whose checkpoints it reads."""
from spotkern.runs.predict import check_scorable, detecting_stage, predict_dataset, score_predictions

__all__ = ["check_scorable", "detecting_stage", "predict_dataset", "score_predictions"]
