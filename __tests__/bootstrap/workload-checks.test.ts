import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig, workloadsFileSchema } from "../../config";
import { workloadProblems } from "../../scripts/bootstrap/workload-checks";
import { REPO } from "../support/synth";

const homelab = loadConfig(join(REPO, "examples/lxc-homelab")).workloads!.config;
const TOKEN = "00000000-0000-0000-0000-000000000000";

describe("preflight for workloads.yaml", () => {
  it("names every TF_VAR_ the file reads that is not set, with who reads it", () => {
    const problems = workloadProblems(homelab, {
      PROXMOX_VE_USERNAME: "root@pam",
      PROXMOX_VE_PASSWORD: "pw",
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

  it.each([
    [{ PROXMOX_VE_API_TOKEN: `ops@pve!tofu=${TOKEN}` }, "the token ops@pve!tofu, never as root@pam"],
    [{ PROXMOX_VE_API_TOKEN: `root@pam!tofu=${TOKEN}` }, "the token root@pam!tofu, never as root@pam"],
    [
      { PROXMOX_VE_API_TOKEN: `root@pam!tofu=${TOKEN}`, PROXMOX_VE_USERNAME: "root@pam", PROXMOX_VE_PASSWORD: "pw" },
      "the token root@pam!tofu, never as root@pam",
    ],
    [{ PROXMOX_VE_USERNAME: "ops@pve", PROXMOX_VE_PASSWORD: "pw" }, "PROXMOX_VE_USERNAME is ops@pve"],
  ])(
    "no API token, even root@pam's, may set keyctl, fuse, a privileged container's features or bind mounts: %j",
    (login, who) => {
      const env = { ...login, TF_VAR_pbs_password: "x", TF_VAR_extra_ssh_keys: "k" };
      expect(workloadProblems(homelab, env)).toEqual([
        {
          check: "permissions",
          reason: expect.stringContaining(
            `Proxmox lets only root@pam itself, logged in with its password, set these container options; `,
          ),
          details: [
            "containers[2] (apps): feature keyctl, feature fuse, device /dev/net/tun",
            "containers[3] (media): a feature of a privileged container, bind mount /tank/media",
          ],
          hint: expect.stringContaining("PROXMOX_VE_USERNAME=root@pam"),
        },
      ]);
      expect(workloadProblems(homelab, env)[0].reason).toContain(who);
    },
  );

  it("a device passed into a container (dev<n>) needs root@pam's password login: an API token is refused at preflight", () => {
    const vpn = workloadsFileSchema.parse({
      containers: [
        {
          name: "vpn",
          id: 120,
          template: { volume: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst" },
          devices: [{ path: "/dev/net/tun" }],
        },
      ],
    });
    expect(workloadProblems(vpn, { PROXMOX_VE_API_TOKEN: `root@pam!tofu=${TOKEN}` })).toEqual([
      expect.objectContaining({
        check: "permissions",
        reason: expect.stringContaining("the token root@pam!tofu, never as root@pam"),
        details: ["containers[0] (vpn): device /dev/net/tun"],
      }),
    ]);
    expect(workloadProblems(vpn, { PROXMOX_VE_USERNAME: "root@pam", PROXMOX_VE_PASSWORD: "pw" })).toEqual([]);
  });

  it("nothing to say with root@pam's password login and every variable set, or without workloads.yaml", () => {
    expect(
      workloadProblems(homelab, {
        PROXMOX_VE_USERNAME: "root@pam",
        PROXMOX_VE_PASSWORD: "pw",
        TF_VAR_pbs_password: "x",
        TF_VAR_extra_ssh_keys: "k",
      }),
    ).toEqual([]);
    expect(workloadProblems(undefined, {})).toEqual([]);
  });
});
