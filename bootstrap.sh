#!/usr/bin/env bash
# Brings the cluster described by cluster.yaml and nodes.yaml from nothing to working, layer by layer, tears
# layers down again, and rolls Talos and Kubernetes upgrades out node by node (upgrade). Every check runs before
# anything changes; the engine (OpenTofu or Terraform) runs directly in each synthesized stack: init, plan -out,
# the plan shown and confirmed, apply of exactly that plan.
#
# Usage: ./bootstrap.sh [options]
#        ./bootstrap.sh upgrade|restart [--plan] [--auto-approve] [--allow-dirty]
#        ./bootstrap.sh doctor [--allow-dirty]
#        ./bootstrap.sh etcd-snapshot [--out=<file>] [--allow-dirty]
#        ./bootstrap.sh etcd-recover --from=<file> [--recover-skip-hash-check] [--plan] [--auto-approve] [--allow-dirty]
#        ./bootstrap.sh migrate-state [--auto-approve] [--allow-dirty] [--overwrite-target-state]
#        ./bootstrap.sh --plan --save-plans=<dir> [--only=<layer>|--start-from=<layer>]
#        ./bootstrap.sh apply-plans --plans=<dir> [--auto-approve] [--allow-dirty]
#
#   (no option)               every layer in order, 00-persistent-auth first; after the layer that writes
#                             credentials/kubeconfig (01), wait until the Kubernetes API answers before going on.
#                             00 is planned on every run and applied only when its plan has changes (a feature
#                             switched on, the Talos client certificate due for renewal); a plan of 00 that deletes
#                             or replaces anything is refused, naming each address, unless both keys are given.
#                             On a running cluster (layer 01's state): nodes deleted from nodes.yaml leave first,
#                             one at a time (talosctl reset --graceful: drained, a controller leaves etcd; then
#                             its Node object is deleted), after the plan of 01 is confirmed and before it is
#                             applied; removing the last controller, or controllers below etcd's quorum in one
#                             run, is refused. A changed talos_version or kubernetes_version is refused until
#                             `./bootstrap.sh upgrade` has rolled it out (every node is asked), so layer 01 never
#                             pushes it into every node at once; --plan says so and asks no node. A plan of 01
#                             that changes the machine configuration of several running nodes is applied in
#                             steps: the other changes first, then one node's configuration at a time
#                             (controllers first), each node answering and `talosctl health` passing before the
#                             next (TALOSCTL, BOOTSTRAP_UPGRADE_TIMEOUT); every step's plan must be part of the
#                             confirmed one
#   --start-from=<layer>      apply <layer> and every layer above it (00 included when named)
#   --only=<layer>            apply <layer> alone
#   --plan                    plan every layer in scope, in order, and apply nothing; a layer that reads a layer
#                             with changes still to apply is not planned (it was validated by preflight)
#   --auto-approve            apply each plan without asking (otherwise each plan's summary is shown and only
#                             "yes" applies it; without a terminal on stdin the run refuses to start)
#   --allow-dirty             skip the check that the git work tree holding the config is clean
#   --destroy[=<layer>]       destroy from the highest layer down to <layer> (default 01-infrastructure),
#                             top-down, each layer's destroy plan shown and confirmed first
#   --including-persistent-auth
#                             with --destroy: go down to 00-persistent-auth too (Talos PKI, CSI token,
#                             sealed-secrets key). Without --destroy: apply a plan of 00 that deletes or replaces
#                             something. Second key: type the cluster name when asked, or
#                             --yes-destroy-persistent-auth=<cluster name>. Only with both keys is the app
#                             synthesized with the context that lifts prevent_destroy; without them the run stops
#                             before the engine runs, and the engine itself would refuse (prevent_destroy)
#   --yes-destroy-persistent-auth=<cluster name>
#                             the second key without a terminal, for automation
#   --force-unlock=<lock id>  with --only=<layer>: release the lock a killed run left on that layer's state (the ID
#                             the next run's lock error names), after preflight and "yes" (or --auto-approve);
#                             nothing is planned or applied, and the engine refuses an ID that is not the lock's.
#                             The pg backend needs none: its lock ends with the holder's connection
#   --save-plans=<dir>        with --plan: keep each layer's plan file and a manifest (plans.json) in <dir>, a new or
#                             empty folder inside the config folder, for apply-plans (CI: planned on the pull
#                             request, applied on merge; docs/ci-apply.md). Refused unless state_encryption is on:
#                             a plan file holds its layer's state, and OpenTofu encrypts plans with it. A layer that
#                             reads a layer with changes is not planned, and recorded so
#   --cluster=<name>          the cluster in clusters/<name>/ of this repository (cluster.yaml, nodes.yaml,
#                             workloads.yaml; state/, credentials/ and logs/ beside them), instead of CONFIG_DIR;
#                             refused when it would share a state, credentials/ or its Proxmox CSI user with
#                             another cluster of the repository (docs/state.md)
#   -h, --help                this text
#
#   upgrade                   rolling upgrade of the nodes to the talos_version and kubernetes_version of
#                             cluster.yaml (raise them first): Talos node by node, controllers one at a time, then
#                             workers, each with `talosctl upgrade` to the factory installer of its own schematic
#                             (from layer 01's talos_nodes output), waiting until it answers with the new version
#                             and `talosctl health` passes before the next; then `talosctl upgrade-k8s`. Nodes
#                             already at the target are skipped, so a run that stopped resumes where it stopped.
#                             Preflight: the config, the engine, layer 01's state, talosctl present and not older
#                             than the target, every node with an installer image. Changes no layer: afterwards,
#                             ./bootstrap.sh applies the new versions to layer 01 (ISO, machine configurations)
#   upgrade --plan            print the rolling order and stop; contacts nothing but layer 01's state
#   restart                   rolling restart of the VMs with changes pending in Proxmox (cores, memory: layer 01
#                             never restarts a VM itself): one at a time, controllers first, each restarted by
#                             Proxmox (which applies what was pending; a reboot from inside Talos would not), then
#                             waiting until its node answers talosctl and `talosctl health` passes before the next.
#                             A rerun restarts only what is still pending. Needs PROXMOX_VE_API_TOKEN
#   restart --plan            print which VMs would be restarted, in order (asks Proxmox, restarts nothing)
#   etcd-snapshot             a snapshot of etcd (`talosctl etcd snapshot`) through the first controller of the config
#                             that gives one, with credentials/talosconfig; no question asked, nothing changed
#   --out=<file>              etcd-snapshot: where it goes (default backups/etcd-<UTC time>.db), a new file inside the
#                             config folder (refused outside it, or when the file exists); keep backups/ out of git
#   etcd-recover              disaster recovery once etcd lost its data (README: Take etcd snapshots, and recover from
#                             one): refused unless every controller's etcd waits for a bootstrap (`talosctl service
#                             etcd`: Preparing, after their EPHEMERAL was wiped); then, confirmed, `talosctl bootstrap
#                             --recover-from` on the first controller (the others join it) and `talosctl health` until
#                             it passes. Then ./bootstrap.sh lets the layers above 01 see the restored cluster
#   --from=<file>             etcd-recover: the snapshot, a file inside the config folder
#   --recover-skip-hash-check etcd-recover: a snapshot copied from a node's disk (not taken with etcd snapshot) has no
#                             integrity hash
#   etcd-recover --plan       the checks and what the recovery would run; nothing is restored
#   doctor                    the preflight below for every layer, on its own (as a --plan run would check it);
#                             changes nothing, plans nothing. Also: npm run doctor
#   migrate-state             move every layer's state from previous_state_backend (where it is) to state_backend
#                             (where it goes), both in cluster.yaml: after the preflight of every layer and "yes" (or
#                             --auto-approve), in layer order, `init -migrate-state` of each layer that has a state,
#                             a backup of it first (state/backups/<UTC time>/<layer>.tfstate beside cluster.yaml, in
#                             the engine's format: encrypted with state_encryption), then its plan on state_backend
#                             must have no changes. Every layer is surveyed before any is copied: a state_backend
#                             that already holds a state of a layer is refused (nothing migrated) unless
#                             --overwrite-target-state. Nothing is deleted: previous_state_backend keeps its copies.
#                             While previous_state_backend is set, every other run is refused; remove it afterwards
#   --overwrite-target-state  migrate-state: replace the states state_backend already holds
#   apply-plans --plans=<dir> apply the plans --save-plans kept in <dir> (inside the config folder; git's clean check
#                             leaves it out), the layers of that run in order, each plan shown and confirmed (or
#                             --auto-approve) as in a plain run, layer 01's node-by-node rollout included. Refused
#                             before anything is applied when the stacks synthesized now differ from those the plans
#                             were made from, or the engine, cluster or encryption differ. A plan with no changes is
#                             applied too: the engine refuses a saved plan whose state moved since it was saved
#                             ("Saved plan is stale"). A layer the saving run did not plan is planned once the layers
#                             below are applied, and refused when that plan has any change
#
#   <layer> is a stack name (01-infrastructure), the same without its number (infrastructure), or the number
#   (01 or 1). The layers, in apply order: 00-persistent-auth, 01-infrastructure, 02-services, 03-configuration.
#
# Preflight, every problem reported at once (one line each, with a hint), nothing changed when any is found:
#   git work tree clean, Node dependencies installed, config valid, engine present (OpenTofu required with
#   state_encryption), environment present, synthesis succeeds, `validate` of every stack in scope, an S3 store
#   honours conditional writes (its lock file needs them), state backends reachable, and (for a run that leaves 00 out) whether layer 00 was applied. Without a terminal, --auto-approve or --plan is required.
#
# Progress: a header and the elapsed time per phase, a summary table at the end (layer, action, result,
# added/changed/destroyed, time); the first failing phase stops the run, naming the layer and the log. Everything
# is also written to <log dir>/bootstrap-<UTC timestamp>.log.
#
# Environment:
#   CONFIG_DIR              folder of cluster.yaml and nodes.yaml (default: this repository). state/,
#                           credentials/ and logs/ live beside them; the git check covers the work tree holding it
#   CDKTF_OUTDIR            where to synthesize (default: a private folder per run, removed at the end, so two runs
#                           never share a working directory)
#   TF_BINARY               the engine (default: tofu on PATH, else terraform)
#   TF_CLI_CONFIG_FILE      the engine's CLI configuration (provider mirrors, ...), read by the engine
#   PROXMOX_VE_API_TOKEN    Proxmox API token, user@realm!tokenid=uuid; needed by every layer that configures
#                           the proxmox provider (for the proxmox_api_url of cluster.yaml)
#   PROXMOX_VE_USERNAME, PROXMOX_VE_PASSWORD
#                           instead of the token: a login with a password; workloads.yaml's containers with
#                           keyctl, fuse, a privileged container's features or bind mounts need root@pam's
#                           (Proxmox keeps them to root@pam itself, which no API token is)
#   TF_HTTP_USERNAME, TF_HTTP_PASSWORD
#                           credentials of the http state backend (state_backend.type: http)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)
#                           credentials of the s3 state backend (state_backend.type: s3)
#   PG_CONN_STR             connection string of the pg state backend (state_backend.type: pg), e.g.
#                           postgres://user:password@db.example.com/tfstate
#   PGAPPNAME               the name of the pg backend's sessions (default: bootstrap[<pid>] <user>@<host> <config folder>),
#                           shown by pg_stat_activity for the lock holder
#   TF_VAR_state_passphrase passphrase of state_encryption (16 characters or more)
#   BOOTSTRAP_LOG_DIR       folder of the log files (default: $CONFIG_DIR/logs)
#   BOOTSTRAP_LOCK_TIMEOUT  how long the engine waits for a state lock held by someone else (default: 0s, fail
#                           at once)
#   BOOTSTRAP_API_TIMEOUT   seconds to wait for the Kubernetes API (default: 600)
#   BOOTSTRAP_API_INTERVAL  seconds between two attempts (default: 10)
#   TALOSCTL                upgrade, restart, etcd-snapshot, etcd-recover, leaving nodes, a node-by-node apply of
#                           01: the talosctl binary
#                           (default: talosctl on PATH); it uses credentials/talosconfig beside cluster.yaml
#   BOOTSTRAP_UPGRADE_TIMEOUT
#                           upgrade, restart, node by node: seconds a node may take to answer again (default: 600)
#   BOOTSTRAP_UPGRADE_INTERVAL
#                           upgrade, restart, node by node: seconds between two questions to a node (default: 5)
#   BOOTSTRAP_PROVIDER_STAND_INS
#                           a JSON file of provider builds that stand in for the pinned releases, for a machine that
#                           reaches no provider registry and builds its providers itself (this repository's engine:
#                           judges/engine/build.sh writes it as providers.json); {"ns/type": {"pinned", "built", "why"}}.
#                           After synthesis each stack's required version of such a provider moves from the pin to
#                           the build, nothing else, and preflight names each stand-in. Unset: the pinned releases
#   TMPDIR                  where the per-run folder is created (default: /tmp)
#   BOOTSTRAP_ALLOW_DESTROY_PERSISTENT_AUTH
#                           not yours to set: bootstrap sets it, for the synth only, to the cluster name once a
#                           destroy of layer 00 is confirmed; exported by you, it is removed. A synth context with
#                           allowDestroyPersistentAuth (cdktf.json, CDKTF_CONTEXT_JSON) is refused
#   BOOTSTRAP_STATE_BACKEND not yours to set: migrate-state sets it to "previous" for a second synth whose stacks
#                           keep their state in previous_state_backend; exported by you, preflight's synth drops it
#
# Exit status: 0 done, 1 a check, a phase or an upgrade step failed (or a plan was declined), 2 bad arguments.
set -Eeuo pipefail
shopt -s inherit_errexit

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly REPO TOOL="${REPO}/dist/bootstrap.cjs"
readonly LOCK_TIMEOUT="${BOOTSTRAP_LOCK_TIMEOUT:-0s}"
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0

CONFIG_DIR_GIVEN="${CONFIG_DIR:+1}"
CONFIG_DIR="${CONFIG_DIR:-${REPO}}"
LOG_FILE="" RUN_DIR="" OUTDIR="" TEE_PID="" FINISHED=""
# Set by load (the TypeScript's answers): see the commands in scripts/bootstrap/cli.ts.
HELP=0 ASK_CLUSTER_NAME=0 AUTO_APPROVE=0 DESTROY=0 COMMAND=layers PLAN_ONLY=0 FORCE_UNLOCK="" SAVE_PLANS=0 ENGINE="" PHASE_COUNT=0

# The one way to stop: message on stderr, exit 1 (the EXIT trap prints the summary and removes the run folder).
fail() {
  printf 'bootstrap: error: %s\n' "$*" >&2
  exit 1
}

log() { printf '%s\n' "$*"; }

header() { printf '\n=== %s\n' "$*"; }

usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }

# tee that outlives Ctrl-C: an interrupted engine still prints, saves its state and releases its lock.
keep_tee() {
  trap '' INT TERM
  exec tee "$@"
}

# The TypeScript half (scripts/bootstrap/cli.ts), compiled by prepare_tool: ts <command> [flags]. Every command
# works on this run's document, <run dir>/run.json.
ts() { node "${TOOL}" "$1" --run-dir "${RUN_DIR}" "${@:2}"; }

# ts, and the NAME='value' lines it answers with (quoted by scripts/bootstrap/shell.ts) set as shell variables.
load() {
  local answer
  answer="$(ts "$@")" || return
  eval "${answer}"
}

prepare_tool() {
  command -v node >/dev/null || fail "node is not on PATH: install Node.js 20.19 or newer"
  [[ -d "${REPO}/node_modules/esbuild" ]] || fail "Node dependencies are not installed: run npm ci in ${REPO}"
  node "${REPO}/scripts/build.mjs" bootstrap || fail "could not compile scripts/bootstrap (see above)"
  [[ -d "${CONFIG_DIR}" ]] || fail "CONFIG_DIR=${CONFIG_DIR} is not a directory"
  CONFIG_DIR="$(cd "${CONFIG_DIR}" && pwd)"
}

# The run folder and its document, with the command line parsed (once, by the TypeScript). Bad arguments exit 2
# and --help exits 0, both before any log exists.
init_run() {
  local status=0
  RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/bootstrap.XXXXXX")"
  OUTDIR="${CDKTF_OUTDIR:-${RUN_DIR}/cdktf.out}"
  trap finish EXIT
  # Killed or hung up, the shell would otherwise run the EXIT trap with the last command's status and say "done".
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  load init --config-dir "${CONFIG_DIR}" --config-dir-given "${CONFIG_DIR_GIVEN}" --outdir "${OUTDIR}" -- "$@" || status=$?
  ((status == 0)) || exit "${status}"
  if ((HELP)); then usage && exit 0; fi
}

start_log() {
  local dir="${BOOTSTRAP_LOG_DIR:-${CONFIG_DIR}/logs}" stamp version
  umask 077
  mkdir -p "${dir}" || fail "cannot create the log folder ${dir}"
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  LOG_FILE="${dir}/bootstrap-${stamp}.log"
  [[ ! -e "${LOG_FILE}" ]] || LOG_FILE="${dir}/bootstrap-${stamp}-$$.log"
  exec > >(keep_tee -a "${LOG_FILE}") 2>&1
  TEE_PID=$!
  version="$(git -C "${REPO}" describe --always --dirty 2>/dev/null || printf 'not a git checkout')"
  header "bootstrap $*"
  log "config: ${CONFIG_DIR}"
  log "code:   ${REPO} (${version})"
  log "synth:  ${OUTDIR}"
  log "log:    ${LOG_FILE}"
  name_pg_sessions
}

# The pg backend's lock is an advisory lock of the engine's database session, which OpenTofu names nobody in: the
# session's application_name (pg_stat_activity; the engine's driver reads PGAPPNAME) names this run instead. Yours,
# or application_name in PG_CONN_STR, wins.
name_pg_sessions() {
  export PGAPPNAME="${PGAPPNAME:-bootstrap[$$] ${USER:-$(id -un)}@${HOSTNAME:-$(hostname)} ${CONFIG_DIR##*/}}"
}

# Layer 00's second key, typed: asked before preflight so that nothing runs until both keys are in. Without a
# terminal or a valid config nothing is asked, and preflight refuses with the reason.
confirm_persistent_auth() {
  local CLUSTER_NAME=""
  ((ASK_CLUSTER_NAME)) || return 0
  [[ -t 0 ]] || return 0
  load cluster-name || return 0
  if ((DESTROY)); then
    header "confirm: destroy 00-persistent-auth of ${CLUSTER_NAME}"
    log "This destroys the cluster's Talos PKI and tokens (and the CSI token, sealed-secrets key). Nodes built"
    log "from them can never join again and sealed secrets can never be decrypted again."
  else
    header "confirm: let this run delete or replace in 00-persistent-auth of ${CLUSTER_NAME}"
    log "A plan of 00 that deletes or replaces the Talos PKI, a token or the sealed-secrets key will be applied"
    log "(after its plan is shown). What it deletes can never be made again."
  fi
  read -r -p "Type the cluster name (${CLUSTER_NAME}) to confirm: " TYPED_CLUSTER_NAME || TYPED_CLUSTER_NAME=""
}

preflight() {
  local start=${SECONDS} typed=()
  header "preflight"
  if [[ -n "${TYPED_CLUSTER_NAME+set}" ]]; then typed=(--typed-cluster-name "${TYPED_CLUSTER_NAME}"); fi
  load preflight "${typed[@]}" || fail "preflight failed; nothing was changed"
  log "-- preflight passed in $((SECONDS - start))s: ${PHASE_COUNT} phase(s)"
}

# record <phase> <outcome> <start>: the phase's result into the run document (completed, nothing, skipped, declined,
# refused, failed; the TypeScript words it for the phase's action).
record() {
  ts record --index "$1" --outcome "$2" --seconds "$((SECONDS - $3))"
}

# fail_phase <phase> <start> <message>
fail_phase() {
  record "$1" failed "$2" || true
  fail "$3"
}

# Runs the engine in a stack folder; its output is shown, logged and kept for explain-failure.
engine_in() {
  local dir="$1"
  shift
  (cd "${dir}" && "${ENGINE}" "$@") 2>&1 | keep_tee "${RUN_DIR}/engine.out"
}

# engine_failed <phase> <start> <command>
engine_failed() {
  ts explain-failure --index "$1" --output "${RUN_DIR}/engine.out" || true
  fail_phase "$1" "$2" "${3} of ${PHASE_LAYER} failed"
}

confirm_apply() {
  local answer=""
  ((AUTO_APPROVE)) && return 0
  read -r -p "${PHASE_LAYER} ${PHASE_ACTION}: apply this plan? Only 'yes' is accepted: " answer || return 1
  [[ "${answer}" == yes ]]
}

# apply | destroy | plan | plan-destroy of phase <i>: plan -out, summary, confirm, apply that plan. apply-plans:
# the saved plan instead of a new one (PHASE_SAVED_PLAN), or, for a layer the saving run did not plan
# (PHASE_UNREVIEWED), a new plan that must have no changes.
engine_phase() {
  local i="$1" start=${SECONDS} plan_file="${RUN_DIR}/${PHASE_LAYER}.tfplan" destroy_flag=() STATE_RESOURCES=0 PLAN_CHANGES=0 PLAN_REFUSED=""
  if [[ -n "${PHASE_BLOCKER}" ]]; then
    log "not planned: ${PHASE_BLOCKER} has changes still to apply and ${PHASE_LAYER} reads it; preflight validated ${PHASE_LAYER}"
    if ((SAVE_PLANS)); then ts save-plan --index "${i}" || fail_phase "${i}" "${start}" "could not record ${PHASE_LAYER} in the saved plans"; fi
    record "${i}" skipped "${start}"
    return
  fi
  if [[ "${PHASE_ACTION}" == destroy || "${PHASE_ACTION}" == plan-destroy ]]; then
    destroy_flag=(-destroy)
    # An empty layer is not planned: its configuration may read layers below that are gone already.
    load state-resources --index "${i}" || fail_phase "${i}" "${start}" "could not read the state of ${PHASE_LAYER}"
    if ((STATE_RESOURCES == 0)); then
      record "${i}" nothing "${start}"
      return
    fi
  fi
  if [[ -n "${PHASE_SAVED_PLAN}" ]]; then
    plan_file="${PHASE_SAVED_PLAN}"
    log "the saved plan: ${plan_file}"
  else
    engine_in "${PHASE_TARGET}" plan -input=false -no-color "-lock-timeout=${LOCK_TIMEOUT}" "${destroy_flag[@]}" "-out=${plan_file}" ||
      engine_failed "${i}" "${start}" plan
  fi
  load plan-summary --index "${i}" --plan "${plan_file}" || fail_phase "${i}" "${start}" "could not read the plan of ${PHASE_LAYER}"
  if [[ -n "${PLAN_REFUSED}" ]]; then
    record "${i}" refused "${start}" || true
    fail "${PLAN_REFUSED}"
  fi
  if ((SAVE_PLANS)); then
    ts save-plan --index "${i}" --plan "${plan_file}" --changes "${PLAN_CHANGES}" ||
      fail_phase "${i}" "${start}" "the plan of ${PHASE_LAYER} was not saved"
  fi
  if ((!PLAN_CHANGES)); then
    # Applied all the same: the engine refuses a saved plan whose state moved since ("Saved plan is stale"), so a
    # layer above that read this one is never applied after it changed unseen.
    if [[ -n "${PHASE_SAVED_PLAN}" ]]; then
      engine_in "${PHASE_TARGET}" apply -input=false -no-color "-lock-timeout=${LOCK_TIMEOUT}" "${plan_file}" ||
        engine_failed "${i}" "${start}" "apply of the saved plan (no changes)"
    fi
    record "${i}" nothing "${start}"
    return
  fi
  if [[ -n "${PHASE_UNREVIEWED}" ]]; then
    record "${i}" refused "${start}" || true
    fail "${PHASE_LAYER} was not planned by the run that saved the plans (it reads ${PHASE_UNREVIEWED}, which had changes then), and its plan now has changes nobody reviewed: refused. ${PHASE_UNREVIEWED} and the layers below it are applied; plan again (a pull request's plan job, or ./bootstrap.sh --plan --save-plans=<dir>) and apply those plans"
  fi
  if [[ "${PHASE_ACTION}" == plan || "${PHASE_ACTION}" == plan-destroy ]]; then
    record "${i}" completed "${start}"
    return
  fi
  if ! confirm_apply; then
    record "${i}" declined "${start}"
    fail "${PHASE_ACTION} of ${PHASE_LAYER} declined; the layers after it were not touched"
  fi
  # Nodes that left nodes.yaml leave the cluster gracefully, one at a time, before layer 01 destroys their VMs; a
  # plan that reconfigures several running nodes is applied one node at a time (ROLLED), each healthy before the next.
  if [[ "${PHASE_ACTION}" == apply && "${PHASE_LAYER}" == 01-* ]]; then
    ts leave --index "${i}" || fail_phase "${i}" "${start}" "a node did not leave the cluster gracefully; ${PHASE_LAYER} was not applied"
    local ROLLED=0
    load rollout --index "${i}" --plan "${plan_file}" ||
      fail_phase "${i}" "${start}" "the node-by-node apply of ${PHASE_LAYER} stopped (see above)"
    if ((ROLLED)); then
      record "${i}" completed "${start}"
      return
    fi
  fi
  engine_in "${PHASE_TARGET}" apply -input=false -no-color "-lock-timeout=${LOCK_TIMEOUT}" "${plan_file}" ||
    engine_failed "${i}" "${start}" apply
  record "${i}" completed "${start}"
  if [[ "${PHASE_ACTION}" == apply && "${PHASE_LAYER}" == 00-* ]]; then
    ts deploy-key --index "${i}" || log "could not read the outputs of ${PHASE_LAYER}"
  fi
}

wait_api_phase() {
  local i="$1" start=${SECONDS}
  ts wait-api --index "${i}" || fail_phase "${i}" "${start}" "the Kubernetes API of the cluster did not become ready"
  record "${i}" completed "${start}"
}

run_phases() {
  local i PHASE_ACTION PHASE_LAYER PHASE_TARGET PHASE_BLOCKER PHASE_SAVED_PLAN PHASE_UNREVIEWED
  for ((i = 0; i < PHASE_COUNT; i++)); do
    load phase --index "${i}" || fail "internal: could not read phase ${i} of the run"
    header "[$((i + 1))/${PHASE_COUNT}] ${PHASE_ACTION} ${PHASE_LAYER}"
    case "${PHASE_ACTION}" in
      apply | destroy | plan | plan-destroy) engine_phase "${i}" ;;
      wait-api) wait_api_phase "${i}" ;;
      *) fail "internal: unknown phase ${PHASE_ACTION}" ;;
    esac
  done
}

# ./bootstrap.sh upgrade|restart|etcd-recover: its own preflight, which prints the steps; then, confirmed, the steps.
rolling() {
  local answer="" start=${SECONDS} question="run these steps, one node at a time?" resume="; run ./bootstrap.sh ${COMMAND} again to resume"
  if [[ "${COMMAND}" == etcd-recover ]]; then
    # Once bootstrapped from the snapshot, etcd has data again: a second run is refused by its own preflight.
    question="restore etcd from the snapshot on the first controller?" resume=""
  fi
  header "preflight (${COMMAND})"
  ts "${COMMAND}-preflight" || fail "preflight failed; nothing was changed"
  log "-- preflight passed in $((SECONDS - start))s"
  ((PLAN_ONLY)) && return 0
  if ((!AUTO_APPROVE)); then
    read -r -p "${COMMAND}: ${question} Only 'yes' is accepted: " answer || true
    [[ "${answer}" == yes ]] || fail "${COMMAND} declined; nothing was changed"
  fi
  header "${COMMAND}"
  start=${SECONDS}
  ts "${COMMAND}-run" || fail "the ${COMMAND} stopped after $((SECONDS - start))s (see above)${resume}"
  log "-- ${COMMAND} done in $((SECONDS - start))s"
}

# --force-unlock=<id> --only=<layer>: releases the lock a killed run left, confirmed, through the engine (which
# refuses an ID that is not the lock's). Nothing is planned or applied.
force_unlock() {
  local answer="" PHASE_ACTION PHASE_LAYER PHASE_TARGET PHASE_BLOCKER PHASE_SAVED_PLAN PHASE_UNREVIEWED
  load phase --index 0 || fail "internal: could not read phase 0 of the run"
  header "force-unlock ${PHASE_LAYER}"
  log "Releases lock ${FORCE_UNLOCK} on the state of ${PHASE_LAYER}. Only when the run that took it is gone:"
  log "a run still working would go on writing the state while another run takes the lock."
  if ((!AUTO_APPROVE)); then
    read -r -p "Release lock ${FORCE_UNLOCK}? Only 'yes' is accepted: " answer || true
    [[ "${answer}" == yes ]] || fail "force-unlock declined; the lock is kept"
  fi
  engine_in "${PHASE_TARGET}" force-unlock -force "${FORCE_UNLOCK}" ||
    fail "the engine did not release lock ${FORCE_UNLOCK} of ${PHASE_LAYER} (see above; an ID that is not the lock's is refused)"
  log "lock ${FORCE_UNLOCK} of ${PHASE_LAYER} released"
}

# migrate-state: after the preflight of every layer, confirmed, each layer's state copied (scripts/bootstrap/migrate-state.ts).
migrate_state() {
  local answer="" start=${SECONDS}
  header "migrate-state"
  if ((!AUTO_APPROVE)); then
    read -r -p "Copy each layer's state from previous_state_backend to state_backend (a backup of each first)? Only 'yes' is accepted: " answer || true
    [[ "${answer}" == yes ]] || fail "migrate-state declined; nothing was migrated"
  fi
  ts migrate-state || fail "migrate-state stopped after $((SECONDS - start))s (see above)"
  log "-- migrate-state done in $((SECONDS - start))s"
}

# EXIT trap: the summary table, the verdict, the run folder removed. Safe to run twice.
finish() {
  local status=$?
  [[ -z "${FINISHED}" ]] || return 0
  FINISHED=1
  if [[ -n "${RUN_DIR}" && -d "${RUN_DIR}" ]]; then
    [[ -z "${LOG_FILE}" ]] || ts summary --seconds "${SECONDS}" || true
    rm -rf "${RUN_DIR:?}"
  fi
  # Before the log starts (bad arguments, --help) there is no verdict to give.
  [[ -n "${LOG_FILE}" ]] || return 0
  if ((status == 0)); then
    log "bootstrap: done in ${SECONDS}s; log: ${LOG_FILE}"
  else
    log "bootstrap: failed (exit ${status}); log: ${LOG_FILE}" >&2
  fi
  # Let the log's tee finish before the shell returns.
  if [[ -n "${TEE_PID}" ]]; then
    exec >&- 2>&-
    wait "${TEE_PID}" || true
  fi
}

main() {
  prepare_tool
  init_run "$@"
  start_log "$@"
  if [[ "${COMMAND}" == doctor ]]; then
    preflight
    log "doctor: every check passed; a run would go through ${PHASE_COUNT} phase(s)"
    return
  fi
  if [[ "${COMMAND}" == migrate-state ]]; then
    preflight
    migrate_state
    return
  fi
  if [[ "${COMMAND}" == etcd-snapshot ]]; then
    header "etcd-snapshot"
    ts etcd-snapshot || fail "etcd-snapshot failed (see above); no snapshot was written"
    return
  fi
  if [[ "${COMMAND}" != layers ]]; then
    rolling
    return
  fi
  confirm_persistent_auth
  preflight
  if [[ -n "${FORCE_UNLOCK}" ]]; then
    force_unlock
    return
  fi
  run_phases
  ts credentials
}

main "$@"
