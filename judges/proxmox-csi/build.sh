#!/usr/bin/env bash
# Builds the Proxmox CSI judge (main.go): the Proxmox CSI plugin's own controller service
# (github.com/sergelogvinov/proxmox-csi-plugin, Apache-2.0, at the version go.mod pins) driven through a volume's
# life against the Proxmox simulator, fetched through the Go module proxy only and pinned by go.mod + go.sum here,
# into a cache outside the repo:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/proxmox-csi/<key>/bin/proxmox-csi-judge
#
# <key> hashes go.mod, go.sum, main.go and the Go version: a change builds into a new directory; a built binary
# is kept, so re-running is safe and quick. __tests__/engine/proxmox-csi.test.ts runs it (PROXMOX_CSI_JUDGE).
#
# Usage:
#   judges/proxmox-csi/build.sh               build when missing, then print PROXMOX_CSI_JUDGE=<binary>
#   judges/proxmox-csi/build.sh --print-env   print PROXMOX_CSI_JUDGE=<binary> only; exit 1 if not built
#
# Environment: XDG_CACHE_HOME, and Go's own GOPROXY, GOMODCACHE, GOCACHE (the build is GOTOOLCHAIN=local,
# CGO_ENABLED=0, -mod=readonly: it never changes a version).
set -Eeuo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

log() { printf '[proxmox-csi] %s\n' "$*" >&2; }
fail() { printf '[proxmox-csi] error: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "command not found: go"
key="$({ go env GOVERSION GOOS GOARCH && cat "${HERE}/go.mod" "${HERE}/go.sum" "${HERE}/main.go"; } | sha256sum | cut -c1-12)"
readonly BINARY="${XDG_CACHE_HOME:-${HOME}/.cache}/talos-proxmox-cdktf/proxmox-csi/${key}/bin/proxmox-csi-judge"

case "${1:-}" in
  --print-env)
    [[ -x "${BINARY}" ]] || fail "the Proxmox CSI judge is not built in ${BINARY%/bin/*}: run judges/proxmox-csi/build.sh"
    ;;
  "")
    if [[ -x "${BINARY}" ]]; then
      log "proxmox-csi-judge: already built"
    else
      start=${SECONDS}
      log "proxmox-csi-plugin $(cd "${HERE}" && go list -m -f '{{.Version}}' github.com/sergelogvinov/proxmox-csi-plugin): building the judge"
      mkdir -p "${BINARY%/*}"
      (cd "${HERE}" && go build -trimpath -ldflags "-s -w" -o "${BINARY}.tmp" .) ||
        fail "go build failed in judges/proxmox-csi"
      mv "${BINARY}.tmp" "${BINARY}"
      log "proxmox-csi-judge: built in $((SECONDS - start))s"
    fi
    ;;
  *) fail "unknown argument: $1 (usage: build.sh [--print-env])" ;;
esac
printf 'PROXMOX_CSI_JUDGE=%s\n' "${BINARY}"
