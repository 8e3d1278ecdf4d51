"""The names of what an MLflow run of a graded submission stores, shared by the logger and `rerun`."""

# The full result record, which `rerun` reads back to re-grade the run exactly.
RESULT_ARTIFACT = "result.json"
# A copy of the submission's files, checked against the run's content hash before a rerun.
SUBMISSION_ARTIFACT_DIR = "submission"
FEEDBACK_ARTIFACT_DIR = "feedback"
GRADING_LOG_ARTIFACT = "grading_log.txt"
MODEL_SUMMARY_ARTIFACT = "model_summary.txt"
# Tags `version.<package>` hold the package versions the run was graded with.
VERSION_TAG_PREFIX = "version."
# Python itself is not a package `rerun` can compare with an installed distribution.
PYTHON_VERSION_TAG = VERSION_TAG_PREFIX + "python"
