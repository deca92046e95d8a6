#!/usr/bin/env bash
# Run migrator on a Spark cluster through spark-submit.
#
#   ./submit.sh [SPARK-SUBMIT OPTIONS...] run --config config.yaml [--dry-run]
#   ./submit.sh [SPARK-SUBMIT OPTIONS...] validate --config config.yaml [--report report.json]
#   ./submit.sh --master spark://host:7077 --conf spark.executor.memory=4g run --config config.yaml
#
# Everything before the migrator command (run, validate) goes to spark-submit unchanged; everything
# after it goes to migrator. The migrator package is zipped and shipped with --py-files, so
# executors need only Python 3.11 and its dependencies (boto3, pydantic, pyyaml, pyarrow, and
# pymongo for MongoDB targets: deploy/emr/package.sh writes them pinned to requirements.txt), on
# every node or in an environment shipped with the job: see docs/cluster.md.
# SPARK_SUBMIT names the spark-submit to use (default: $SPARK_HOME/bin/spark-submit, else the one
# of .cache/venv, else the one on PATH).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

spark_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    run|validate) break ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) spark_args+=("$1"); shift ;;
  esac
done
[ $# -gt 0 ] || usage

if [ -n "${SPARK_SUBMIT:-}" ]; then
  submit=$SPARK_SUBMIT
elif [ -n "${SPARK_HOME:-}" ]; then
  submit=$SPARK_HOME/bin/spark-submit
elif [ -x "$here/.cache/venv/bin/spark-submit" ]; then
  submit=$here/.cache/venv/bin/spark-submit
else
  submit=spark-submit
fi

build="${MIGRATOR_BUILD_DIR:-$here/.cache/submit}"
mkdir -p "$build"
python=$(command -v python3 || command -v python)
"$python" "$here/deploy/build_zip.py" "$build"

# The driver-side process that plans streaming micro-batches does not see --py-files; PYTHONPATH,
# which the driver's JVM passes on to it, does (client deploy mode; see README for cluster mode).
export PYTHONPATH="$build/migrator.zip${PYTHONPATH:+:$PYTHONPATH}"
exec "$submit" --name "migrator" --py-files "$build/migrator.zip" "${spark_args[@]}" "$build/launch.py" "$@"
