// Preflight's reading of the datacenter's and the hosts' firewall options (scripts/bootstrap/proxmox-firewall.ts)
// through the real API client, against the Proxmox simulator, the options set as the hints tell the user to.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig, resolveCluster, type ResolvedCluster } from "../../config";
import { startPveSim, type PveSim } from "../../judges/pve-sim/server";
import { proxmoxFirewallProblems } from "../../scripts/bootstrap/proxmox-firewall";
import { ProxmoxApi } from "../../scripts/upgrade/proxmox";
import { call } from "../support/pve-client";
import { exampleSources } from "../support/synth";

const TOKEN = "root@pam!ci=11111111-2222-3333-4444-555555555555";
let sim: PveSim;

beforeAll(async () => {
  sim = await startPveSim({ tokens: [TOKEN], nodes: ["pve1", "pve2"], rootPassword: "secret-root" });
});
afterAll(() => sim?.close());

function cluster(settings: Record<string, unknown>): ResolvedCluster {
  const nodes = (n: Record<string, unknown>[]) =>
    n.map((node, i) => ({ ...node, proxmox_node: i % 2 ? "pve2" : "pve1" }));
  return resolveCluster(parseConfig(exampleSources({ cluster: { proxmox_api_url: sim.url, ...settings }, nodes })));
}
const api = () => new ProxmoxApi({ url: sim.url, insecure: true, token: TOKEN });
const set = async (path: string, params: Record<string, string>) =>
  expect((await call(sim, TOKEN, "PUT", path, params)).status).toBe(200);

describe("the Proxmox firewall options bootstrap checks", () => {
  it("asks nothing when the cluster's firewall is off", async () => {
    const before = sim.calls.length;
    expect(await proxmoxFirewallProblems(cluster({ proxmox_firewall_enabled: false }), api())).toEqual({
      ok: [],
      problems: [],
    });
    expect(sim.calls.length).toBe(before);
  });

  it("refuses while the datacenter firewall is off (PVE's default), with the fix", async () => {
    const { problems } = await proxmoxFirewallProblems(
      cluster({ proxmox_firewall_enabled: true, cilium_loadbalancer_mode: "snat" }),
      api(),
    );
    expect(problems).toEqual([
      expect.objectContaining({
        reason: expect.stringContaining("the datacenter firewall is off in Proxmox"),
        hint: expect.stringContaining("pvesh set /cluster/firewall/options --enable 1"),
      }),
    ]);
  });

  it("refuses as well when only guests of workloads.yaml have a firewall, naming them", async () => {
    const withGuests = resolveCluster(
      parseConfig({
        ...exampleSources({ cluster: { proxmox_api_url: sim.url, proxmox_firewall_enabled: false } }),
        workloads: [
          "containers:",
          "  - name: proxy",
          "    id: 120",
          "    template: { volume: 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst' }",
          "    firewall: { rules: [{ action: ACCEPT, macro: HTTPS }] }",
          "",
        ].join("\n"),
      }),
    );
    const { problems } = await proxmoxFirewallProblems(withGuests, api());
    expect(problems).toEqual([
      expect.objectContaining({
        reason: expect.stringContaining("workloads.yaml gives proxy a firewall, and the datacenter firewall is off"),
        hint: expect.stringContaining("remove the guests' and zones' firewall blocks"),
      }),
    ]);
  });

  it("with the datacenter firewall on, SNAT needs nothing of the hosts (their options are not read)", async () => {
    await set("/cluster/firewall/options", { enable: "1" });
    const before = sim.calls.length;
    expect(
      await proxmoxFirewallProblems(
        cluster({ proxmox_firewall_enabled: true, cilium_loadbalancer_mode: "snat" }),
        api(),
      ),
    ).toEqual({ ok: ["the datacenter firewall is on"], problems: [] });
    expect(sim.calls.slice(before).map((c) => c.path)).toEqual(["/cluster/firewall/options"]);
  });

  it("DSR: refuses naming each host whose conntrack drops INVALID packets, until every host allows them", async () => {
    const dsr = cluster({ proxmox_firewall_enabled: true, cilium_loadbalancer_mode: "dsr" });
    const hosts = async () => (await proxmoxFirewallProblems(dsr, api())).problems.map((p) => p.reason);
    expect(await hosts()).toEqual([expect.stringContaining("nf_conntrack_allow_invalid is off on pve1, pve2")]);
    await set("/nodes/pve1/firewall/options", { nf_conntrack_allow_invalid: "1" });
    expect(await hosts()).toEqual([expect.stringContaining("nf_conntrack_allow_invalid is off on pve2:")]);
    await set("/nodes/pve2/firewall/options", { nf_conntrack_allow_invalid: "true" });
    expect(await proxmoxFirewallProblems(dsr, api())).toEqual({
      ok: ["the datacenter firewall is on", "nf_conntrack_allow_invalid on for Cilium's DSR on pve1, pve2"],
      problems: [],
    });
  });

  it("logs in with root@pam's password when there is no token, and says what it could not read", async () => {
    const login = new ProxmoxApi({
      url: sim.url,
      insecure: true,
      login: { username: "root@pam", password: "secret-root" },
    });
    const on = cluster({ proxmox_firewall_enabled: true, cilium_loadbalancer_mode: "snat" });
    expect((await proxmoxFirewallProblems(on, login)).problems).toEqual([]);
    const wrong = new ProxmoxApi({ url: sim.url, insecure: true, login: { username: "root@pam", password: "nope" } });
    expect((await proxmoxFirewallProblems(on, wrong)).problems).toEqual([
      expect.objectContaining({
        reason: expect.stringMatching(/^could not read cluster\/firewall\/options from .*HTTP 401/),
      }),
    ]);
  });
});
