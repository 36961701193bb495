import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../config";
import { workloadProblems } from "../../scripts/bootstrap/workload-checks";
import { REPO } from "../support/synth";

const homelab = loadConfig(join(REPO, "examples/lxc-homelab")).workloads!.config;
const TOKEN = "00000000-0000-0000-0000-000000000000";

describe("preflight for workloads.yaml", () => {
  it("names every TF_VAR_ the file reads that is not set, with who reads it", () => {
    const problems = workloadProblems(homelab, {
      PROXMOX_VE_API_TOKEN: `root@pam!ops=${TOKEN}`,
      TF_VAR_extra_ssh_keys: "ssh-ed25519 AAAA x",
    });
    expect(problems).toEqual([
      expect.objectContaining({
        check: "environment",
        reason: "workloads.yaml reads TF_VAR_pbs_password from the environment, and it is not set",
        details: ["TF_VAR_pbs_password: pbs_storages[0] (pbs).password_env"],
      }),
    ]);
  });

  it("a token of another user than root@pam cannot set keyctl, fuse or bind mounts", () => {
    const env = { PROXMOX_VE_API_TOKEN: `ops@pve!tofu=${TOKEN}`, TF_VAR_pbs_password: "x", TF_VAR_extra_ssh_keys: "k" };
    expect(workloadProblems(homelab, env)).toEqual([
      {
        check: "permissions",
        reason: "Proxmox lets only root@pam set these container options, and PROXMOX_VE_API_TOKEN belongs to ops@pve",
        details: [
          "containers[2] (apps): feature keyctl, feature fuse",
          "containers[3] (media): a feature of a privileged container, bind mount /tank/media",
        ],
        hint: expect.stringContaining("root@pam"),
      },
    ]);
  });

  it("nothing to say with root@pam and every variable set, or without workloads.yaml", () => {
    expect(
      workloadProblems(homelab, {
        PROXMOX_VE_API_TOKEN: `root@pam!tofu=${TOKEN}`,
        TF_VAR_pbs_password: "x",
        TF_VAR_extra_ssh_keys: "k",
      }),
    ).toEqual([]);
    expect(workloadProblems(undefined, {})).toEqual([]);
  });
});
