#!/bin/sh
# The whole test suite: the linter, the type checker, then the tests (after setup.sh has
# prepared the machine).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
echo "== ruff check"
.venv/bin/ruff check .
echo "== mypy (strict)"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
