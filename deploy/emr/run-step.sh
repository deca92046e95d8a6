#!/usr/bin/env bash
# What an EMR step runs (step.json): fetch migrator.zip and launch.py, then spark-submit them.
#
#   run-step.sh PREFIX [SPARK-SUBMIT OPTIONS...] run --config CONFIG [--dry-run]
#   run-step.sh PREFIX [SPARK-SUBMIT OPTIONS...] validate --config CONFIG [--report REPORT]
#
# PREFIX is where deploy/emr/package.sh's output was uploaded (s3://bucket/migrator), or a local
# directory. Everything between PREFIX and the migrator command goes to spark-submit unchanged;
# everything after it goes to migrator. bootstrap.sh installs this script as
# /opt/migrator/run-step.sh on every node.
#
# - The files are fetched again by every step, so a new upload takes effect at the next step.
# - The zip also goes on spark-submit's PYTHONPATH: the driver-side Python process that plans
#   streaming micro-batches is started by the driver's JVM with that environment and does not
#   see --py-files.
# - SIGTERM (EMR's step cancellation) and SIGINT are passed to migrator's Python driver, which then
#   stops as its CLI does: the snapshot saves its savepoint, replication stops after the batch in
#   flight. A signal sent to spark-submit's JVM instead would stop Spark under it.
#
# SPARK_SUBMIT names the spark-submit to use (default: /opt/migrator/spark/bin/spark-submit, the
# Spark 4.3 that bootstrap.sh installed). HADOOP_CONF_DIR defaults to /etc/hadoop/conf when it
# exists (the cluster's YARN and HDFS).
set -euo pipefail

usage() {
  sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -gt 0 ] || usage
case "$1" in -h|--help) usage ;; esac
prefix=${1%/}
shift
spark_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    run|validate) break ;;
    --) shift; break ;;
    *) spark_args+=("$1"); shift ;;
  esac
done
[ $# -gt 0 ] || usage

work=$(mktemp -d "${TMPDIR:-/tmp}/migrator-step.XXXXXX")
trap 'rm -rf "$work"' EXIT
for name in migrator.zip launch.py; do
  case "$prefix" in
    s3://*|s3a://*|s3n://*) aws s3 cp --only-show-errors "s3://${prefix#*://}/$name" "$work/$name" ;;
    *) cp "$prefix/$name" "$work/$name" ;;
  esac
done

submit=${SPARK_SUBMIT:-/opt/migrator/spark/bin/spark-submit}
if [ -z "${HADOOP_CONF_DIR:-}" ] && [ -d /etc/hadoop/conf ]; then
  export HADOOP_CONF_DIR=/etc/hadoop/conf
fi
export PYTHONPATH="$work/migrator.zip${PYTHONPATH:+:$PYTHONPATH}"

# spark-submit execs its JVM, so $jvm is the JVM; the Python driver is its child running launch.py.
"$submit" --name migrator --py-files "$work/migrator.zip" ${spark_args[@]+"${spark_args[@]}"} \
  "$work/launch.py" "$@" &
jvm=$!

interrupted=
forward() {
  local driver
  interrupted=1
  driver=$(pgrep -P "$jvm" -f 'launch\.py' | head -n 1 || true)
  if [ -n "$driver" ]; then
    echo "run-step.sh: SIG$1: passing it to the migrator driver (pid $driver)" >&2
  else
    echo "run-step.sh: SIG$1 before the migrator driver started: passing it to spark-submit (pid $jvm)" >&2
  fi
  kill -s "$1" "${driver:-$jvm}" 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT

# A trapped signal interrupts `wait` (status > 128) while spark-submit runs on: wait again.
while :; do
  interrupted=
  wait "$jvm" && status=0 || status=$?
  if [ -z "$interrupted" ] || [ "$status" -le 128 ]; then
    break
  fi
done
exit "$status"
