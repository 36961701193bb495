// workloads.yaml in layer 01, next to the cluster's VMs: network zones, PCI mappings, pools, container
// templates, containers, cloned VMs, their HA and replication, backup storages and jobs.
import { dependable, Fn, TerraformVariable, Token } from "cdktf";
import type { Construct } from "constructs";
import { selectedIds, type Guest, type ResolvedCluster, type ResolvedZone } from "../config";
import type { EngineLiterals } from "../config/terraform-literal";
import { ClonedVm } from "../constructs/cloned-vm";
import { ContainerTemplate } from "../constructs/container-template";
import { GuestFirewall } from "../constructs/guest-firewall";
import type { GuestNic } from "../constructs/guest-nic";
import { GuestHa } from "../constructs/guest-ha";
import { GuestReplication } from "../constructs/guest-replication";
import { LxcContainer } from "../constructs/lxc-container";
import { NetworkZones } from "../constructs/network-zones";
import { PbsStorage } from "../constructs/pbs-storage";
import { PciMapping } from "../constructs/pci-mapping";
import { ResourcePool } from "../constructs/resource-pool";
import { VzdumpJob } from "../constructs/vzdump-job";

/** Adds everything workloads.yaml describes to `scope` (layer 01's stack), beside the cluster's Talos VMs. */
export function addWorkloads(scope: Construct, cluster: EngineLiterals<ResolvedCluster>): void {
  if (!cluster.workloads) return;
  const { nodes } = cluster;
  const { config, sshKeyFiles, guests, zones } = cluster.workloads;
  // The untagged zone is the bridge's own network: no VNet (a VLAN zone's VNet needs a tag).
  const tagged = zones.flatMap((z) => (z.tag === undefined ? [] : [{ ...z, tag: z.tag }]));
  const network =
    tagged.length > 0
      ? new NetworkZones(scope, "Zones", {
          sdnZone: config.sdn_zone,
          bridge: config.bridge,
          zones: tagged.map((z) => ({
            name: z.config.name,
            vlan: z.tag,
            cidr: z.config.cidr,
            gateway: z.gateway,
            alias: z.config.description,
          })),
        })
      : undefined;
  const mappings = new Map(
    config.pci_mappings.map((m) => [
      m.name,
      new PciMapping(scope, `Pci-${m.name}`, {
        name: m.name,
        comment: m.description,
        devices: m.devices.map((d) => ({
          host: d.host,
          path: d.path,
          id: d.id,
          subsystemId: d.subsystem_id,
          iommuGroup: d.iommu_group,
        })),
      }),
    ]),
  );
  const pools = new Map<string, ResourcePool>();
  for (const pool of new Set(guests.flatMap((g) => g.config.pool ?? [])))
    pools.set(pool, new ResourcePool(scope, `Pool-${pool}`, { name: pool }));

  // SSH keys: files were read by the loader; each TF_VAR_ environment variable becomes one OpenTofu variable.
  const keyVariables = new Map<string, TerraformVariable>();
  const sshKeys = (g: Guest): string[] | undefined => {
    if (g.config.ssh_keys.length === 0) return undefined;
    const lists = g.config.ssh_keys.map((key) => {
      if ("file" in key) return sshKeyFiles.get(key.file)!.split("\n");
      const name = key.env.slice("TF_VAR_".length);
      let variable = keyVariables.get(name);
      if (!variable) {
        // A construct id of its own (a variable named like another construct of the stack is not a collision).
        variable = new TerraformVariable(scope, `SshKeys-${name}`, {
          type: "string",
          nullable: false,
          description: `Public SSH keys, one per line (from ${key.env})`,
        });
        variable.overrideLogicalId(name);
        keyVariables.set(name, variable);
      }
      return Fn.split("\n", Fn.trimspace(variable.stringValue));
    });
    return lists.length === 1 ? lists[0] : Token.asList(Fn.concat(lists));
  };
  // A guest in a tagged zone is on the zone's VNet; in the untagged zone, on the bridge itself with no tag.
  const bridgeOf = (zone: ResolvedZone | undefined, net: { bridge?: string; vlan?: number }) =>
    zone
      ? { bridge: zone.tag === undefined ? config.bridge : network!.vnets.get(zone.config.name)!.id }
      : { bridge: net.bridge ?? config.bridge, vlanId: net.vlan };
  const nics = (g: Guest): GuestNic[] => {
    const net = g.config.network;
    return [
      {
        ...bridgeOf(g.zone, net),
        // An address the guest sets itself is the config's (checks, inventory, DNS), not Proxmox's.
        address: net.set_by_guest ? "dhcp" : (g.addressCidr ?? "dhcp"),
        gateway: net.set_by_guest ? undefined : g.gateway,
        dnsServers: net.set_by_guest ? undefined : g.dnsServers,
        macAddress: net.mac_addr,
        firewall: g.nicFirewall,
      },
      ...g.extraNics.map((extra) => ({
        ...bridgeOf(extra.zone, extra.config),
        address: extra.config.set_by_guest ? "dhcp" : (extra.addressCidr ?? "dhcp"),
        macAddress: extra.config.mac_addr,
        firewall: extra.config.firewall,
      })),
    ];
  };
  /** Whether a guest's NIC is on a VNet, which exists on the hosts only after the SDN apply. */
  const onVnet = (g: Guest) => [g.zone, ...g.extraNics.map((n) => n.zone)].some((z) => z?.tag !== undefined);
  const common = (g: Guest) => ({
    name: g.config.name,
    host: g.host,
    id: g.config.id,
    networks: nics(g),
    startup: g.config.startup && {
      order: g.config.startup.order,
      upDelay: g.config.startup.up_delay,
      downDelay: g.config.startup.down_delay,
    },
    onBoot: g.config.on_boot,
    started: g.config.started,
    tags: g.config.tags,
    description: g.config.description,
    poolId: g.config.pool === undefined ? undefined : pools.get(g.config.pool)!.poolId,
  });

  const templates = new Map<string, ContainerTemplate>();
  for (const g of guests) {
    let guest: LxcContainer | ClonedVm;
    if (g.kind === "lxc") {
      const ct = g.config;
      let templateFileId: string;
      if ("volume" in ct.template) {
        templateFileId = ct.template.volume;
      } else {
        const key = `${ct.template.url}\0${g.host}\0${ct.template.storage}`;
        let template = templates.get(key);
        if (!template) {
          template = new ContainerTemplate(scope, `Template-${templates.size}`, {
            url: ct.template.url,
            host: g.host,
            storage: ct.template.storage,
            fileName: ct.template.file_name,
            checksum: ct.template.checksum,
            checksumAlgorithm: ct.template.checksum_algorithm,
          });
          templates.set(key, template);
        }
        templateFileId = template.fileId;
      }
      const container = new LxcContainer(scope, `Ct-${ct.name}`, {
        ...common(g),
        templateFileId,
        osType: ct.os_type,
        cores: ct.cores,
        memory: ct.memory,
        swap: ct.swap,
        rootDisk: { storage: g.diskStorage, sizeGiB: ct.disk.size },
        mountPoints: ct.mount_points.map((mp) => ({
          path: mp.path,
          volume: mp.storage ?? mp.host_path!,
          sizeGiB: mp.size,
          readOnly: mp.read_only,
          backup: mp.backup,
        })),
        privilegedReason: ct.privileged?.reason,
        devices: ct.devices.map((d) => ({ path: d.path, uid: d.uid, gid: d.gid, mode: d.mode, readOnly: d.read_only })),
        features: ct.features,
        sshKeys: sshKeys(g),
      });
      if (onVnet(g)) container.resource.dependsOn = [dependable(network!.applier)];
      guest = container;
    } else {
      const vm = g.config;
      const machine = new ClonedVm(scope, `Vm-${vm.name}`, {
        ...common(g),
        template: { id: vm.clone.template, host: vm.clone.host, full: vm.clone.full },
        hardware: {
          cores: vm.cores,
          sockets: vm.sockets,
          memory: vm.memory,
          cpuType: vm.cpu_type,
          machine: vm.machine,
          bios: vm.bios,
          qemuAgent: vm.qemu_agent,
        },
        disk: { interface: vm.disk.interface, storage: g.diskStorage, sizeGiB: vm.disk.size },
        cloudInit: vm.cloud_init && { user: vm.cloud_init.user, storage: vm.cloud_init.storage, sshKeys: sshKeys(g) },
        pci: vm.pci.map((p) => ({ mapping: p.mapping, pcie: p.pcie, primaryGpu: p.primary_gpu, rombar: p.rombar })),
      });
      const after = new Set([
        ...(onVnet(g) ? [network!.applier] : []),
        ...vm.pci.map((p) => mappings.get(p.mapping)!.resource),
      ]);
      if (after.size) machine.resource.dependsOn = [...after].map((d) => dependable(d));
      guest = machine;
    }
    if (g.firewall) {
      const fw = g.firewall;
      new GuestFirewall(scope, `Firewall-${g.config.name}`, {
        name: g.config.name,
        host: g.host,
        guest:
          g.kind === "lxc"
            ? { containerId: Token.asNumber(guest.resource.vmId) }
            : { vmId: Token.asNumber(guest.resource.vmId) },
        machine: guest.resource,
        policyIn: fw.policyIn,
        policyOut: fw.policyOut,
        dhcp: fw.dhcp,
        macfilter: fw.macfilter,
        ipfilter: fw.ipfilter,
        logLevelIn: fw.logLevelIn,
        logLevelOut: fw.logLevelOut,
        rules: fw.rules,
      });
    }
    if (g.config.ha) {
      new GuestHa(scope, `Ha-${g.config.name}`, {
        kind: g.kind === "lxc" ? "ct" : "vm",
        guestId: g.config.id,
        guestName: g.config.name,
        state: g.config.ha.state,
        hosts: g.config.ha.hosts,
        strict: g.config.ha.strict,
      }).resource.dependsOn = [dependable(guest.resource)];
    }
    if (g.config.replication) {
      const r = g.config.replication;
      new GuestReplication(scope, `Replication-${g.config.name}`, {
        guestId: g.config.id,
        guestName: g.config.name,
        target: r.target,
        schedule: r.schedule,
        rate: r.rate,
      }).resource.dependsOn = [dependable(guest.resource)];
    }
  }

  const pbs = new Map(
    config.pbs_storages.map((p) => [
      p.name,
      new PbsStorage(scope, `Pbs-${p.name}`, {
        name: p.name,
        server: p.server,
        datastore: p.datastore,
        username: p.username,
        passwordVariable: p.password_env.slice("TF_VAR_".length),
        fingerprint: p.fingerprint,
        namespace: p.namespace,
      }),
    ]),
  );
  const talosVms = nodes.flatMap((n) => (n.vmId === undefined ? [] : [{ id: n.vmId, host: n.host }]));
  for (const job of config.backups) {
    // Tags are resolved to ids here (vzdump selects by id, pool or all); a pool is created by the guests in it.
    const select =
      "tags" in job.select
        ? { ids: selectedIds(job, guests, talosVms) }
        : "pool" in job.select
          ? { pool: pools.get(job.select.pool)!.poolId }
          : job.select;
    const backup = new VzdumpJob(scope, `Backup-${job.name}`, {
      name: job.name,
      schedule: job.schedule,
      storage: job.storage,
      select,
      keep: job.keep,
      mode: job.mode,
      compress: job.compress,
      host: job.host,
      enabled: job.enabled,
    });
    const target = pbs.get(job.storage);
    if (target) backup.resource.dependsOn = [dependable(target.resource)];
  }
}
