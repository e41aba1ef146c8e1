#!/bin/sh
# Run the whole test suite (after setup.sh has prepared the machine).
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
