#!/usr/bin/env bash
# Build what an Amazon EMR cluster needs to run migrator (docs/emr.md walks through the rest).
#
#   deploy/emr/package.sh [OUT_DIR]          (default: .cache/emr-package)
#   aws s3 cp --recursive OUT_DIR s3://BUCKET/migrator/
#
# OUT_DIR then holds:
#   migrator.zip      the migrator package (.py files and log4j2.properties), for --py-files
#   launch.py         the application file spark-submit runs
#   requirements.txt  the runtime dependencies, Spark 4.3 included, pinned as in requirements-dev.lock
#   bootstrap.sh      the bootstrap action: Python 3.11, the requirements, run-step.sh
#   run-step.sh       what each EMR step runs: fetch migrator.zip and launch.py, spark-submit them
# Only the standard library of any python3 is needed; nothing is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/.cache/emr-package}
python=$(command -v python3 || command -v python)

"$python" "$root/deploy/build_zip.py" "$out"

# The runtime closure of pyproject.toml's dependencies (pymongo for MongoDB targets, amazon-ion for
# Ion exports), versions
# from requirements-dev.lock so the cluster runs exactly what the tests ran.
"$python" - "$root/requirements-dev.lock" "$out/requirements.txt" <<'PY'
import re, sys
lock, out = sys.argv[1], sys.argv[2]
wanted = ["pyspark", "py4j", "pyarrow", "boto3", "botocore", "s3transfer", "jmespath", "python-dateutil",
          "six", "urllib3", "pydantic", "pydantic-core", "annotated-types", "typing-inspection",
          "typing-extensions", "pyyaml", "orjson", "pymongo", "dnspython", "amazon-ion", "jsonconversion", "numpy"]
def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()
pins = {}
with open(lock) as f:
    for line in f:
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[norm(name)] = (name, version)
missing = [n for n in wanted if n not in pins]
if missing:
    sys.exit(f"package.sh: {lock} does not pin {', '.join(missing)}")
with open(out + ".tmp", "w") as f:
    f.write("# migrator's runtime dependencies, pinned as in requirements-dev.lock (deploy/emr/package.sh).\n")
    for n in wanted:
        f.write("%s==%s\n" % pins[n])
PY
mv "$out/requirements.txt.tmp" "$out/requirements.txt"

install -m 755 "$here/bootstrap.sh" "$out/bootstrap.sh"
install -m 755 "$here/run-step.sh" "$out/run-step.sh"
echo "EMR package in $out: $(cd "$out" && ls | tr '\n' ' ')"
