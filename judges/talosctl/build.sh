#!/usr/bin/env bash
# Builds the real talosctl (MPL-2.0) from github.com/siderolabs/talos's Go module, fetched through the Go module
# proxy only and pinned by go.mod + go.sum here, into a cache outside the repo:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/talosctl/<key>/bin/talosctl
#
# <key> hashes go.mod, go.sum and the Go version: a changed pin builds into a new directory; a built binary is
# kept, so re-running is safe and quick. The engine tests run ./bootstrap.sh upgrade and node removal with it
# (TALOSCTL) against the Talos node simulators (judges/talos-sim). Its version is the module's own (machinery's
# gendata), as `talosctl version --client` of a release prints it.
#
# Usage:
#   judges/talosctl/build.sh               build when missing, then print TALOSCTL=<binary>
#   judges/talosctl/build.sh --print-env   print TALOSCTL=<binary> only; exit 1 if not built
#
# Environment: XDG_CACHE_HOME, and Go's own GOPROXY, GOMODCACHE, GOCACHE (the build is GOTOOLCHAIN=local,
# CGO_ENABLED=0, -mod=readonly: it never changes a version).
set -Eeuo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE PACKAGE=github.com/siderolabs/talos/cmd/talosctl
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

log() { printf '[talosctl] %s\n' "$*" >&2; }
fail() { printf '[talosctl] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "command not found: go"
key="$({ go env GOVERSION GOOS GOARCH && cat "${HERE}/go.mod" "${HERE}/go.sum"; } | sha256sum | cut -c1-12)"
readonly BINARY="${XDG_CACHE_HOME:-${HOME}/.cache}/talos-proxmox-cdktf/talosctl/${key}/bin/talosctl"

case "${1:-}" in
  --print-env)
    [[ -x "${BINARY}" ]] || fail "talosctl not built in ${BINARY%/bin/*}: run judges/talosctl/build.sh"
    ;;
  "")
    if [[ -x "${BINARY}" ]]; then
      log "talosctl: already built"
    else
      start=${SECONDS}
      log "talosctl $(cd "${HERE}" && go list -m -f '{{.Version}}' github.com/siderolabs/talos): building ${PACKAGE}"
      mkdir -p "${BINARY%/*}"
      (cd "${HERE}" && go build -trimpath -ldflags "-s -w" -o "${BINARY}.tmp" "${PACKAGE}") ||
        fail "go build failed in judges/talosctl"
      mv "${BINARY}.tmp" "${BINARY}"
      log "talosctl: built in $((SECONDS - start))s"
    fi
    ;;
  *) fail "unknown argument: $1 (usage: build.sh [--print-env])" ;;
esac
printf 'TALOSCTL=%s\n' "${BINARY}"
