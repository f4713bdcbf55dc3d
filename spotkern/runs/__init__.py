"""Using a trained run: loading its configuration and checkpoints, and predicting with it (``predict_dataset``,
``score_predictions``). It sits above the methods, which define how each stage detects, beside
``spotkern.train``, whose checkpoints it reads."""
from spotkern.runs.predict import check_scorable, predict_dataset, run_default_postprocess, score_predictions
from spotkern.runs.stages import detecting_stage
from spotkern.runs.trained import TrainedRun, read_run_config

__all__ = ["TrainedRun", "check_scorable", "detecting_stage", "predict_dataset", "read_run_config",
           "run_default_postprocess", "score_predictions"]
