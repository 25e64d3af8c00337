#!/bin/sh
# Build the fixture images (OCI layouts + fixtures.json) into .build/fixtures/images/.
# See scripts/fixtures/README.md; `scripts/make_fixtures.sh --help` for options.
exec python3 "$(dirname "$0")/fixtures/build.py" "$@"
