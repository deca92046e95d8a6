#!/usr/bin/env bash
# Amazon EMR bootstrap action for migrator: runs on every node before the cluster's applications
# are installed (as the hadoop user, with sudo).
#
#   --bootstrap-actions Name=migrator,Path=s3://BUCKET/migrator/bootstrap.sh,Args=[s3://BUCKET/migrator]
#
# The argument is the S3 prefix deploy/emr/package.sh's output was uploaded to. This script:
# 1. installs Python 3.11 (migrator needs >=3.11,<3.12; EMR 7.x, Amazon Linux 2023, has 3.9 as
#    python3 and python3.11 as a package);
# 2. installs requirements.txt from the prefix with that Python: migrator's runtime dependencies,
#    Spark 4.3 included. EMR 7.x ships Spark 3.5, which lacks the Python streaming data source API
#    that replication uses (Spark 4.2+), so the steps run this Spark on the cluster's YARN;
# 3. links that Spark as /opt/migrator/spark (the same path on every node, so step.json can name
#    its jars as local files) and installs run-step.sh as /opt/migrator/run-step.sh.
# Installing needs PyPI (a NAT gateway, or a mirror configured for pip) and the Amazon Linux
# repositories (an S3 gateway endpoint suffices). See docs/emr.md.
set -euo pipefail

prefix=${1:?usage: bootstrap.sh s3://BUCKET/PREFIX}
prefix=${prefix%/}
python=python3.11
home=/opt/migrator

if ! command -v "$python" >/dev/null; then
  sudo dnf install -y python3.11 python3.11-pip
elif ! "$python" -m pip --version >/dev/null 2>&1; then
  sudo dnf install -y python3.11-pip
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
aws s3 cp --only-show-errors "$prefix/requirements.txt" "$work/requirements.txt"
aws s3 cp --only-show-errors "$prefix/run-step.sh" "$work/run-step.sh"
sudo "$python" -m pip install --no-cache-dir --disable-pip-version-check -r "$work/requirements.txt"

spark_home=$("$python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
sudo mkdir -p "$home"
sudo ln -sfn "$spark_home" "$home/spark"
sudo chmod a+x "$spark_home"/bin/*
sudo install -m 755 "$work/run-step.sh" "$home/run-step.sh"
"$python" -c 'import boto3, pyarrow, pydantic, pymongo, pyspark, yaml; print("pyspark", pyspark.__version__)'
