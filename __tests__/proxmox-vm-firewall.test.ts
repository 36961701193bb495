import { TerraformStack, Testing } from "cdktf";
import { describe, expect, it } from "vitest";
import { ProxmoxVmFirewall, type ProxmoxVmFirewallProps } from "../constructs/proxmox-vm-firewall";

const props: ProxmoxVmFirewallProps = {
  name: "cp0",
  proxmoxNode: "pve",
  vmId: 1021,
  controller: true,
  nodeCidr: "10.0.0.0/24",
  podCidr: "10.42.0.0/16",
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
    "%s: the Kubernetes API and etcd on controllers only, the API and Talos' to the admin networks too",
    (_, controller, api) => {
      const { rules } = synthFirewall({ ...props, controller, adminCidrs: ["192.168.1.0/24"] });
      expect(sources(rules, "6443")).toEqual(api);
      expect(sources(rules, "50000")).toEqual(["10.0.0.0/24", "192.168.1.0/24"]);
      expect(sources(rules, "10250")).toEqual(["10.0.0.0/24"]);
      expect(sources(rules, "2379:2380")).toEqual(controller ? ["10.0.0.0/24"] : []);
    },
  );

  it("without admin networks lets in the nodes' and the pods' networks, and from anywhere only NodePorts", () => {
    const { rules } = synthFirewall(props);
    expect(new Set(rules.rule.map((r: any) => r.source))).toEqual(new Set(["10.0.0.0/24", "10.42.0.0/16", undefined]));
    expect(rules.rule.filter((r: any) => r.source === undefined).map((r: any) => `${r.proto}/${r.dport}`)).toEqual([
      "tcp/30000:32767",
      "udp/30000:32767",
    ]);
  });

  it("lets in the LoadBalancer addresses from anywhere, on any port", () => {
    const { rules } = synthFirewall({ ...props, loadBalancerRange: { start: "10.0.0.200", stop: "10.0.0.220" } });
    const lb = rules.rule.filter((r: any) => r.dest !== undefined);
    expect(lb).toEqual([expect.objectContaining({ type: "in", action: "ACCEPT", dest: "10.0.0.200-10.0.0.220" })]);
    expect(lb[0].source ?? lb[0].dport ?? lb[0].proto).toBeUndefined();
  });
});
