// Preflight for workloads.yaml: what Proxmox and OpenTofu will need that the config cannot hold, checked
// before anything changes. The environment variables it names, and the login for LXC settings that
// Proxmox reserves to root@pam itself (feature flags other than nesting, any feature of a privileged
// container, bind mounts of host paths, device passthrough), which no API token has; raw PCI ids of the nodes
// likewise.
import type { WorkloadsConfig } from "../../config";
import type { Problem } from "./problem";

export function workloadProblems(
  workloads: WorkloadsConfig | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Problem[] {
  if (!workloads) return [];
  const problems: Problem[] = [];

  const needed = new Map<string, string[]>();
  const need = (variable: string, by: string) => needed.set(variable, [...(needed.get(variable) ?? []), by]);
  workloads.pbs_storages.forEach((p, i) => need(p.password_env, `pbs_storages[${i}] (${p.name}).password_env`));
  for (const [kind, guests] of [
    ["containers", workloads.containers],
    ["vms", workloads.vms],
  ] as const) {
    guests.forEach((g, i) =>
      g.ssh_keys.forEach((k) => "env" in k && need(k.env, `${kind}[${i}] (${g.name}).ssh_keys`)),
    );
  }
  const missing = [...needed].filter(([variable]) => !env[variable]);
  if (missing.length) {
    problems.push({
      check: "environment",
      reason: `workloads.yaml reads ${missing.map(([v]) => v).join(", ")} from the environment, and ${missing.length === 1 ? "it is" : "they are"} not set`,
      details: missing.map(([v, by]) => `${v}: ${by.join(", ")}`),
      hint: "export them (OpenTofu reads TF_VAR_<name> as the variable <name>; they never go into the config)",
    });
  }

  const rootOnly = workloads.containers.flatMap((ct, i) => {
    const why = [
      ...(["keyctl", "fuse"] as const).filter((f) => ct.features[f]).map((f) => `feature ${f}`),
      ...(ct.privileged && ct.features.nesting ? ["a feature of a privileged container"] : []),
      ...ct.mount_points.filter((mp) => mp.host_path).map((mp) => `bind mount ${mp.host_path}`),
      ...ct.devices.map((d) => `device ${d.path}`),
    ];
    return why.length ? [`containers[${i}] (${ct.name}): ${why.join(", ")}`] : [];
  });
  const notRoot = notRootLogin(env);
  if (rootOnly.length && notRoot) {
    problems.push({
      check: "permissions",
      reason: `Proxmox lets only root@pam itself, logged in with its password, set these container options; ${notRoot}`,
      details: rootOnly,
      hint: ROOT_LOGIN_HINT,
    });
  }
  return problems;
}

export const ROOT_LOGIN_HINT =
  "export PROXMOX_VE_USERNAME=root@pam PROXMOX_VE_PASSWORD=... and unset PROXMOX_VE_API_TOKEN (the provider prefers a token) for layer 01, or remove the options";

/**
 * Why the provider will not act as root@pam itself, or undefined when it will. PVE compares the authenticated
 * user with root@pam, and an API token authenticates as user@realm!tokenid: only a login of root@pam with its
 * password (PROXMOX_VE_USERNAME/PASSWORD, and no token, which the provider would prefer) is root@pam.
 */
export function notRootLogin(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (!env.PROXMOX_VE_API_TOKEN && env.PROXMOX_VE_USERNAME === "root@pam" && env.PROXMOX_VE_PASSWORD) return undefined;
  return env.PROXMOX_VE_API_TOKEN
    ? `PROXMOX_VE_API_TOKEN authenticates as the token ${env.PROXMOX_VE_API_TOKEN.split("=")[0]}, never as root@pam`
    : `PROXMOX_VE_USERNAME is ${env.PROXMOX_VE_USERNAME ?? "not set"}${env.PROXMOX_VE_PASSWORD ? "" : " (and PROXMOX_VE_PASSWORD is not set)"}`;
}
