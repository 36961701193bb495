// The floor the bench compares against: a bare cdktf app with BENCH_VMS minimal Proxmox VMs in one stack, the
// least any app that synthesizes that many VMs with these bindings can cost.
import { App, TerraformStack } from "cdktf";
import { ProxmoxProvider } from "../.gen/providers/proxmox/provider";
import { VirtualEnvironmentVm } from "../.gen/providers/proxmox/virtual-environment-vm";

const app = new App({ skipValidation: false });
const stack = new TerraformStack(app, "floor");
new ProxmoxProvider(stack, "proxmox", { endpoint: "https://127.0.0.1:8006/" });
for (let i = 0; i < Number(process.env.BENCH_VMS); i++)
  new VirtualEnvironmentVm(stack, `vm${i}`, { nodeName: "pve", name: `vm${i}` });
app.synth();
