#!/usr/bin/env bash
# The demo: installs what it needs under .cache/, starts two DynamoDB Local instances (source and
# target), loads a sample table with every attribute type, migrates it with migrator, prints the
# summary and a comparison of both tables, and stops the servers.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/devtools/setup.sh"
cd "$root"
export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
export PYSPARK_PYTHON="$root/.cache/venv/bin/python"
exec "$PYSPARK_PYTHON" -m devtools.demo "$@"
