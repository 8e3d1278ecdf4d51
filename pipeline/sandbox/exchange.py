"""The files a grader and its sandboxed trainer exchange in one submission's scratch folder.

    job.json         schedule, shapes, limits, threads       (grader -> trainer)
    public.npz       public train/validation arrays          (grader -> trainer)
    hidden_x.npy     hidden test inputs, never their labels  (grader -> trainer)
    out/result.json  status, counts, history, timings        (trainer -> grader)
    out/predictions.npy   outputs for hidden_x              (trainer -> grader)
    out/val_predictions.npy  outputs for the validation inputs, for feedback (trainer -> grader)
    out/model_config.json    model.to_json(), for duplicate detection        (trainer -> grader)
    out/model_summary.txt                                    (trainer -> grader)
    out/model_from_notebook.py  the code graded from model.ipynb, for the student (trainer -> grader)

Kept apart from the trainer so the grader can name these files without importing TensorFlow.
"""

from pipeline.data.layout import HIDDEN_X_FILE, PUBLIC_FILE  # the prepared files, copied in under their own names

JOB_FILE = "job.json"
OUT_DIR = "out"
RESULT_FILE = "result.json"
PREDICTIONS_FILE = "predictions.npy"
SUMMARY_FILE = "model_summary.txt"
VAL_PREDICTIONS_FILE = "val_predictions.npy"
MODEL_CONFIG_FILE = "model_config.json"
NOTEBOOK_SOURCE_FILE = "model_from_notebook.py"
# The trainer's own log lines carry this prefix, so the grader can show them apart from noise.
LOG_PREFIX = "[train] "
