"""Validation speed: ``migrator validate`` beside the snapshot copy of the same table, one run.

Two DynamoDB Local servers; a generated table of mixed item sizes is copied with
``python -m migrator run`` and then validated with ``python -m migrator validate`` (both real CLI
runs on an embedded ``local[N]`` Spark). Printed: the copy's items/s, the validation's items/s
(both sides scanned, joined by key, compared) and their ratio: a validation should cost no more
than a copy (ratio >= 1).

    .cache/venv/bin/python -m bench.validate [--items 50000] [--segments 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from devtools import datagen  # noqa: E402
from devtools.servers import start_pair  # noqa: E402


def cli(*args: str) -> str:
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    done = subprocess.run([sys.executable, "-m", "migrator", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--segments", type=int, default=2)
    args = parser.parse_args()
    source, target = start_pair()
    try:
        print(f"loading {args.items:,} items of mixed sizes...", flush=True)
        datagen.create_table(source.client(), "bench_validate")
        datagen.put_items(source.client(), "bench_validate", datagen.generate_items(args.items, seed=3), threads=8)
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "c.yaml")
            with open(config, "w") as f:
                f.write(f"""
source: {{type: dynamodb, table: bench_validate, endpoint: {{host: 127.0.0.1, port: {source.port}}},
          region: us-east-1, credentials: {{accessKey: b, secretKey: b}}, scanSegments: {args.segments}}}
target: {{type: dynamodb, endpoint: {{host: 127.0.0.1, port: {target.port}}},
          region: us-east-1, credentials: {{accessKey: b, secretKey: b}}}}
""")
            master = f"local[{args.segments}]"
            copied = cli("run", "--config", config, "--master", master)
            m = re.search(r"this run\s*: ([\d,]+) items .* in ([\d,.]+) s", copied)
            copy_rate = int(m.group(1).replace(",", "")) / float(m.group(2).replace(",", ""))
            validated = cli("validate", "--config", config, "--master", master)
            v = re.search(r"compared\s*: ([\d,]+) keys.* in ([\d,.]+) s", validated)
            keys, seconds = int(v.group(1).replace(",", "")), float(v.group(2).replace(",", ""))
            assert "EQUAL" in validated, validated
    finally:
        source.stop()
        target.stop()
    print(f"RESULT items={args.items} segments={args.segments}: copy {copy_rate:,.0f} items/s, validate "
          f"{keys / seconds:,.0f} items/s ({keys:,} keys in {seconds:.1f} s), validate/copy ratio "
          f"{keys / seconds / copy_rate:.2f} (target >= 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
