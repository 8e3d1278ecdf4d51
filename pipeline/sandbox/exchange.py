"""The files a grader and its two sandboxed steps exchange in one submission's scratch folder.

    build_control/job.json  input shape and class count only  (grader -> build step, read-only; a
                     sandbox started ahead of its submission waits for it)
    control/job.json  schedule, shapes, limits, threads      (grader -> train step, read-only)
    public.npz       public train/validation arrays          (grader -> train step, read-only)
    hidden_x.npy     hidden test inputs, never their labels  (grader -> train step, read-only)
    build/model.json      the architecture as a Keras config (build step -> train step, data)
    build/forward_train.pb, build/forward_infer.pb, build/manifest.json
                          a custom model traced to two graphs and the list of its weights
                          (build step -> train step, data checked against an op allow-list)
    build/result.json     build status, error, input layout     (build step -> grader, a claim)
    build/model_from_notebook.py  the code graded from model.ipynb, for the student
    out/result.json  status, counts, history, timings        (train step -> grader)
    control/go, control/stop  the grader's word to the waiting train step (grader -> train step)
    out/weights.npz  the trained weights, trainable ones first (train step -> grader, for the recount)
    out/predictions.npy   outputs for hidden_x              (trainer -> grader)
    out/val_predictions.npy  outputs for the validation inputs, for feedback (trainer -> grader)
    out/model_config.json    model.to_json(), for duplicate detection        (trainer -> grader)
    out/model_summary.txt                                    (trainer -> grader)

Kept apart from the trainer so the grader can name these files without importing TensorFlow.
"""

# The prepared files, copied into the scratch folder under their own names.
from pipeline.data.layout import HIDDEN_X_FILE, PUBLIC_FILE  # noqa: F401

JOB_FILE = "job.json"
BUILD_DIR = "build"
# The build step's own control folder: it sees the input shape and class count, nothing else.
BUILD_CONTROL_DIR = "build_control"
# The train step starts while the build step runs (its imports overlap the build) and waits here
# for the grader's word: GO_FILE once the build succeeded, STOP_FILE if it failed.
CONTROL_DIR, GO_FILE, STOP_FILE = "control", "go", "stop"
# What the build step hands the train step: a Keras config (Keras' own layers only), or a traced
# graph pair and its manifest (custom layers and models). Never weights.
MODEL_CONFIG_FROM_BUILD = "model.json"
TRACED_TRAIN_GRAPH, TRACED_INFER_GRAPH, TRACED_MANIFEST = "forward_train.pb", "forward_infer.pb", "manifest.json"
# The most a build may hand over: a graph bigger than this is refused unread.
MAX_BUILD_FILE_BYTES = 256 * 2**20
OUT_DIR = "out"
WEIGHTS_FILE = "weights.npz"
# Inside the weights archive: "trainable_0", ... then "non_trainable_0", ...
TRAINABLE_PREFIX, NON_TRAINABLE_PREFIX = "trainable_", "non_trainable_"
RESULT_FILE = "result.json"
PREDICTIONS_FILE = "predictions.npy"
SUMMARY_FILE = "model_summary.txt"
VAL_PREDICTIONS_FILE = "val_predictions.npy"
MODEL_CONFIG_FILE = "model_config.json"
NOTEBOOK_SOURCE_FILE = "model_from_notebook.py"
# The trainer's own log lines carry this prefix, so the grader can show them apart from noise.
LOG_PREFIX = "[train] "
