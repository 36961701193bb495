// Turns an engine failure the user can act on into one clear paragraph: a state lock held by another run, a saved
// plan the engine refuses because the state moved since it was saved.

/**
 * The pg backend's lock is a PostgreSQL advisory lock: the engine's error carries the requester's lock info, not
 * the holder's, and the lock ends with the holder's session. A new state's creation lock reads "Already locked for
 * workspace creation" (capitalized), an existing one's "Cannot lock workspace; already locked for ...".
 */
const PG_LOCKED = /Workspace is already locked|already locked for workspace creation/i;

export interface LockHolder {
  readonly id: string;
  readonly who?: string;
  readonly operation?: string;
  readonly created?: string;
}

/** The lock holder named in an engine's "Error acquiring the state lock" output, or undefined. */
export function parseLockError(output: string): LockHolder | undefined {
  if (!/Error acquiring the state lock/.test(output)) return undefined;
  const field = (name: string) => new RegExp(`^\\s*${name}:[ \\t]*(.*)$`, "m").exec(output)?.[1].trim() || undefined;
  const id = field("ID") ?? /ID=(\S+)/.exec(output)?.[1] ?? "(unknown)";
  return {
    id,
    who: field("Who"),
    operation: field("Operation")
      ?.replace(/^OperationType/, "")
      .toLowerCase(),
    created: field("Created"),
  };
}

/** Where the run was: to name the commands that release a stale lock. */
export interface RunPlace {
  readonly layer: string;
  readonly repo: string;
  readonly configDir: string;
  /** The layer's state backend (local, s3, pg, http), when known. */
  readonly backend?: string;
}

/** What to tell the user about a failed engine command, beyond the engine's own output; undefined if nothing. */
export function explainFailure(output: string, place: RunPlace, env: NodeJS.ProcessEnv = {}): string | undefined {
  if (/Saved plan is stale|Saved plan does not match the given state/.test(output)) {
    return [
      `bootstrap: the state of ${place.layer} changed after its plan was saved (another run applied it since), so the engine refused the saved plan: nothing of it was applied.`,
      `A plan is applied only to the state it was made from. Plan again (a pull request's plan job, or ./bootstrap.sh --plan --save-plans=<dir>), review it, and apply that.`,
    ].join("\n");
  }
  if (/Error acquiring the state lock/.test(output) && PG_LOCKED.test(output)) {
    return [
      `bootstrap: the state of ${place.layer} is locked by another session of its PostgreSQL database (an advisory lock; OpenTofu records no holder for it).`,
      `Nothing was changed by this run. Wait for the other run to finish, then start again.`,
      `The lock lives as long as the session holding it: a killed run's lock went with its connection, so there is nothing to release. ` +
        `Who holds it (a run of ./bootstrap.sh names its sessions "bootstrap[<pid>] <user>@<host> <config folder>"${env.PGAPPNAME ? `; this one's are "${env.PGAPPNAME}"` : ""}): ` +
        `SELECT pid, application_name, usename, client_addr, backend_start FROM pg_locks JOIN pg_stat_activity USING (pid) WHERE locktype = 'advisory';`,
    ].join("\n");
  }
  const lock = parseLockError(output);
  if (!lock) return undefined;
  const { layer } = place;
  const holder = [lock.who, lock.operation && `running ${lock.operation}`, lock.created && `since ${lock.created}`]
    .filter(Boolean)
    .join(", ");
  const config = place.configDir === place.repo ? "" : `CONFIG_DIR=${place.configDir} `;
  if (place.backend === "local")
    return [
      `bootstrap: the state of ${layer} is locked by another run (${holder || "holder unknown"}; lock ID ${lock.id}).`,
      `Nothing was changed by this run. Wait for the other run to finish, then start again.`,
      `The local backend's lock is the engine's lock on the state file: it ends with the engine's process, so a killed run leaves nothing to release (only its note, state/.${layer}.tfstate.lock.info, which the next run replaces).`,
    ].join("\n");
  return [
    `bootstrap: the state of ${layer} is locked by another run (${holder || "holder unknown"}; lock ID ${lock.id}).`,
    `Nothing was changed by this run. Wait for the other run to finish, then start again.`,
    `If no run is active any more (it was killed), release the lock: cd ${place.repo} && ${config}./bootstrap.sh --only=${layer} --force-unlock=${lock.id}`,
  ].join("\n");
}
