// workloads.yaml in layer 01: each part of the examples synthesized and read back for its meaning.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Testing, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { loadConfig, parseConfig, resolveCluster } from "../config";
import { ClonedVm } from "../constructs/cloned-vm";
import { GuestHa } from "../constructs/guest-ha";
import { LxcContainer } from "../constructs/lxc-container";
import { VzdumpJob } from "../constructs/vzdump-job";
import { buildApp } from "../layers/app";
import { exampleSources, REPO, type StackJson } from "./support/synth";

/** Every stack of a config folder, synthesized; plus the raw text for searching. */
function synthFolder(dir: string): { infra: StackJson; text: string } {
  const out = mkdtempSync(join(tmpdir(), "workloads-"));
  try {
    buildApp(resolveCluster(loadConfig(dir)), { configDir: dir, outdir: out }).synth();
    const texts = ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"].map((l) =>
      readFileSync(join(out, "stacks", l, "cdk.tf.json"), "utf8"),
    );
    return { infra: JSON.parse(texts[1]), text: texts.join("\n") };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const example = (name: string) => synthFolder(join(REPO, "examples", name));
const lxc = example("lxc-homelab");
const zoned = example("zoned-ha");
const gpu = example("gpu-single-host");
const res = (s: StackJson, type: string) => s.resource?.[type] ?? {};

describe("without workloads.yaml", () => {
  it("every stack is byte-identical to a config with an empty workloads.yaml, and nothing of it appears", () => {
    const synthText = (workloads: string | undefined) => {
      const dir = mkdtempSync(join(tmpdir(), "no-workloads-"));
      try {
        const sources = { ...exampleSources(), workloads };
        writeFileSync(join(dir, "cluster.yaml"), sources.cluster);
        writeFileSync(join(dir, "nodes.yaml"), sources.nodes);
        const out = join(dir, "out");
        buildApp(resolveCluster(parseConfig(sources, dir)), { configDir: dir, outdir: out }).synth();
        return ["00-persistent-auth", "01-infrastructure", "02-services", "03-configuration"]
          .map((l) => readFileSync(join(out, "stacks", l, "cdk.tf.json"), "utf8"))
          .join("\n");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    };
    const without = synthText(undefined);
    expect(synthText("# nothing yet\n")).toBe(without);
    for (const type of [
      "proxmox_virtual_environment_container",
      "proxmox_backup_job",
      "proxmox_sdn_zone_vlan",
      "proxmox_replication",
      "variable",
    ]) {
      expect(without).not.toContain(`"${type}"`);
    }
  });
});

describe("LXC containers (examples/lxc-homelab)", () => {
  const cts = res(lxc.infra, "proxmox_virtual_environment_container");

  it("one container per entry, unprivileged unless a reason is given, the reason in the description", () => {
    expect(Object.keys(cts).sort()).toEqual(["apps", "dns", "media", "proxy", "uptime"]);
    expect(
      Object.entries(cts)
        .filter(([, c]) => c.unprivileged === false)
        .map(([n]) => n),
    ).toEqual(["media"]);
    expect(cts.media.description).toContain("Privileged: Intel Quick Sync transcoding needs /dev/dri");
    expect(cts.proxy.description).not.toContain("Privileged");
  });

  it("features only where asked; sizing, disks, mount points, network, startup and tags from the file", () => {
    expect(cts.apps.features).toEqual({ nesting: true, keyctl: true, fuse: true });
    expect(cts.media.features).toEqual({ nesting: true, keyctl: false, fuse: false });
    expect(cts.proxy.features).toBeUndefined();
    expect(cts.apps).toMatchObject({
      node_name: "pve1",
      vm_id: 110,
      cpu: { cores: 4 },
      memory: { dedicated: 4096, swap: 512 },
      disk: { datastore_id: "local-zfs", size: 32 },
    });
    expect(cts.apps.mount_point).toEqual([
      { path: "/srv/appdata", volume: "local-zfs", size: "64G", read_only: false, backup: true },
    ]);
    expect(cts.media.mount_point).toEqual([{ path: "/media", volume: "/tank/media", read_only: true, backup: false }]);
    expect(cts.dns).toMatchObject({
      memory: { dedicated: 256, swap: 0 },
      startup: { order: 0, up_delay: 10 },
      start_on_boot: true,
      started: true,
    });
    expect(cts.proxy.initialization).toMatchObject({
      hostname: "proxy",
      ip_config: [{ ipv4: { address: "192.168.1.10/24", gateway: "192.168.1.1" } }],
      dns: { servers: ["192.168.1.53"] },
    });
    // The proxy has a firewall block: its NIC is filtered; media has none: not.
    expect(cts.proxy.network_interface).toEqual([
      { name: "eth0", bridge: "vmbr0", mac_address: "bc:24:11:01:01:00", firewall: true },
    ]);
    expect(cts.media.network_interface).toMatchObject([{ firewall: false }]);
    expect(cts.uptime.initialization).toMatchObject({ ip_config: [{ ipv4: { address: "dhcp" } }] });
    expect(cts.proxy.tags).toEqual(["backup", "edge"]);
  });

  it("templates: a volume id as is; a URL downloaded once per host and storage", () => {
    expect(cts.proxy.operating_system).toEqual({
      template_file_id: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
      type: "debian",
    });
    const downloads = Object.entries(res(lxc.infra, "proxmox_download_file")).filter(
      ([, d]) => d.content_type === "vztmpl",
    );
    expect(downloads.map(([, d]) => `${d.node_name}:${d.datastore_id}:${d.file_name}`).sort()).toEqual([
      "pve1:local:debian-13-standard_13.1-2_amd64.tar.zst",
      "pve2:local:debian-13-standard_13.1-2_amd64.tar.zst",
    ]);
    const pve1 = downloads.find(([, d]) => d.node_name === "pve1")![0];
    expect((cts.apps.operating_system as { template_file_id: string }).template_file_id).toBe(
      `\${proxmox_download_file.${pve1}.id}`,
    );
  });

  it("SSH keys: the file's public key inline, the environment's through an OpenTofu variable, never a private key", () => {
    const pub = readFileSync(join(REPO, "examples/lxc-homelab/keys/admin.pub"), "utf8").trim();
    expect(cts.proxy.initialization).toMatchObject({ user_account: { keys: [pub] } });
    expect(JSON.stringify(cts.apps.initialization)).toContain("var.extra_ssh_keys");
    expect(lxc.infra as unknown as { variable: Record<string, unknown> }).toMatchObject({
      variable: { extra_ssh_keys: { type: "string", nullable: false } },
    });
    expect(lxc.text).not.toMatch(/PRIVATE KEY|"password":\s*"[^$]/);
  });

  it("the appliance VM is a clone of its template on DHCP, without cloud-init", () => {
    const haos = res(lxc.infra, "proxmox_virtual_environment_vm").haos;
    expect(haos).toMatchObject({
      vm_id: 150,
      node_name: "pve1",
      clone: { vm_id: 9000, full: true, datastore_id: "local-zfs" },
      bios: "ovmf",
      disk: [{ interface: "scsi0", size: 64 }],
    });
    expect(haos.initialization).toBeUndefined();
    expect(haos.description).toContain("Home Assistant OS appliance");
  });

  it("backups: tags resolved to ids, retention as prune-backups, PBS as a target with its password from a sensitive variable", () => {
    const jobs = res(lxc.infra, "proxmox_backup_job");
    expect(jobs.nightly).toMatchObject({
      storage: "pbs",
      schedule: "02:30",
      mode: "snapshot",
      vmid: ["100", "101", "110", "150"],
      prune_backups: { "keep-last": "3", "keep-daily": "7", "keep-weekly": "4", "keep-monthly": "6" },
      depends_on: ["proxmox_storage_pbs.pbs"],
    });
    expect(jobs["weekly-local"]).toMatchObject({
      storage: "local",
      mode: "stop",
      vmid: ["120"],
      prune_backups: { "keep-last": "2" },
    });
    expect(res(lxc.infra, "proxmox_storage_pbs").pbs).toMatchObject({
      server: "pbs.home.arpa",
      datastore: "homelab",
      username: "backup@pbs",
      password: "${var.pbs_password}",
      content: ["backup"],
    });
    expect((lxc.infra as unknown as { variable: Record<string, unknown> }).variable.pbs_password).toMatchObject({
      sensitive: true,
    });
  });
});

describe("zones, HA and replication (examples/zoned-ha)", () => {
  const vms = res(zoned.infra, "proxmox_virtual_environment_vm");

  it("one SDN VLAN zone, a VNet per zone with its tag, a subnet with its gateway, then one apply", () => {
    expect(res(zoned.infra, "proxmox_sdn_zone_vlan").homenet).toMatchObject({ id: "homenet", bridge: "vmbr0" });
    const vnets = res(zoned.infra, "proxmox_sdn_vnet");
    expect(Object.fromEntries(Object.entries(vnets).map(([n, v]) => [n, v.tag]))).toEqual({
      mgmt: 10,
      lan: 20,
      iot: 30,
      dmz: 50,
    });
    expect(vnets.mgmt).toMatchObject({ zone: "${proxmox_sdn_zone_vlan.homenet.id}", alias: "management" });
    const subnets = res(zoned.infra, "proxmox_sdn_subnet");
    expect(subnets.iot).toMatchObject({
      cidr: "10.10.30.0/24",
      gateway: "10.10.30.254",
      vnet: "${proxmox_sdn_vnet.iot.id}",
    });
    expect(subnets.lan.gateway).toBe("10.10.20.1");
    const appliers = res(zoned.infra, "proxmox_sdn_applier");
    expect((appliers.homenet.depends_on as string[]).length).toBe(1 + 4 + 4);
  });

  it("applies again when an SDN object changes, and applies the objects' removal after they are gone", () => {
    const appliers = res(zoned.infra, "proxmox_sdn_applier");
    const objects = [
      "proxmox_sdn_zone_vlan.homenet",
      ...["mgmt", "lan", "iot", "dmz"].flatMap((z) => [`proxmox_sdn_vnet.${z}`, `proxmox_sdn_subnet.${z}`]),
    ];
    expect((appliers.homenet.lifecycle as { replace_triggered_by: string[] }).replace_triggered_by.sort()).toEqual(
      objects.sort(),
    );
    // The finalizer is created before every SDN object and so destroyed after them: its destroy applies.
    expect(appliers.homenet_finalizer.depends_on).toBeUndefined();
    expect(res(zoned.infra, "proxmox_sdn_zone_vlan").homenet.depends_on).toEqual([
      "proxmox_sdn_applier.homenet_finalizer",
    ]);
    for (const vnet of Object.values(res(zoned.infra, "proxmox_sdn_vnet")))
      expect(vnet.depends_on).toEqual(["proxmox_sdn_applier.homenet_finalizer"]);
  });

  it("guests join their zone's VNet after the apply, with the zone's prefix, gateway and DNS", () => {
    expect(vms.nextcloud.network_device).toMatchObject([
      { bridge: "${proxmox_sdn_vnet.dmz.id}", vlan_id: 0, firewall: true },
    ]);
    expect(vms.nextcloud.initialization).toMatchObject({
      ip_config: [{ ipv4: { address: "10.10.50.10/24", gateway: "10.10.50.1" } }],
      dns: { servers: ["10.10.50.1"] },
      user_account: { username: "ops" },
    });
    expect(vms["dev-box"].initialization).toMatchObject({ dns: { servers: ["10.10.10.53"] } });
    expect(vms.nextcloud.depends_on).toEqual(["proxmox_sdn_applier.homenet"]);
    const mqtt = res(zoned.infra, "proxmox_virtual_environment_container").mqtt;
    expect(mqtt.network_interface).toMatchObject([{ bridge: "${proxmox_sdn_vnet.iot.id}", firewall: true }]);
    expect(mqtt.depends_on).toEqual(["proxmox_sdn_applier.homenet"]);
  });

  it("the firewall starts first; a linked clone stays on the template's storage", () => {
    expect(vms.firewall.startup).toEqual({ order: 0, up_delay: 30 });
    expect(vms.nextcloud.clone).toEqual({ vm_id: 9001, full: false });
  });

  it("guest firewalls: the guest's rules before its zone's, zone names as their cidr, options after the rules", () => {
    const rules = res(zoned.infra, "proxmox_virtual_environment_firewall_rules");
    const options = res(zoned.infra, "proxmox_virtual_environment_firewall_options");
    expect(rules.mqtt).toMatchObject({
      node_name: "pve-b",
      container_id: "${proxmox_virtual_environment_container.mqtt.vm_id}",
      lifecycle: { replace_triggered_by: ["proxmox_virtual_environment_container.mqtt.id"] },
    });
    expect(rules.mqtt.rule).toEqual([
      {
        type: "in",
        action: "ACCEPT",
        proto: "tcp",
        dport: "1883",
        source: "10.10.30.0/24,10.10.20.0/24",
        comment: "MQTT",
        enabled: true,
      },
      { type: "in", action: "ACCEPT", macro: "SSH", source: "10.10.10.0/24", enabled: true },
      {
        type: "out",
        action: "ACCEPT",
        macro: "DNS",
        dest: "10.10.10.53",
        comment: "the DNS server only",
        enabled: true,
      },
      { type: "out", action: "ACCEPT", macro: "NTP", enabled: true },
    ]);
    expect(options.mqtt).toMatchObject({
      enabled: true,
      input_policy: "DROP",
      output_policy: "DROP",
      dhcp: false,
      macfilter: true,
      depends_on: ["proxmox_virtual_environment_firewall_rules.mqtt"],
    });
    expect(options.nextcloud).toMatchObject({
      vm_id: "${proxmox_virtual_environment_vm.nextcloud.vm_id}",
      output_policy: "ACCEPT",
    });
    // The router VM opted out (firewall: false on its NIC): no firewall of its own, its NIC unfiltered.
    expect(rules.firewall).toBeUndefined();
    const vms = res(zoned.infra, "proxmox_virtual_environment_vm");
    expect(vms.firewall).toMatchObject({ network_device: [{ firewall: false }] });
    expect(vms.dns).toMatchObject({ network_device: [{ firewall: true }] });
    // A guest on DHCP gets dhcp on, or its leases would be dropped (lxc-homelab's uptime).
    expect(res(lxc.infra, "proxmox_virtual_environment_firewall_options").uptime).toMatchObject({ dhcp: true });
  });

  it("HA resources for vm and ct guests, node-affinity rules for preferred hosts", () => {
    const ha = res(zoned.infra, "proxmox_haresource");
    expect(Object.fromEntries(Object.entries(ha).map(([n, h]) => [n, h.resource_id]))).toEqual({
      // The Talos nodes marked vm_ha, beside the guests in the same layer.
      "cp-a": "vm:${proxmox_virtual_environment_vm.cp-a.vm_id}",
      "cp-b": "vm:${proxmox_virtual_environment_vm.cp-b.vm_id}",
      firewall: "vm:100",
      dns: "vm:101",
      nextcloud: "vm:110",
      mqtt: "ct:120",
    });
    expect(ha.firewall).toMatchObject({ state: "started", depends_on: ["proxmox_virtual_environment_vm.firewall"] });
    const rules = res(zoned.infra, "proxmox_harule");
    expect(rules.firewall).toMatchObject({
      rule: "hosts-firewall",
      type: "node-affinity",
      resources: ["vm:100"],
      nodes: { "pve-a": 2, "pve-b": 1 },
      strict: false,
    });
    expect(Object.keys(rules).sort()).toEqual(["firewall", "nextcloud"]);
  });

  it("names an HA rule with a PVE config id (a letter first) even for a guest whose name starts with a digit", () => {
    const stack = new TerraformStack(Testing.app(), "ha");
    new GuestHa(stack, "Ha", { kind: "ct", guestId: 150, guestName: "1password", hosts: { pve1: 1 } });
    const rule = Object.values(res(JSON.parse(Testing.synth(stack)), "proxmox_harule"))[0];
    expect(rule.rule).toMatch(/^[a-z][a-z0-9_-]+$/i);
    expect(rule.rule).toContain("1password");
  });

  it("replication per guest to the other host with its schedule", () => {
    const rep = res(zoned.infra, "proxmox_replication");
    expect(Object.fromEntries(Object.entries(rep).map(([n, r]) => [n, `${r.id} ${r.target} ${r.schedule}`]))).toEqual({
      firewall: "100-0 pve-b */5",
      dns: "101-0 pve-a */15",
      nextcloud: "110-0 pve-b */15",
      mqtt: "120-0 pve-a */15",
    });
    expect(rep.nextcloud).toMatchObject({
      type: "local",
      rate: 50,
      depends_on: ["proxmox_virtual_environment_vm.nextcloud"],
    });
  });

  it("a pool from the guests in it, a backup job selecting it", () => {
    expect(res(zoned.infra, "proxmox_virtual_environment_pool").critical).toMatchObject({ pool_id: "critical" });
    expect(vms.firewall.pool_id).toBe("${proxmox_virtual_environment_pool.critical.pool_id}");
    expect(res(zoned.infra, "proxmox_backup_job").daily).toMatchObject({
      pool: "${proxmox_virtual_environment_pool.critical.pool_id}",
      storage: "backup-nfs",
    });
  });

  it("the Talos nodes' HA is in layer 01 beside the guests', by the VM's id", () => {
    expect(zoned.text).not.toContain('"resource_id": "vm:${data.terraform_remote_state');
  });
});

describe("a router VM with WAN and LAN, an untagged zone, a VPN container's device (examples/zoned-ha edited)", () => {
  const dir = mkdtempSync(join(tmpdir(), "workloads-router-"));
  cpSync(join(REPO, "examples", "zoned-ha"), dir, { recursive: true });
  const workloads = parse(readFileSync(join(dir, "workloads.yaml"), "utf8"));
  workloads.zones.push({ name: "wan", vlan: 0, cidr: "192.168.0.0/24" });
  const router = workloads.vms.find((vm: { name: string }) => vm.name === "firewall");
  router.extra_networks = [
    { zone: "wan", address: "192.168.0.2", mac_addr: "bc:24:11:10:00:02" },
    { zone: "lan", address: "10.10.20.2", firewall: true },
    { bridge: "vmbr1", vlan: 7 },
  ];
  const mqtt = workloads.containers.find((ct: { name: string }) => ct.name === "mqtt");
  mqtt.extra_networks = [{ zone: "wan" }];
  mqtt.devices = [
    { path: "/dev/net/tun", mode: "0666" },
    { path: "/dev/dri/renderD128", gid: 44, read_only: true },
  ];
  writeFileSync(join(dir, "workloads.yaml"), stringify(workloads));
  const { infra } = synthFolder(dir);
  rmSync(dir, { recursive: true, force: true });
  type Nic = Record<string, unknown>;
  const vm = res(infra, "proxmox_virtual_environment_vm").firewall as {
    network_device: Nic[];
    initialization: { ip_config: unknown[]; dns: unknown };
    depends_on: string[];
  };
  const ct = res(infra, "proxmox_virtual_environment_container").mqtt as {
    network_interface: Nic[];
    device_passthrough: unknown[];
    initialization: { ip_config: unknown[] };
  };

  it("the untagged zone is no VNet: its NICs are on the bridge itself, without a tag", () => {
    expect(Object.keys(res(infra, "proxmox_sdn_vnet")).sort()).toEqual(["dmz", "iot", "lan", "mgmt"]);
    expect(Object.keys(res(infra, "proxmox_sdn_subnet")).sort()).toEqual(["dmz", "iot", "lan", "mgmt"]);
    expect(vm.network_device[1]).toMatchObject({ bridge: "vmbr0", vlan_id: 0 });
    expect(ct.network_interface[1]).toEqual({ name: "eth1", bridge: "vmbr0", firewall: false });
  });

  it("the router's NICs in order (net0 its zone, then WAN, LAN, a tagged bridge), one ipconfig each, one gateway", () => {
    expect(vm.network_device).toMatchObject([
      { bridge: "${proxmox_sdn_vnet.mgmt.id}", vlan_id: 0, firewall: false, mac_address: "bc:24:11:10:10:02" },
      { bridge: "vmbr0", vlan_id: 0, firewall: false, mac_address: "bc:24:11:10:00:02" },
      { bridge: "${proxmox_sdn_vnet.lan.id}", vlan_id: 0, firewall: true },
      { bridge: "vmbr1", vlan_id: 7, firewall: false },
    ]);
    // A MAC left to Proxmox is not in the configuration (null), so the one Proxmox assigns is no change.
    expect(vm.network_device.map((n) => n.mac_address)).toEqual(["bc:24:11:10:10:02", "bc:24:11:10:00:02", null, null]);
    expect(vm.initialization.ip_config).toEqual([
      { ipv4: { address: "10.10.10.2/24", gateway: "10.10.10.1" } },
      { ipv4: { address: "192.168.0.2/24" } },
      { ipv4: { address: "10.10.20.2/24" } },
      { ipv4: { address: "dhcp" } },
    ]);
    expect(vm.initialization.dns).toEqual({ servers: ["10.10.10.1"] });
    expect(vm.depends_on).toContain("proxmox_sdn_applier.homenet");
  });

  it("the container's devices as dev0, dev1 with their owner, mode and write access", () => {
    expect(ct.device_passthrough).toEqual([
      { path: "/dev/net/tun", mode: "0666", deny_write: false },
      { path: "/dev/dri/renderD128", gid: 44, mode: "0660", deny_write: true },
    ]);
    expect(ct.initialization.ip_config).toEqual([
      { ipv4: { address: "10.10.30.5/24", gateway: "10.10.30.254" } },
      { ipv4: { address: "dhcp" } },
    ]);
  });
});

describe("a GPU VM next to a Talos node (examples/gpu-single-host)", () => {
  const vms = res(gpu.infra, "proxmox_virtual_environment_vm");

  it("the PCI mapping, and the device passed through by mapping name, after the mapping exists", () => {
    expect(res(gpu.infra, "proxmox_hardware_mapping_pci").rtx3090).toMatchObject({
      name: "rtx3090",
      map: [{ node: "pve", path: "0000:01:00.0", id: "10de:2204", subsystem_id: "1043:87b3", iommu_group: 14 }],
    });
    expect(vms.ai.hostpci).toEqual([{ device: "hostpci0", mapping: "rtx3090", pcie: true, xvga: false, rombar: true }]);
    expect(vms.ai.depends_on).toEqual(["proxmox_hardware_mapping_pci.rtx3090"]);
    expect(vms.ai.machine).toBe("q35");
  });

  it("the spare VM with the same device stays stopped; the Talos VM is untouched by workloads", () => {
    expect(vms["ai-spare"]).toMatchObject({ started: false, on_boot: false });
    expect(Object.keys(vms).sort()).toEqual(["ai", "ai-spare", "talos0"]);
    expect(vms.talos0.clone).toBeUndefined();
  });

  it("SSH keys from the environment only", () => {
    expect(vms.ai.initialization).toMatchObject({
      user_account: { username: "ai", keys: '${split("\\n", trimspace(var.ai_ssh_keys))}' },
    });
  });
});

describe("constructs refuse misuse", () => {
  const stack = () => new TerraformStack(Testing.app(), "test");
  it.each([
    [
      "LxcContainer keyctl when privileged",
      () =>
        new LxcContainer(stack(), "c", {
          name: "c",
          host: "pve",
          id: 100,
          templateFileId: "local:vztmpl/x.tar.zst",
          privilegedReason: "a reason",
          features: { keyctl: true },
        }),
      /'features.keyctl' is for unprivileged containers only/,
    ],
    [
      "LxcContainer volume without size",
      () =>
        new LxcContainer(stack(), "c", {
          name: "c",
          host: "pve",
          id: 100,
          templateFileId: "t",
          mountPoints: [{ path: "/d", volume: "local-lvm" }],
        }),
      /needs 'sizeGiB'/,
    ],
    [
      "LxcContainer gateway with DHCP",
      () =>
        new LxcContainer(stack(), "c", {
          name: "c",
          host: "pve",
          id: 100,
          templateFileId: "t",
          networks: [{ gateway: "10.0.0.1" }],
        }),
      /'networks\[0\].gateway' \(10.0.0.1\) needs a static 'networks\[0\].address'/,
    ],
    [
      "ClonedVm static address without cloud-init",
      () =>
        new ClonedVm(stack(), "v", {
          name: "v",
          host: "pve",
          id: 100,
          template: { id: 9000 },
          networks: [{ address: "10.0.0.5/24" }],
        }),
      /a static 'networks\[0\].address' needs 'cloudInit'/,
    ],
    [
      "ClonedVm PCIe on i440fx",
      () =>
        new ClonedVm(stack(), "v", {
          name: "v",
          host: "pve",
          id: 100,
          template: { id: 9000 },
          hardware: { machine: "pc" },
          pci: [{ mapping: "gpu" }],
        }),
      /'pcie' needs the q35 machine, got "pc"/,
    ],
    [
      "VzdumpJob without retention",
      () =>
        new VzdumpJob(stack(), "b", {
          name: "b",
          schedule: "02:00",
          storage: "local",
          select: { all: true },
          keep: {},
        }),
      /'keep' needs at least one/,
    ],
  ])("%s", (_what, make, message) => {
    expect(make).toThrow(message);
  });
});
