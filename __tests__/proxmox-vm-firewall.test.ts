import { TerraformStack, Testing } from "cdktf";
import { describe, expect, it } from "vitest";
import { ProxmoxVmFirewall, type ProxmoxVmFirewallProps } from "../constructs/proxmox-vm-firewall";

const props: ProxmoxVmFirewallProps = { name: "cp0", proxmoxNode: "pve", vmId: 1021, controller: true, nodeCidr: "10.0.0.0/24" };

function synthFirewall(p: ProxmoxVmFirewallProps): { rules: any; options: any } {
  const stack = new TerraformStack(Testing.app(), "s");
  new ProxmoxVmFirewall(stack, "Firewall", p);
  const resource = JSON.parse(Testing.synth(stack)).resource;
  return { rules: resource.proxmox_virtual_environment_firewall_rules.cp0, options: resource.proxmox_virtual_environment_firewall_options.cp0 };
}

const sources = (rules: any, port: string) => rules.rule.filter((r: any) => r.dport === port).map((r: any) => r.source);

describe("ProxmoxVmFirewall", () => {
  it("drops everything else only after the rules exist", () => {
    const { options } = synthFirewall(props);
    expect(options).toMatchObject({ enabled: true, input_policy: "DROP", output_policy: "ACCEPT", vm_id: 1021, node_name: "pve" });
    expect(options.depends_on).toEqual(["proxmox_virtual_environment_firewall_rules.cp0"]);
  });

  it.each([
    ["controller", true, ["10.0.0.0/24", "192.168.1.0/24"]],
    ["worker", false, []],
  ])("%s: the Kubernetes API and etcd on controllers only, the API and Talos' to the admin networks too", (_, controller, api) => {
    const { rules } = synthFirewall({ ...props, controller, adminCidrs: ["192.168.1.0/24"] });
    expect(sources(rules, "6443")).toEqual(api);
    expect(sources(rules, "50000")).toEqual(["10.0.0.0/24", "192.168.1.0/24"]);
    expect(sources(rules, "10250")).toEqual(["10.0.0.0/24"]);
    expect(sources(rules, "2379:2380")).toEqual(controller ? ["10.0.0.0/24"] : []);
  });

  it("lets in only the nodes' network without admin networks", () => {
    const { rules } = synthFirewall(props);
    expect(new Set(rules.rule.map((r: any) => r.source))).toEqual(new Set(["10.0.0.0/24"]));
  });
});
