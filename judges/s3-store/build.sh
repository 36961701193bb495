#!/usr/bin/env bash
# Builds the S3 server of the S3 state backend's engine tests, versitygw (Apache-2.0), from its Go module, fetched
# through the Go module proxy only and pinned by go.mod + go.sum here, into a cache outside the repo:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/s3-store/<key>/bin/versitygw
#
# <key> hashes go.mod, go.sum and the Go version: a changed pin builds into a new directory; a built binary is
# kept, so re-running is safe and quick.
#
# Usage:
#   judges/s3-store/build.sh               build when missing, then print VERSITYGW=<binary>
#   judges/s3-store/build.sh --print-env   print VERSITYGW=<binary> only; exit 1 if not built
#
# Environment: XDG_CACHE_HOME, and Go's own GOPROXY, GOMODCACHE, GOCACHE (the build is GOTOOLCHAIN=local,
# CGO_ENABLED=0, -mod=readonly: it never changes a version).
set -Eeuo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE PACKAGE=github.com/versity/versitygw/cmd/versitygw
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

log() { printf '[s3-store] %s\n' "$*" >&2; }
fail() { printf '[s3-store] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "command not found: go"
key="$({ go env GOVERSION GOOS GOARCH && cat "${HERE}/go.mod" "${HERE}/go.sum"; } | sha256sum | cut -c1-12)"
readonly BINARY="${XDG_CACHE_HOME:-${HOME}/.cache}/talos-proxmox-cdktf/s3-store/${key}/bin/versitygw"

case "${1:-}" in
  --print-env)
    [[ -x "${BINARY}" ]] || fail "versitygw not built in ${BINARY%/bin/*}: run judges/s3-store/build.sh"
    ;;
  "")
    if [[ -x "${BINARY}" ]]; then
      log "versitygw: already built"
    else
      start=${SECONDS}
      log "versitygw $(cd "${HERE}" && go list -m -f '{{.Version}}' github.com/versity/versitygw): building ${PACKAGE}"
      mkdir -p "${BINARY%/*}"
      (cd "${HERE}" && go build -trimpath -ldflags "-s -w" -o "${BINARY}.tmp" "${PACKAGE}") || fail "go build failed in judges/s3-store"
      mv "${BINARY}.tmp" "${BINARY}"
      log "versitygw: built in $((SECONDS - start))s"
    fi
    ;;
  *) fail "unknown argument: $1 (usage: build.sh [--print-env])" ;;
esac
printf 'VERSITYGW=%s\n' "${BINARY}"
