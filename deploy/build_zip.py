"""Build what spark-submit ships to a cluster: ``migrator.zip`` and ``launch.py``.

    python3 deploy/build_zip.py OUT_DIR

``migrator.zip`` holds the ``migrator`` package as ``--py-files`` wants it: every ``.py`` file and
``migrator/log4j2.properties`` (the package data of pyproject.toml), without ``__pycache__``.
``launch.py`` is the application file spark-submit runs. Both are replaced atomically, so a
spark-submit running from OUT_DIR never sees half a file. Entries are sorted and dated 1980-01-01:
the same sources give the same bytes, so a changed checksum means changed code.

Used by ``submit.sh`` and ``deploy/emr/package.sh``; the standard library only, Python 3.7 or later.
"""

from __future__ import annotations

import os
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DATA = ("log4j2.properties",)
LAUNCH = "from migrator.cli import main\nraise SystemExit(main())\n"
# The earliest date a zip entry can carry: fixed, so that the archive depends on contents only.
EPOCH = (1980, 1, 1, 0, 0, 0)


def package_files(root: str = ROOT) -> list[str]:
    """The files to ship.

    Parameters
    ----------
    root : str
        The repository, which holds the ``migrator`` package.

    Returns
    -------
    list of str
        Paths relative to ``root``, sorted: every ``.py`` file and the package data.
    """
    package = os.path.join(root, "migrator")
    found = []
    for folder, dirs, files in os.walk(package):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py") or (folder == package and name in PACKAGE_DATA):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def build(out: str, root: str = ROOT) -> tuple[str, str]:
    """Write ``migrator.zip`` and ``launch.py`` into ``out`` (created if missing).

    Parameters
    ----------
    out : str
        The directory to write to.
    root : str
        The repository, which holds the ``migrator`` package.

    Returns
    -------
    tuple of str
        The paths of ``migrator.zip`` and ``launch.py``.
    """
    os.makedirs(out, exist_ok=True)
    archive = os.path.join(out, "migrator.zip")
    with zipfile.ZipFile(archive + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
        for path in package_files(root):
            entry = zipfile.ZipInfo(path.replace(os.sep, "/"), EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            with open(os.path.join(root, path), "rb") as f:
                z.writestr(entry, f.read())
    os.replace(archive + ".tmp", archive)
    launch = os.path.join(out, "launch.py")
    with open(launch + ".tmp", "w") as f:
        f.write(LAUNCH)
    os.replace(launch + ".tmp", launch)
    return archive, launch


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: build_zip.py OUT_DIR")
    build(sys.argv[1])
