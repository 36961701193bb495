#!/usr/bin/env bash
# Generates the provider bindings in .gen/ from the vendored schemas in providers/schema-cache/, with no
# network and no terraform binary. Same schemas in, byte-identical .gen/ out (checked by a test).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
export CHECKPOINT_DISABLE=1
# Prove that no engine is involved: cdktf would otherwise ask a terraform on PATH for its version.
export TERRAFORM_BINARY_NAME=/nonexistent/terraform
export CDKTF_EXPERIMENTAL_PROVIDER_SCHEMA_CACHE_PATH="$PWD/providers/schema-cache"
rm -rf .gen
node_modules/.bin/cdktf get --language typescript > /dev/null
echo "provider bindings generated in .gen/ from providers/schema-cache/"
