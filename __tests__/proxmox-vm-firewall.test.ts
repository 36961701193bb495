import { TerraformStack, Testing } from "cdktf";
import { describe, expect, it } from "vitest";
import { ProxmoxVmFirewall, type ProxmoxVmFirewallProps } from "../constructs/proxmox-vm-firewall";

const props: ProxmoxVmFirewallProps = {
  name: "cp0",
  proxmoxNode: "pve",
  vmId: 1021,
  controller: true,
  nodeCidr: "10.0.0.0/24",
  controllerAddresses: ["10.0.0.11", "10.0.0.12", "10.0.0.13"],
  podCidr: "10.42.0.0/16",
  cni: "cilium",
};

function synthFirewall(p: ProxmoxVmFirewallProps): { rules: any; options: any } {
  const stack = new TerraformStack(Testing.app(), "s");
  new ProxmoxVmFirewall(stack, "Firewall", p);
  const resource = JSON.parse(Testing.synth(stack)).resource;
  return {
    rules: resource.proxmox_virtual_environment_firewall_rules.cp0,
    options: resource.proxmox_virtual_environment_firewall_options.cp0,
  };
}

const sources = (rules: any, port: string) => rules.rule.filter((r: any) => r.dport === port).map((r: any) => r.source);

describe("ProxmoxVmFirewall", () => {
  it("drops everything else only after the rules exist", () => {
    const { options } = synthFirewall(props);
    expect(options).toMatchObject({
      enabled: true,
      input_policy: "DROP",
      output_policy: "ACCEPT",
      vm_id: 1021,
      node_name: "pve",
    });
    expect(options.depends_on).toEqual(["proxmox_virtual_environment_firewall_rules.cp0"]);
  });

  it.each([
    ["controller", true, ["10.0.0.0/24", "192.168.1.0/24"]],
    ["worker", false, []],
  ])(
    "%s: the Kubernetes API, trustd and etcd on controllers only (etcd from the controllers), the API and Talos' to the admin networks too",
    (_, controller, api) => {
      const { rules } = synthFirewall({ ...props, controller, adminCidrs: ["192.168.1.0/24"] });
      expect(sources(rules, "6443")).toEqual(api);
      expect(sources(rules, "50000")).toEqual(["10.0.0.0/24", "192.168.1.0/24"]);
      expect(sources(rules, "50001")).toEqual(controller ? ["10.0.0.0/24"] : []);
      expect(sources(rules, "10250")).toEqual(["10.0.0.0/24"]);
      expect(sources(rules, "2379:2380")).toEqual(controller ? ["10.0.0.11,10.0.0.12,10.0.0.13"] : []);
    },
  );

  it("opens no port of a feature that is off: no VXLAN with native routing, no WireGuard, no memberlist, nothing the control plane binds to 127.0.0.1", () => {
    const { rules } = synthFirewall(props);
    const ports = rules.rule.flatMap((r: any) => (r.dport ? [r.dport] : []));
    for (const port of ["8472", "51871", "7946", "4244", "10257", "10259"]) expect(ports).not.toContain(port);
    expect(sources(rules, "4240")).toEqual(["10.0.0.0/24"]);
  });

  it("with flannel opens its VXLAN and not Cilium's health port; with cni none neither", () => {
    const flannel = synthFirewall({ ...props, cni: "flannel" }).rules;
    expect(flannel.rule.filter((r: any) => r.dport === "8472").map((r: any) => `${r.proto} ${r.source}`)).toEqual([
      "udp 10.0.0.0/24",
    ]);
    expect(sources(flannel, "4240")).toEqual([]);
    const none = synthFirewall({ ...props, cni: "none" }).rules;
    expect(none.rule.some((r: any) => r.dport === "8472" || r.dport === "4240")).toBe(false);
  });

  it("lets pods in from other nodes and from the nodes' network, on any port", () => {
    const { rules } = synthFirewall(props);
    const anyPort = rules.rule.filter((r: any) => !r.proto).map((r: any) => `${r.source ?? "*"} > ${r.dest ?? "*"}`);
    expect(anyPort).toEqual(["10.42.0.0/16 > *", "10.0.0.0/24 > 10.42.0.0/16"]);
  });

  it("NodePorts: from anywhere without admin networks, else only from the nodes' and the admin networks", () => {
    const open = synthFirewall(props).rules;
    expect(sources(open, "30000:32767")).toEqual([undefined, undefined]);
    const narrowed = synthFirewall({ ...props, adminCidrs: ["192.168.1.0/24"] }).rules;
    expect(sources(narrowed, "30000:32767")).toEqual([
      "10.0.0.0/24",
      "10.0.0.0/24",
      "192.168.1.0/24",
      "192.168.1.0/24",
    ]);
  });

  it.each([
    ["SNAT", "snat", undefined, ["192.168.1.0/24"], []],
    ["DSR with admin networks", "dsr", undefined, ["192.168.1.0/24"], ["192.168.1.0/24"]],
    ["DSR without admin networks", "dsr", undefined, [], [undefined]],
    [
      "DSR with LoadBalancer addresses",
      "dsr",
      { start: "10.0.0.200", stop: "10.0.0.220" },
      ["192.168.1.0/24"],
      [undefined],
    ],
  ] as const)(
    "%s: service clients forwarded to a pod here keep their address only with DSR, so only then are they let in to pods",
    (_, mode, range, adminCidrs, expected) => {
      const { rules } = synthFirewall({ ...props, adminCidrs, loadBalancer: { mode, range } });
      const dsr = rules.rule.filter((r: any) => r.dest === "10.42.0.0/16" && r.source !== "10.0.0.0/24");
      expect(dsr.map((r: any) => r.source)).toEqual(expected);
    },
  );

  it("lets in the LoadBalancer addresses from anywhere, on any port", () => {
    const { rules } = synthFirewall({
      ...props,
      loadBalancer: { mode: "snat", range: { start: "10.0.0.200", stop: "10.0.0.220" } },
    });
    const lb = rules.rule.filter((r: any) => r.dest?.includes("-"));
    expect(lb).toEqual([expect.objectContaining({ type: "in", action: "ACCEPT", dest: "10.0.0.200-10.0.0.220" })]);
    expect(lb[0].source ?? lb[0].dport ?? lb[0].proto).toBeUndefined();
  });
});
