"""Reporting: leaderboard tables, MLflow publishing, the UI and the course site."""

import os

# Grading machines are often offline and grading records are the course's own: MLflow 3 would
# otherwise start a usage-telemetry client in every process that imports it. Set here, so that it
# holds before any reporting module imports MLflow, whichever is imported first.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
