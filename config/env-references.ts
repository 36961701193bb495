// The environment variables the config names (cluster.yaml's Tailscale auth key; in workloads.yaml {env:
// TF_VAR_...} for SSH keys, password_env for a backup server): OpenTofu reads TF_VAR_<name> as the variable <name> of the stack, so one name is one variable with one
// meaning. A name used for two things would hand one credential to the other (a password installed as an SSH
// key), and the variables the project declares itself are not the user's to name.
import type { ConfigFile, ConfigIssue, KeyPath } from "./issues";
import type { ClusterConfig } from "./schema";
import type { WorkloadsConfig } from "./workloads";

/** The variable the state passphrase comes in through (TF_VAR_state_passphrase), declared on every layer. */
export const STATE_PASSPHRASE_VARIABLE = "state_passphrase";

/** Variables the project declares itself, with what they hold. */
const RESERVED: ReadonlyMap<string, string> = new Map([
  [STATE_PASSPHRASE_VARIABLE, "the passphrase of the state encryption"],
]);

/** Every env reference of the config that names a reserved variable or a variable already meaning something else. */
export function envReferenceIssues(
  cluster: Partial<ClusterConfig> | undefined,
  workloads: WorkloadsConfig | undefined,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const meanings = new Map<string, { meaning: string; file: ConfigFile; path: KeyPath }>();
  const use = (env: string, meaning: string, path: KeyPath, file: ConfigFile = "workloads.yaml") => {
    const name = env.slice("TF_VAR_".length);
    const reserved = RESERVED.get(name);
    const first = meanings.get(name);
    let message: string | undefined;
    if (reserved !== undefined)
      message = `${env} is ${reserved}, which this project reads itself; name another variable`;
    else if (first && first.meaning !== meaning)
      message = `${env} already holds ${first.meaning} (${first.file === file ? "" : `${first.file} `}${formatKey(first.path)}); one variable holds one thing: name another for ${meaning}`;
    else if (!first) meanings.set(name, { meaning, file, path });
    if (message) issues.push({ file, path, message, severity: "error" });
  };
  if (cluster?.tailscale)
    use(cluster.tailscale.auth_key_env, "the Tailscale auth key", ["tailscale", "auth_key_env"], "cluster.yaml");
  if (!workloads) return issues;
  workloads.pbs_storages.forEach((pbs, i) =>
    use(pbs.password_env, `the password of ${pbs.username} on the Proxmox Backup Server ${pbs.server}`, [
      "pbs_storages",
      i,
      "password_env",
    ]),
  );
  for (const [kind, guests] of [
    ["containers", workloads.containers],
    ["vms", workloads.vms],
  ] as const)
    guests.forEach((guest, i) =>
      guest.ssh_keys.forEach((key, k) => {
        if ("env" in key) use(key.env, "public SSH keys", [kind, i, "ssh_keys", k, "env"]);
      }),
    );
  return issues;
}

function formatKey(path: KeyPath): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`))
    .join("")
    .slice(1);
}
