"""``python -m migrator`` and the script spark-submit runs."""

from migrator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
