"""Names in the Spark UI: job groups, descriptions and stage names ("snapshot <table>").

PySpark names each stage after the Python line that triggered it ("collect at snapshot.py:234")
and overwrites any call site set before the action. Its own guard against nested actions is a
depth counter on ``SCCallSiteSync``: raising it while our name is set keeps our name. That is a
private detail of PySpark (pinned in pyproject.toml); a test checks the stage names, so an upgrade
that changes it fails loudly instead of silently renaming stages.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


@contextlib.contextmanager
def spark_job(sc: Any, group: str, description: str, stage_name: str) -> Iterator[None]:
    """Run the actions of the block as job group ``group``, with ``stage_name`` on their stages."""
    from pyspark.traceback_utils import SCCallSiteSync

    sc.setJobGroup(group, description, interruptOnCancel=True)
    SCCallSiteSync._spark_stack_depth += 1
    sc._jsc.setCallSite(stage_name)
    try:
        yield
    finally:
        SCCallSiteSync._spark_stack_depth -= 1
        sc._jsc.setCallSite(None)
