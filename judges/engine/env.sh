#!/usr/bin/env bash
# Prints the engine's env lines without building (see build.sh):
#   TOFU=<dir>/bin/tofu
#   TF_CLI_CONFIG_FILE=<dir>/tofurc
# Exits 1 when the engine for the current tools/ pins is not fully built.
# Usage: eval "$(judges/engine/env.sh)" && export TOFU TF_CLI_CONFIG_FILE
set -Eeuo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/build.sh" --print-env
