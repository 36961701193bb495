// Turns an engine failure the user can act on into one clear paragraph. Today: a state lock held by another run.

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
  /** Basename of the engine binary, e.g. `tofu`. */
  readonly engineName: string;
  readonly repo: string;
  readonly configDir: string;
}

/** What to tell the user about a failed engine command, beyond the engine's own output; undefined if nothing. */
export function explainFailure(output: string, place: RunPlace): string | undefined {
  const lock = parseLockError(output);
  if (!lock) return undefined;
  const { layer, engineName: e } = place;
  const holder = [lock.who, lock.operation && `running ${lock.operation}`, lock.created && `since ${lock.created}`]
    .filter(Boolean)
    .join(", ");
  const config = place.configDir === place.repo ? "" : `CONFIG_DIR=${place.configDir} `;
  return [
    `bootstrap: the state of ${layer} is locked by another run (${holder || "holder unknown"}; lock ID ${lock.id}).`,
    `Nothing was changed by this run. Wait for the other run to finish, then start again.`,
    `If no run is active any more (it was killed), release the lock: cd ${place.repo} && ${config}npm run synth && ` +
      `cd cdktf.out/stacks/${layer} && ${e} init && ${e} force-unlock ${lock.id}`,
  ].join("\n");
}
