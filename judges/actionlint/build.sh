#!/usr/bin/env bash
# Builds the workflow checker of __tests__/workflows.test.ts, actionlint (MIT), from its Go module, fetched
# through the Go module proxy only and pinned by go.mod + go.sum here, into a cache outside the repo:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/actionlint/<key>/bin/actionlint
#
# <key> hashes go.mod, go.sum and the Go version: a changed pin builds into a new directory; a built binary is
# kept, so re-running is safe and quick.
#
# Usage:
#   judges/actionlint/build.sh               build when missing, then print ACTIONLINT=<binary>
#   judges/actionlint/build.sh --print-env   print ACTIONLINT=<binary> only; exit 1 if not built
#
# Environment: XDG_CACHE_HOME, and Go's own GOPROXY, GOMODCACHE, GOCACHE (the build is GOTOOLCHAIN=local,
# CGO_ENABLED=0, -mod=readonly: it never changes a version).
set -Eeuo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE PACKAGE=github.com/rhysd/actionlint/cmd/actionlint
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

log() { printf '[actionlint] %s\n' "$*" >&2; }
fail() { printf '[actionlint] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "command not found: go"
key="$({ go env GOVERSION GOOS GOARCH && cat "${HERE}/go.mod" "${HERE}/go.sum"; } | sha256sum | cut -c1-12)"
readonly BINARY="${XDG_CACHE_HOME:-${HOME}/.cache}/talos-proxmox-cdktf/actionlint/${key}/bin/actionlint"

case "${1:-}" in
  --print-env)
    [[ -x "${BINARY}" ]] || fail "actionlint not built in ${BINARY%/bin/*}: run judges/actionlint/build.sh"
    ;;
  "")
    if [[ -x "${BINARY}" ]]; then
      log "actionlint: already built"
    else
      start=${SECONDS}
      log "actionlint $(cd "${HERE}" && go list -m -f '{{.Version}}' github.com/rhysd/actionlint): building ${PACKAGE}"
      mkdir -p "${BINARY%/*}"
      (cd "${HERE}" && go build -trimpath -ldflags "-s -w" -o "${BINARY}.tmp" "${PACKAGE}") || fail "go build failed in judges/actionlint"
      mv "${BINARY}.tmp" "${BINARY}"
      log "actionlint: built in $((SECONDS - start))s"
    fi
    ;;
  *) fail "unknown argument: $1 (usage: build.sh [--print-env])" ;;
esac
printf 'ACTIONLINT=%s\n' "${BINARY}"
