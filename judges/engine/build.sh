#!/usr/bin/env bash
# Builds the OpenTofu CLI and the Terraform providers our stacks use from their Go modules, fetched
# through the Go module proxy only and pinned by tools/<name>/go.mod + go.sum, into a cache outside
# the repo:
#
#   <dir>/bin/tofu
#   <dir>/mirror/<host>/<namespace>/<type>/<built version>/<os>_<arch>/terraform-provider-<type>_v<built version>
#   <dir>/tofurc           CLI config whose only content is a filesystem_mirror on <dir>/mirror
#   <dir>/providers.json   {"<ns>/<type>": {"pinned": ..., "built": ..., "why": ...}} (see BINARIES)
#
# and the Talos config checkers, one per supported Talos minor (judges/talos-config/<minor>/go.mod pins
# github.com/siderolabs/talos/pkg/machinery; judges/talos-config/checker/ is their one main package):
#
#   <checkers dir>/bin/talos-config-check-<minor>
#   <checkers dir>/checkers.json  {"<minor>": {"machinery": <version>, "binary": <path>}}
#
# and then, by judges/talos-sim/build.sh (its own cache key and --print-env), the Talos node simulators.
#
# <dir> is ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/engine/<key>, where <key> hashes the
# table below, tools/*/go.mod and go.sum, and the Go version: a changed pin builds into a new
# directory. Binaries already there are skipped; re-running is safe. The checkers are keyed apart, in
# ${XDG_CACHE_HOME:-$HOME/.cache}/talos-proxmox-cdktf/talos-config/<key> (the key hashes judges/talos-config/
# and the Go version; the engine key's tools/*/go.mod glob does not reach that nested folder on purpose):
# a checker change or a new Talos minor never rebuilds OpenTofu and the providers.
#
# Usage:
#   judges/engine/build.sh               build what is missing, then print the env lines
#   judges/engine/build.sh --print-env   print the env lines only; exit 1 if not fully built
# The env lines are:
#   TOFU=<dir>/bin/tofu
#   TF_CLI_CONFIG_FILE=<dir>/tofurc
#   ENGINE_PROVIDERS=<dir>/providers.json
#   TALOS_CONFIG_CHECKERS=<checkers dir>/checkers.json
#
# Environment:
#   XDG_CACHE_HOME        cache root (default: $HOME/.cache)
#   GOPROXY, GOMODCACHE,  Go's own settings, used as they are (the build is GOTOOLCHAIN=local,
#   GOCACHE               CGO_ENABLED=0, -mod=readonly: it never changes a version)
set -Eeuo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly ROOT TOOLS="${ROOT}/judges/engine/tools"
readonly CHECKERS="${ROOT}/judges/talos-config"
readonly HOSTS=(registry.opentofu.org registry.terraform.io)

# The one record of what is built. A provider's "built" version differs from its "pinned" one (the
# version our stacks require) only when the proxy does not serve the pinned release: then a STAND-IN
# is built, its mirror entry carries the built version, and the engine tests rewrite the stacks'
# required version to it (nothing else). "=" as built: the pinned version, so that a version is written
# once per row; "{version}" in the -ldflags is the built version. The "# renovate:" lines let Renovate
# move a pin (renovate.json5); tools/<name>/go.mod moves with it.
# name|namespace/type (- for the CLI)|pinned|built|package|extra -ldflags as upstream's release sets them|why
readonly BINARIES=(
  # renovate: datasource=go depName=github.com/opentofu/opentofu
  "tofu|-|1.12.6|=|github.com/opentofu/opentofu/cmd/tofu|-X github.com/opentofu/opentofu/version.dev=no|"
  # renovate: datasource=go depName=github.com/bpg/terraform-provider-proxmox
  "proxmox|bpg/proxmox|0.112.0|=|github.com/bpg/terraform-provider-proxmox|-X main.version={version} -X main.commit=ed6cba4ae401da959892cd25676108c2bbff22d5|"
  "talos|siderolabs/talos|0.12.0|0.8.0|github.com/siderolabs/terraform-provider-talos|-X main.version={version} -X main.commit=782cb2ceb6edb0f3098f03dddd0333ac33febd29|the Go module proxy serves v0.8.0 and v0.7.1 of github.com/siderolabs/terraform-provider-talos, not v0.8.1 or v0.9.0 and later"
  "local|hashicorp/local|2.6.1|2.9.0|github.com/terraform-providers/terraform-provider-local||the Go module proxy serves only 2.9.0 (as a pseudo-version of its tag commit 3561e410f9fe), not 2.6.1"
  "tls|hashicorp/tls|4.1.0|4.3.1-0.20260819085117-d044ca7c6f52|github.com/hashicorp/terraform-provider-tls||the Go module proxy serves no tagged release, only main-branch commit d044ca7c6f52 after 4.3.0 (labelled like a Go pseudo-version)"
  "helm|hashicorp/helm|3.1.1|3.2.1-0.20260629194918-a4f1c1d8b008|github.com/hashicorp/terraform-provider-helm|-X main.Version={version}|the Go module proxy serves no tagged release, only main-branch commit a4f1c1d8b008 after 3.2.0 (labelled like a Go pseudo-version)"
  "kubernetes|hashicorp/kubernetes|2.38.0|3.2.2-0.20260821094251-3a33fb6cc605|github.com/hashicorp/terraform-provider-kubernetes|-X main.Version={version}|the Go module proxy serves no tagged release, only main-branch commit 3a33fb6cc605 after 3.2.1 (labelled like a Go pseudo-version)"
)

# BINARIES with "=" resolved and "{version}" filled in: what every function below reads.
ROWS=()
for row in "${BINARIES[@]}"; do
  IFS='|' read -r name addr pinned built pkg ldflags why <<<"${row}"
  [[ "${built}" == = ]] && built="${pinned}"
  ROWS+=("${name}|${addr}|${pinned}|${built}|${pkg}|${ldflags//\{version\}/${built}}|${why}")
done
readonly ROWS
unset row name addr pinned built pkg ldflags why

export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"

log() { printf '[engine] %s\n' "$*" >&2; }
fail() { printf '[engine] error: %s\n' "$*" >&2; exit 1; }

preflight() {
  local missing=() tool
  for tool in go sha256sum; do
    command -v "${tool}" >/dev/null || missing+=("command not found: ${tool}")
  done
  [[ -d "${TOOLS}" ]] || missing+=("no tools/ directory at ${TOOLS}")
  ((${#missing[@]} == 0)) || fail "$(printf '\n  %s' "${missing[@]}")"
}

engine_dir() {
  local key
  key="$(
    {
      go env GOVERSION GOOS GOARCH
      printf '%s\n' "${BINARIES[@]}"
      cd "${TOOLS}"
      for f in */go.mod */go.sum; do printf '== %s\n' "${f}" && cat "${f}"; done
    } | sha256sum | cut -c1-12
  )"
  printf '%s/talos-proxmox-cdktf/engine/%s' "${XDG_CACHE_HOME:-${HOME}/.cache}" "${key}"
}

checkers_dir() {
  local key
  key="$(
    {
      go env GOVERSION GOOS GOARCH
      cd "${CHECKERS}"
      for f in checker/* v*/go.mod v*/go.sum; do printf '== %s\n' "${f}" && cat "${f}"; done
    } | sha256sum | cut -c1-12
  )"
  printf '%s/talos-proxmox-cdktf/talos-config/%s' "${XDG_CACHE_HOME:-${HOME}/.cache}" "${key}"
}

# The supported Talos minors: the folders judges/talos-config/v<major>.<minor>.
checker_minors() {
  local d
  for d in "${CHECKERS}"/v*/; do d="${d%/}" && printf '%s\n' "${d##*/}"; done
}

build_checker() {
  local minor="$1" out="${CDIR}/bin/talos-config-check-$1" start=${SECONDS}
  if [[ -f "${out}" ]]; then
    log "talos-config-check ${minor}: already built"
    return
  fi
  log "talos-config-check ${minor}: building against $(cd "${CHECKERS}/${minor}" && go list -m -f '{{.Path}} {{.Version}}' github.com/siderolabs/talos/pkg/machinery)"
  mkdir -p "${CDIR}/bin"
  (cd "${CHECKERS}/${minor}" && go build -trimpath -ldflags "-s -w" -o "${out}.tmp" talos-proxmox-cdktf/tools/talos-config/checker) ||
    fail "talos-config-check ${minor}: go build failed in judges/talos-config/${minor}"
  mv "${out}.tmp" "${out}"
  log "talos-config-check ${minor}: built in $((SECONDS - start))s"
}

write_checkers() {
  local minor sep=''
  {
    printf '{'
    while read -r minor; do
      printf '%s\n  "%s": {"machinery": "%s", "binary": "%s"}' "${sep}" "${minor}" \
        "$(cd "${CHECKERS}/${minor}" && go list -m -f '{{.Version}}' github.com/siderolabs/talos/pkg/machinery)" \
        "${CDIR}/bin/talos-config-check-${minor}"
      sep=','
    done < <(checker_minors)
    printf '\n}\n'
  } >"${CDIR}/checkers.json.tmp"
  mv "${CDIR}/checkers.json.tmp" "${CDIR}/checkers.json"
}

# Where binary $1 (a BINARIES row) goes, under host $2 (default: the first one).
target_of() {
  local name addr built
  IFS='|' read -r name addr _ built _ <<<"$1"
  if [[ "${addr}" == - ]]; then
    printf '%s/bin/%s' "${DIR}" "${name}"
  else
    printf '%s/mirror/%s/%s/%s/%s_%s/terraform-provider-%s_v%s' "${DIR}" "${2:-${HOSTS[0]}}" "${addr}" \
      "${built}" "${GOOS}" "${GOARCH}" "${addr#*/}" "${built}"
  fi
}

build_one() {
  local row="$1" name addr pinned built pkg ldflags out host start=${SECONDS}
  IFS='|' read -r name addr pinned built pkg ldflags _ <<<"${row}"
  out="$(target_of "${row}")"
  if [[ -f "${out}" ]]; then
    log "${name} ${built}: already built"
  else
    log "${name} ${built}$([[ "${built}" == "${pinned}" ]] || printf ' (STAND-IN for %s)' "${pinned}"): building ${pkg}"
    mkdir -p "$(dirname "${out}")"
    (cd "${TOOLS}/${name}" && go build -trimpath -ldflags "-s -w ${ldflags}" -o "${out}.tmp" "${pkg}") ||
      fail "${name}: go build failed in tools/${name}"
    mv "${out}.tmp" "${out}"
    log "${name} ${built}: built in $((SECONDS - start))s"
  fi
  # The other hosts get hard links (real files, no symlinks), for sources written as
  # registry.terraform.io/<ns>/<type>.
  [[ "${addr}" == - ]] && return
  for host in "${HOSTS[@]:1}"; do
    mkdir -p "$(dirname "$(target_of "${row}" "${host}")")" && ln -f "${out}" "$(target_of "${row}" "${host}")"
  done
}

write_config() {
  local includes row addr pinned built why sep=''
  includes="$(printf '"%s/*/*", ' "${HOSTS[@]}")"
  printf 'provider_installation {\n  filesystem_mirror {\n    path    = "%s/mirror"\n    include = [%s]\n  }\n}\n' \
    "${DIR}" "${includes%, }" >"${DIR}/tofurc.tmp"
  {
    printf '{'
    for row in "${ROWS[@]}"; do
      IFS='|' read -r _ addr pinned built _ _ why <<<"${row}"
      [[ "${addr}" == - ]] && continue
      printf '%s\n  "%s": {"pinned": "%s", "built": "%s"%s}' "${sep}" "${addr}" "${pinned}" "${built}" \
        "$([[ -z "${why}" ]] || printf ', "why": "%s"' "${why}")"
      sep=','
    done
    printf '\n}\n'
  } >"${DIR}/providers.json.tmp"
  mv "${DIR}/tofurc.tmp" "${DIR}/tofurc" && mv "${DIR}/providers.json.tmp" "${DIR}/providers.json"
}

print_env() {
  printf 'TOFU=%s/bin/tofu\nTF_CLI_CONFIG_FILE=%s/tofurc\nENGINE_PROVIDERS=%s/providers.json\n' "${DIR}" "${DIR}" "${DIR}"
  printf 'TALOS_CONFIG_CHECKERS=%s/checkers.json\n' "${CDIR}"
}

is_built() {
  local row minor
  [[ -f "${DIR}/tofurc" && -f "${DIR}/providers.json" ]] || return 1
  for row in "${ROWS[@]}"; do [[ -f "$(target_of "${row}")" ]] || return 1; done
  [[ -f "${CDIR}/checkers.json" ]] || return 1
  while read -r minor; do [[ -f "${CDIR}/bin/talos-config-check-${minor}" ]] || return 1; done < <(checker_minors)
}

main() {
  preflight
  GOOS="$(go env GOOS)" GOARCH="$(go env GOARCH)" DIR="$(engine_dir)" CDIR="$(checkers_dir)"
  readonly GOOS GOARCH DIR CDIR
  if [[ "${1:-}" == --print-env ]]; then
    is_built || fail "engine not built in ${DIR}: run judges/engine/build.sh"
    print_env
    return
  fi
  [[ $# -eq 0 ]] || fail "unknown argument: $1 (usage: build.sh [--print-env])"
  log "$(go env GOVERSION) ${GOOS}/${GOARCH} into ${DIR}"
  local row minor start=${SECONDS}
  for row in "${ROWS[@]}"; do build_one "${row}"; done
  write_config
  log "talos config checkers into ${CDIR}"
  while read -r minor; do build_checker "${minor}"; done < <(checker_minors)
  write_checkers
  "${ROOT}/judges/talos-sim/build.sh" >/dev/null
  log "done in $((SECONDS - start))s"
  print_env
}

main "$@"
