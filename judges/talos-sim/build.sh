#!/usr/bin/env bash
# Builds the Talos node simulator, one binary per supported Talos minor (judges/talos-sim/v<minor>/go.mod pins
# github.com/siderolabs/talos/pkg/machinery; judges/talos-sim/sim/ is their one main package), from the Go
# module proxy, into a cache outside the repo keyed apart from the engine:
#
#   ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/talos-sim/<key>/bin/talos-sim-<minor>
#   ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/talos-sim/<key>/sims.json
#       {"<minor>": {"machinery": <version>, "binary": <path>}}
#
# The key hashes sim/, judges/kubernetes/start/ (compiled in), v*/go.mod and go.sum and the Go version.
# Binaries already there are skipped; re-running is safe. judges/engine/build.sh runs this after the engine.
#
# Usage:
#   judges/talos-sim/build.sh               build what is missing, then print the env lines
#   judges/talos-sim/build.sh --print-env   print the env lines only; exit 1 if not fully built
# The env lines are:
#   TALOS_SIMS=<dir>/sims.json
set -Eeuo pipefail
shopt -s inherit_errexit

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

log() { printf '[talos-sim] %s\n' "$*" >&2; }
fail() { printf '[talos-sim] error: %s\n' "$*" >&2; exit 1; }

cache_dir() {
  local name="$1" key
  shift
  key="$(
    {
      go env GOVERSION GOOS GOARCH
      cd "${HERE}"
      for f in "$@"; do printf '== %s\n' "${f}" && cat "${f}"; done
    } | sha256sum | cut -c1-12
  )"
  printf '%s/talos-proxmox-cdktf/%s/%s' "${XDG_CACHE_HOME:-${HOME}/.cache}" "${name}" "${key}"
}

# The supported Talos minors: the folders judges/talos-sim/v<major>.<minor>.
minors() {
  local d
  for d in "${HERE}"/v*/; do d="${d%/}" && printf '%s\n' "${d##*/}"; done
}

machinery_of() {
  (cd "${HERE}/$1" && go list -m -f '{{.Version}}' github.com/siderolabs/talos/pkg/machinery)
}

build_sim() {
  local minor="$1" out="${SDIR}/bin/talos-sim-$1" start=${SECONDS}
  if [[ -f "${out}" ]]; then
    log "talos-sim ${minor}: already built"
    return
  fi
  log "talos-sim ${minor}: building against machinery $(machinery_of "${minor}")"
  mkdir -p "${SDIR}/bin"
  (cd "${HERE}/${minor}" && go build -trimpath -ldflags "-s -w" -o "${out}.tmp" talos-proxmox-cdktf/judges/talos-sim/sim) ||
    fail "talos-sim ${minor}: go build failed in judges/talos-sim/${minor}"
  mv "${out}.tmp" "${out}"
  log "talos-sim ${minor}: built in $((SECONDS - start))s"
}

write_sims() {
  local minor sep=''
  {
    printf '{'
    while read -r minor; do
      printf '%s\n  "%s": {"machinery": "%s", "binary": "%s"}' "${sep}" "${minor}" "$(machinery_of "${minor}")" \
        "${SDIR}/bin/talos-sim-${minor}"
      sep=','
    done < <(minors)
    printf '\n}\n'
  } >"${SDIR}/sims.json.tmp"
  mv "${SDIR}/sims.json.tmp" "${SDIR}/sims.json"
}

is_built() {
  local minor
  [[ -f "${SDIR}/sims.json" ]] || return 1
  while read -r minor; do [[ -f "${SDIR}/bin/talos-sim-${minor}" ]] || return 1; done < <(minors)
}

print_env() {
  printf 'TALOS_SIMS=%s/sims.json\n' "${SDIR}"
}

main() {
  command -v go >/dev/null || fail "command not found: go"
  SDIR="$(cd "${HERE}" && cache_dir talos-sim sim/* ../kubernetes/start/* v*/go.mod v*/go.sum)"
  readonly SDIR
  if [[ "${1:-}" == --print-env ]]; then
    is_built || fail "the Talos simulators are not built in ${SDIR}: run judges/talos-sim/build.sh"
    print_env
    return
  fi
  [[ $# -eq 0 ]] || fail "unknown argument: $1 (usage: build.sh [--print-env])"
  local minor start=${SECONDS}
  log "$(go env GOVERSION) into ${SDIR}"
  while read -r minor; do build_sim "${minor}"; done < <(minors)
  write_sims
  log "done in $((SECONDS - start))s"
  print_env
}

main "$@"
