"""The hand-written export in AWS's layout (``tests/configs/aws-export``) and the items it holds.

The data files (DYNAMODB_JSON lines, or Ion text) are kept as text so that they can be read and
reviewed; :func:`aws_export` gzips them into place, as AWS stores them. ``EXPECTED`` is written out
by hand too, in boto3's form (binary as bytes), not derived from the files with migrator's code.
"""

from __future__ import annotations

import gzip
import os
import shutil

FIXTURE = os.path.join(os.path.dirname(__file__), "configs", "aws-export")
EXPORT_ID = "01764547200000-5f2c9a1e"
SUMMARY_KEY = f"AWSDynamoDB/{EXPORT_ID}/manifest-summary.json"
#: The same items exported in Amazon Ion (``tests/configs/aws-export-ion``), written by hand from AWS's type
#: mapping: numbers as decimals (some written differently, ``1d38``, equal in value), sets as annotated lists.
ION_FIXTURE = os.path.join(os.path.dirname(__file__), "configs", "aws-export-ion")
ION_EXPORT_ID = "01764547200000-ab12cd34"
ION_SUMMARY_KEY = f"AWSDynamoDB/{ION_EXPORT_ID}/manifest-summary.json"

EXPECTED = [
    {"pk": {"S": "order#1"}, "sk": {"N": "1"}, "total": {"N": "12345678901234567890123456789012345678"},
     "tiny": {"N": "-0.00000000000000000000000000000000000001"},
     "huge": {"N": "9.9999999999999999999999999999999999999E+125"}, "note": {"S": ""},
     "title": {"S": "héllo ✓ 日本語 🚀"}},
    {"pk": {"S": "order#1"}, "sk": {"N": "2"}, "payload": {"B": b"\x00\x01\x02\x03\xff"}, "empty_b": {"B": b""},
     "tags": {"SS": ["a", "b", "héllo"]}, "scores": {"NS": ["1", "2.5", "-3", "1E-130"]},
     "blobs": {"BS": [b"\x00", b"\x01\x02"]}},
    {"pk": {"S": "order#2"}, "sk": {"N": "-7.5"}, "paid": {"BOOL": True}, "shipped": {"BOOL": False},
     "gift": {"NULL": True},
     "lines": {"L": [{"S": "a"}, {"N": "1"}, {"NULL": True}, {"L": []}, {"M": {}}, {"B": b"\xff"}]},
     "meta": {"M": {}},
     "address": {"M": {"street": {"S": "1 Main St"},
                       "geo": {"M": {"lat": {"N": "51.5"}, "tags": {"SS": ["x"]}}},
                       "with space": {"S": "ok"}, "dotted.name": {"N": "0"}}}},
    {"pk": {"S": "order#3"}, "sk": {"N": "0"}, "empty_list": {"L": []}},
    {"pk": {"S": "order#4"}, "sk": {"N": "1"}},
    {"pk": {"S": "order#5"}, "sk": {"N": "100000000000000000000000000000000000000"}, "n": {"N": "0.1"}},
    {"pk": {"S": "order#6"}, "sk": {"N": "3"}, "nested": {"L": [{"M": {"k": {"BS": [b"\xff"]}}}, {"NS": ["7"]}]}},
]

TABLE_DESCRIPTION = {
    "attributeDefinitions": [{"name": "pk", "type": "S"}, {"name": "sk", "type": "N"}],
    "keySchema": [{"name": "pk", "type": "HASH"}, {"name": "sk", "type": "RANGE"}],
    "billingMode": "PROVISIONED",
    "provisionedThroughput": {"readCapacityUnits": 5, "writeCapacityUnits": 7},
}


def aws_export(root: str, fixture: str = FIXTURE, export_id: str = EXPORT_ID) -> str:
    """The fixture copied under ``root``, data files gzipped; returns ``root``."""
    shutil.copytree(fixture, root, dirs_exist_ok=True)
    data = os.path.join(root, "AWSDynamoDB", export_id, "data")
    for name in os.listdir(data):
        if name.endswith((".json", ".ion")):
            with open(os.path.join(data, name), "rb") as text, gzip.open(os.path.join(data, name + ".gz"), "wb") as out:
                out.write(text.read())
            os.remove(os.path.join(data, name))
    return root
