#!/usr/bin/env bash
# The test suite: unit tests, then integration tests against local servers that the tests
# start themselves (two DynamoDB Local instances). Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/devtools/setup.sh"
"$root/devtools/pythons.sh" >/dev/null   # Python 3.12 and 3.13, for test_install.py
cd "$root"
export SPARK_LOCAL_IP=127.0.0.1
export PYSPARK_PYTHON="$root/.cache/venv/bin/python"
export PYSPARK_DRIVER_PYTHON="$PYSPARK_PYTHON"
exec "$PYSPARK_PYTHON" -m pytest "$@"
