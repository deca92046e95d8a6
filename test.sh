#!/usr/bin/env bash
# The test suite: unit tests, then integration tests against local servers that the tests
# start themselves (two DynamoDB Local instances). Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/devtools/setup.sh"
cd "$root"
export SPARK_LOCAL_IP=127.0.0.1
export PYSPARK_PYTHON="$root/.cache/venv/bin/python"
export PYSPARK_DRIVER_PYTHON="$PYSPARK_PYTHON"
exec "$PYSPARK_PYTHON" -m pytest "$@"
