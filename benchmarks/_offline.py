"""Imported first by every benchmark: nothing may phone home while it measures.

Each library's telemetry and the cloud metadata lookup are turned off in the environment
before any of them is imported (and so inherited by the servers and MLflow's venv that the
benchmarks start as child processes).
"""

import os

OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "OTEL_SDK_DISABLED": "true",
    "AWS_EC2_METADATA_DISABLED": "true",
}
os.environ.update(OFF)
os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
