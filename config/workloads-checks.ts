// Rules of workloads.yaml across its entries and across files: conflicts between Talos nodes, VMs and
// containers (ids, names, addresses, MACs), id ranges by purpose, zones and their subnets, hosts, PCI
// devices, backups. Each issue has an exact path and a message that says what it collides with.
import { firewallRule, type Guest, resolveGuests, resolveZones, sharesTag, type ResolvedZone } from "./guests";
import { firewallRuleProblems } from "./pve-firewall";
import {
  contains,
  firstHost,
  intToIpv4,
  ipv4ToInt,
  isCanonicalCidr,
  isNetworkOrBroadcast,
  notAHostAddress,
  overlaps,
  parseCidr,
} from "./ipv4";
import type { ConfigIssue, KeyPath } from "./issues";
import { pciAddress } from "./checks";
import { resolveNode } from "./resolve";
import type { ClusterConfig, NodeConfig } from "./schema";
import { TEMPLATE_FILE, type WorkloadsConfig } from "./workloads";

type Issue = ConfigIssue;
const W = "workloads.yaml";

/**
 * Every problem of a schema-valid workloads.yaml. `cluster` is undefined and `nodes` may have holes when the
 * other files have schema errors: the rules that can still be checked are.
 */
export function workloadsIssues(
  cluster: ClusterConfig | undefined,
  maybeNodes: readonly (NodeConfig | undefined)[],
  workloads: WorkloadsConfig,
): Issue[] {
  const issues: Issue[] = [];
  const error = (path: KeyPath, message: string) => issues.push({ file: W, path, message, severity: "error" });
  const nodes = maybeNodes.flatMap((node, index) =>
    node ? [{ node, index, ref: `nodes.yaml nodes[${index}] (${node.name})` }] : [],
  );
  const guests = resolveGuests(workloads, {
    host: cluster?.proxmox_node ?? "",
    diskStorage: cluster?.proxmox_disk_storage ?? "",
  });
  const nodeNetwork = cluster && parseCidr(cluster.node_cidr);
  const zones = resolveZones(workloads);

  // ---- names, ids and MACs: unique across Talos nodes, containers and VMs.
  const claim = <T>(owners: Map<T, string>, value: T | undefined, ref: string, path: KeyPath, what: string) => {
    if (value === undefined) return;
    const owner = owners.get(value);
    if (owner !== undefined) error(path, `${what} ${value} is already used by ${owner}`);
    else owners.set(value, ref);
  };
  const names = new Map<string, string>();
  const ids = new Map<number, string>();
  const macs = new Map<string, string>();
  for (const { node, ref } of nodes) {
    names.set(node.name, ref);
    if (node.vm_id !== undefined) ids.set(node.vm_id, ref);
    if (node.mac_addr !== undefined) macs.set(node.mac_addr, ref);
  }
  for (const g of guests) {
    claim(names, g.config.name, g.ref, [...g.path, "name"], "name");
    claim(ids, g.config.id, g.ref, [...g.path, "id"], "id");
    claim(macs, g.config.network.mac_addr, g.ref, [...g.path, "network", "mac_addr"], "MAC address");
    for (const extra of g.extraNics)
      claim(macs, extra.config.mac_addr, g.ref, [...extra.path, "mac_addr"], "MAC address");
  }
  workloads.vms.forEach((vm, i) => {
    const owner = ids.get(vm.clone.template);
    if (owner !== undefined)
      error(["vms", i, "clone", "template"], `${vm.clone.template} is the id of ${owner}, not of a template`);
  });
  // A template is one VM on one host (its disks on that host's storage): every clone names that host, and a
  // linked clone is made there, on the template's own storage.
  const templateHosts = new Map<number, { host: string; ref: string }>();
  for (const g of guests) {
    if (g.kind !== "vm" || g.host === "") continue;
    const { template, host, full } = g.config.clone;
    const at = host ?? g.host;
    const first = templateHosts.get(template);
    if (!first) templateHosts.set(template, { host: at, ref: g.ref });
    else if (first.host !== at)
      error(
        [...g.path, "clone", host ? "host" : "template"],
        `template ${template} is on ${first.host}, where ${first.ref} clones it; a template is one VM on one host (clone.host: ${first.host} for a full clone from shared storage, or a template of ${at})`,
      );
    if (!full && at !== g.host)
      error(
        [...g.path, "clone", "full"],
        `a linked clone is made on its template's host ${at}, not on ${g.host}: make it a full clone or run it on ${at}`,
      );
  }

  // ---- id ranges by purpose.
  const ranges = Object.entries(workloads.id_ranges);
  const inRange = (id: number, range: { from: number; to?: number }) =>
    id >= range.from && (range.to === undefined || id <= range.to);
  const rangeText = (range: { from: number; to?: number }) =>
    range.to === undefined ? `${range.from}+` : `${range.from}-${range.to}`;
  ranges.forEach(([name, range], a) => {
    if (range.to !== undefined && range.to < range.from)
      error(["id_ranges", name, "to"], `${range.to} is before from ${range.from}`);
    for (const [other, otherRange] of ranges.slice(0, a)) {
      const end = (r: { to?: number }) => r.to ?? Infinity;
      if (range.from <= end(otherRange) && otherRange.from <= end(range))
        error(["id_ranges", name], `${rangeText(range)} overlaps the ${other} range ${rangeText(otherRange)}`);
    }
  });
  const templateRange = workloads.id_ranges.template;
  for (const g of guests) {
    // Own keys only: a purpose named "constructor" must not find Object.prototype's members.
    const range = Object.hasOwn(workloads.id_ranges, g.config.purpose)
      ? workloads.id_ranges[g.config.purpose]
      : undefined;
    if (g.config.purpose === "template") {
      error(
        [...g.path, "purpose"],
        "this file creates no templates: a guest's purpose names the range of a running guest (clone templates are referenced by vms[].clone.template)",
      );
    } else if (!range) {
      error(
        [...g.path, "purpose"],
        `"${g.config.purpose}" is not a key of id_ranges (${Object.keys(workloads.id_ranges).join(", ")})`,
      );
    } else if (!inRange(g.config.id, range)) {
      error([...g.path, "id"], `${g.config.id} is outside the ${g.config.purpose} range ${rangeText(range)}`);
    }
  }
  if (templateRange) {
    workloads.vms.forEach((vm, i) => {
      if (!inRange(vm.clone.template, templateRange))
        error(
          ["vms", i, "clone", "template"],
          `${vm.clone.template} is outside the template range ${rangeText(templateRange)}`,
        );
    });
    for (const { node, index } of nodes) {
      if (node.vm_id !== undefined && inRange(node.vm_id, templateRange)) {
        issues.push({
          file: "nodes.yaml",
          path: ["nodes", index, "vm_id"],
          message: `${node.vm_id} is in the template range ${rangeText(templateRange)} of workloads.yaml`,
          severity: "error",
        });
      }
    }
  }

  // ---- zones: each a network of hosts of its own, apart from the nodes', pods' and services' networks.
  const clusterNetworks = cluster
    ? (["node_cidr", "cluster_pod_cidr", "cluster_svc_cidr"] as const).map((key) => ({
        key,
        net: parseCidr(cluster[key]),
      }))
    : [];
  const zoneNames = new Map<string, number>();
  const vlans = new Map<number, string>();
  workloads.zones.forEach((zone, i) => {
    if (zoneNames.has(zone.name))
      error(["zones", i, "name"], `${zone.name} is already the name of zones[${zoneNames.get(zone.name)}]`);
    else zoneNames.set(zone.name, i);
    if (zone.name === workloads.sdn_zone)
      error(["zones", i, "name"], `${zone.name} is also sdn_zone; a VNet needs a name of its own`);
    if (cluster && zone.name === cluster.cluster_name)
      error(
        ["zones", i, "name"],
        `${zone.name} is also cluster_name: its guests (<guest>.${zone.name}.${workloads.domain}) would share the DNS names of the Talos nodes (<node>.${cluster.cluster_name}.${workloads.domain})`,
      );
    const vlanOwner = vlans.get(zone.vlan);
    if (vlanOwner)
      error(
        ["zones", i, "vlan"],
        zone.vlan === 0
          ? `zone ${vlanOwner} is already the untagged network of bridge ${workloads.bridge} (a bridge has one)`
          : `VLAN ${zone.vlan} is already the VLAN of zone ${vlanOwner}`,
      );
    else vlans.set(zone.vlan, zone.name);
    const network = parseCidr(zone.cidr);
    const at = (key: string) => ["zones", i, key];
    if (!isCanonicalCidr(zone.cidr))
      error(at("cidr"), `${zone.cidr} has host bits set; the network is ${intToIpv4(network.base)}/${network.prefix}`);
    const prefixProblem = lanPrefixProblem(network.prefix);
    if (prefixProblem) error(at("cidr"), `${zone.cidr}: ${prefixProblem}`);
    const baseProblem = notAHostAddress(intToIpv4(network.base));
    if (baseProblem) error(at("cidr"), `${zone.cidr} is not a network of hosts: its address is ${baseProblem}`);
    for (const { key, net } of clusterNetworks) {
      if (!overlaps(network, net)) continue;
      // The untagged zone may be the nodes' own network: the same subnet, untagged, on the same bridge.
      if (
        key === "node_cidr" &&
        zone.vlan === 0 &&
        cluster &&
        network.base === net.base &&
        network.prefix === net.prefix
      ) {
        const nodesBridge = cluster.proxmox_vm_advanced.network_bridge;
        if (cluster.node_vlan_tag === undefined && nodesBridge === workloads.bridge) continue;
        error(
          at("cidr"),
          `${zone.cidr} is the nodes' node_cidr, which is ${cluster.node_vlan_tag === undefined ? `on bridge ${nodesBridge}, not on ${workloads.bridge}` : `tagged ${cluster.node_vlan_tag}`}: an untagged zone shares the nodes' network only on their bridge, untagged`,
        );
        continue;
      }
      error(at("cidr"), `${zone.cidr} overlaps cluster.yaml ${key} ${net.cidr}`);
    }
    if (zone.gateway !== undefined) {
      if (!contains(network, zone.gateway))
        error(at("gateway"), `${zone.gateway} is outside the zone's cidr ${zone.cidr}`);
      else if (isNetworkOrBroadcast(network, zone.gateway))
        error(at("gateway"), `${zone.gateway} is the network or broadcast address of ${zone.cidr}`);
    }
    (zone.dns_servers ?? []).forEach((dns, d) => {
      const problem = notAHostAddress(dns);
      if (problem) error(["zones", i, "dns_servers", d], `${dns} is ${problem}`);
    });
    workloads.zones.slice(0, i).forEach((other, j) => {
      if (overlaps(network, parseCidr(other.cidr)))
        error(["zones", i, "cidr"], `${zone.cidr} overlaps zones[${j}] (${other.name}) ${other.cidr}`);
    });
  });

  // ---- guest networks: zones exist, addresses in their subnet, addresses unique across everything.
  const addresses = new Map<string, string>();
  if (cluster) {
    addresses.set(cluster.cluster_api_addr, "cluster.yaml cluster_api_addr");
    addresses.set(
      cluster.node_default_gateway ?? firstHost(nodeNetwork!),
      cluster.node_default_gateway
        ? "cluster.yaml node_default_gateway"
        : "the nodes' default gateway (node_default_gateway defaults to the first address of node_cidr)",
    );
  }
  for (const { node, ref } of nodes) addresses.set(node.address, ref);
  for (const zone of zones.values())
    if (!addresses.has(zone.gateway)) addresses.set(zone.gateway, `the gateway of zone ${zone.config.name}`);
  const pool = cluster?.cilium_loadbalancer_pool;
  /** The rules of one NIC: its zone or bridge, its static address in its network and unique. */
  const checkNic = (
    nic: { zone?: ResolvedZone; address?: string; addressCidr?: string },
    net: { zone?: string; bridge?: string; vlan?: number; address: string },
    path: KeyPath,
    ref: string,
  ): boolean => {
    const at = (key: string) => [...path, key];
    if (net.zone !== undefined && !nic.zone)
      error(at("zone"), `no zone is named ${net.zone} (zones: ${[...zoneNames.keys()].join(", ") || "none"})`);
    if (net.zone !== undefined && net.bridge !== undefined)
      error(
        at("bridge"),
        `a guest in zone ${net.zone} is on the zone's ${nic.zone && nic.zone.tag === undefined ? "bridge" : "VNet"}; remove bridge`,
      );
    if (net.zone !== undefined && net.vlan !== undefined)
      error(
        at("vlan"),
        nic.zone && nic.zone.tag === undefined
          ? `zone ${net.zone} is the untagged network; remove vlan`
          : `zone ${net.zone} brings its own VLAN; remove vlan`,
      );
    if (net.address !== "dhcp" && net.zone === undefined && !net.address.includes("/"))
      error(at("address"), `${net.address} needs its prefix (like ${net.address}/24) outside a zone`);
    const address = nic.address;
    if (address === undefined) return false;
    const notHost = notAHostAddress(address);
    if (notHost) error(at("address"), `${address} is ${notHost}`);
    const [, prefix] = net.address.split("/");
    const prefixProblem = prefix === undefined ? undefined : lanPrefixProblem(Number(prefix));
    if (prefixProblem) error(at("address"), `${net.address}: ${prefixProblem}`);
    else if (!nic.zone && prefix !== undefined && isNetworkOrBroadcast(parseCidr(net.address), address))
      error(at("address"), `${address} is the network or broadcast address of its network /${prefix}`);
    for (const { key, net: clusterNet } of clusterNetworks.filter((n) => n.key !== "node_cidr"))
      if (contains(clusterNet, address))
        error(at("address"), `${address} is inside cluster.yaml ${key} ${clusterNet.cidr}, which Kubernetes routes`);
    if (nic.zone) {
      const zone = nic.zone.config;
      if (!contains(nic.zone.network, address))
        error(at("address"), `${address} is outside the subnet ${zone.cidr} of zone ${zone.name}`);
      else if (isNetworkOrBroadcast(nic.zone.network, address))
        error(at("address"), `${address} is the network or broadcast address of zone ${zone.name} (${zone.cidr})`);
      if (prefix !== undefined && prefix !== String(nic.zone.network.prefix))
        error(at("address"), `the prefix of ${net.address} differs from zone ${zone.name}'s ${zone.cidr}`);
    }
    claim(addresses, address, ref, at("address"), "address");
    if (pool && ipv4ToInt(address) >= ipv4ToInt(pool.start) && ipv4ToInt(address) <= ipv4ToInt(pool.stop))
      error(at("address"), `${address} is inside cluster.yaml cilium_loadbalancer_pool ${pool.start}-${pool.stop}`);
    return !prefixProblem;
  };
  for (const g of guests) {
    const net = g.config.network;
    const at = (key: string) => [...g.path, "network", key];
    if (net.address === "dhcp" && net.gateway !== undefined)
      error(at("gateway"), "a gateway comes from DHCP with address: dhcp; remove it");
    const usablePrefix = checkNic(g, net, [...g.path, "network"], g.ref);
    if (g.address !== undefined && net.gateway !== undefined) {
      const gatewayProblem = notAHostAddress(net.gateway);
      if (gatewayProblem) error(at("gateway"), `${net.gateway} is ${gatewayProblem}`);
      else if (net.gateway === g.address) error(at("gateway"), `${net.gateway} is the guest's own address`);
      else if (g.addressCidr && usablePrefix && !contains(parseCidr(g.addressCidr), net.gateway))
        error(at("gateway"), `${net.gateway} is outside ${g.addressCidr}`);
      else if (g.addressCidr && usablePrefix && isNetworkOrBroadcast(parseCidr(g.addressCidr), net.gateway))
        error(at("gateway"), `${net.gateway} is the network or broadcast address of ${g.addressCidr}`);
    }
    (net.dns_servers ?? []).forEach((dns, d) => {
      const problem = notAHostAddress(dns);
      if (problem) error([...g.path, "network", "dns_servers", d], `${dns} is ${problem}`);
    });
    for (const extra of g.extraNics)
      checkNic(extra, extra.config, extra.path, `${g.ref} ${extra.path.slice(2).join(".")}`);
  }

  // ---- hosts.
  const clusterHosts = cluster
    ? [cluster.proxmox_node, ...nodes.map(({ node }) => resolveNode(cluster, nodeNetwork!, node).host)]
    : [];
  const hosts = new Set(workloads.hosts ?? clusterHosts);
  const hostsText = () => [...hosts].join(", ");
  const checkHost = (host: string | undefined, path: KeyPath) => {
    if (cluster && host !== undefined && !hosts.has(host))
      error(
        path,
        `${host} is not a host of the cluster (${hostsText()})${workloads.hosts ? "" : "; list every host in hosts"}`,
      );
  };
  if (workloads.hosts && cluster) {
    for (const host of new Set(clusterHosts)) {
      if (!hosts.has(host)) error(["hosts"], `${host} runs Talos nodes (cluster.yaml/nodes.yaml) but is missing here`);
    }
  }
  for (const g of guests) {
    checkHost(g.config.host, [...g.path, "host"]);
    if (g.config.replication) {
      checkHost(g.config.replication.target, [...g.path, "replication", "target"]);
      if (g.config.replication.target === g.host)
        error([...g.path, "replication", "target"], `${g.host} is the guest's own host; replicate to another one`);
    }
    for (const host of Object.keys(g.config.ha?.hosts ?? {})) checkHost(host, [...g.path, "ha", "hosts", host]);
  }
  workloads.vms.forEach((vm, i) => checkHost(vm.clone.host, ["vms", i, "clone", "host"]));
  workloads.backups.forEach((job, i) => checkHost(job.host, ["backups", i, "host"]));

  // ---- containers.
  workloads.containers.forEach((ct, i) => {
    if (ct.privileged && ct.features.keyctl)
      error(
        ["containers", i, "features", "keyctl"],
        "keyctl is for unprivileged containers only; remove it or privileged",
      );
    ct.devices.forEach((device, d) => {
      const first = ct.devices.findIndex((other) => other.path === device.path);
      if (first < d)
        error(["containers", i, "devices", d, "path"], `${device.path} is already passed in by devices[${first}]`);
    });
    ct.mount_points.forEach((mp, m) => {
      const at = ["containers", i, "mount_points", m];
      if ((mp.storage === undefined) === (mp.host_path === undefined))
        error(at, "give exactly one of storage (a new volume) and host_path (a bind mount)");
      if (mp.storage !== undefined && mp.size === undefined)
        error([...at, "storage"], "a new volume needs a size in GiB");
      if (mp.host_path !== undefined && mp.size !== undefined) error([...at, "size"], "a bind mount has no size");
      if (mp.host_path !== undefined && mp.backup) error([...at, "backup"], "bind mounts are never in backups");
      ct.mount_points.slice(0, m).forEach((other, o) => {
        if (other.path === mp.path) error([...at, "path"], `${mp.path} is already mounted by mount_points[${o}]`);
      });
    });
  });

  // A template downloaded by URL onto a file another container names as an existing volume: Proxmox refuses
  // the download (the file exists; the download never overwrites), so the apply fails.
  const existingTemplates = new Map<string, string>();
  for (const g of guests) {
    if (g.kind === "lxc" && "volume" in g.config.template)
      existingTemplates.set(`${g.host} ${g.config.template.volume}`, g.ref);
  }
  for (const g of guests) {
    if (g.kind !== "lxc" || !("url" in g.config.template)) continue;
    const t = g.config.template;
    const file = t.file_name ?? new URL(t.url).pathname.split("/").pop() ?? "";
    if (!TEMPLATE_FILE.test(file)) {
      error(
        [...g.path, "template", "url"],
        `${t.url} names no template file (like debian-12-standard_12.7-1_amd64.tar.zst) at its end; set file_name`,
      );
      continue;
    }
    const owner = existingTemplates.get(`${g.host} ${t.storage}:vztmpl/${file}`);
    if (owner)
      error(
        [...g.path, "template", "url"],
        `downloads ${file} to ${t.storage} on ${g.host}, where ${owner} names it as an existing volume: Proxmox refuses to download over an existing file; use {volume: ${t.storage}:vztmpl/${file}} here too, or another file_name`,
      );
  }

  // ---- VMs: cloud-init carries the network and keys; PCI mappings exist on the host, one running guest each.
  const mappings = new Map(workloads.pci_mappings.map((m) => [m.name, m]));
  workloads.pci_mappings.forEach((mapping, i) => {
    const first = workloads.pci_mappings.findIndex((m) => m.name === mapping.name);
    if (first < i) error(["pci_mappings", i, "name"], `${mapping.name} is already the name of pci_mappings[${first}]`);
    const seen = new Set<string>();
    mapping.devices.forEach((device, d) => {
      checkHost(device.host, ["pci_mappings", i, "devices", d, "host"]);
      if (seen.has(device.host))
        error(["pci_mappings", i, "devices", d, "host"], `${mapping.name} already has a device on ${device.host}`);
      seen.add(device.host);
    });
  });
  // Running guests holding a PCI device, by host: the Talos nodes (always running) first. A device is named by
  // its mapping and, where workloads.yaml maps it, by its address; "0000:01:00" and "0000:01:00.1" overlap.
  const pciClaims: Array<{ host: string; mapping?: string; path?: string; ref: string }> = [];
  const pathOf = (mapping: string, host: string) => mappings.get(mapping)?.devices.find((d) => d.host === host)?.path;
  const overlap = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
  const holderOf = (claim: { host: string; mapping?: string; path?: string }) =>
    pciClaims.find(
      (c) =>
        c.host === claim.host &&
        ((c.mapping !== undefined && c.mapping === claim.mapping) ||
          (c.path !== undefined && claim.path !== undefined && overlap(c.path, claim.path))),
    );
  if (cluster) {
    for (const { node, ref } of nodes) {
      const { host, pciDevices } = resolveNode(cluster, nodeNetwork!, node);
      for (const d of pciDevices)
        pciClaims.push({
          host,
          mapping: d.mapping,
          path: d.id !== undefined ? pciAddress(d.id) : d.mapping && pathOf(d.mapping, host),
          ref,
        });
    }
  }
  for (const g of guests) {
    const setByGuest = [...g.path, "network", "set_by_guest"];
    if (g.kind !== "vm") {
      const containerSets = "a container's address is set by Proxmox, never by the guest: remove set_by_guest";
      if (g.config.network.set_by_guest) error(setByGuest, containerSets);
      for (const extra of g.extraNics)
        if (extra.config.set_by_guest) error([...extra.path, "set_by_guest"], containerSets);
      continue;
    }
    const vm = g.config;
    // bpg/proxmox 0.112 sends a clone's bios only when it is not its default "seabios", and reads it back
    // only then: a SeaBIOS clone of an OVMF template would stay OVMF, with nothing left to plan.
    if (vm.bios === "seabios")
      error(
        [...g.path, "bios"],
        "a clone cannot be switched to seabios (the provider never sends its default firmware, the clone keeps its template's): clone a SeaBIOS template and leave bios unset",
      );
    if (vm.network.set_by_guest && vm.network.address === "dhcp")
      error(setByGuest, "set_by_guest is for a static address the guest sets itself; with dhcp remove it");
    if (vm.network.set_by_guest && vm.cloud_init)
      error(setByGuest, "with cloud_init, cloud-init sets the address: remove set_by_guest or cloud_init");
    for (const extra of g.extraNics) {
      const at = (key: string) => [...extra.path, key];
      if (extra.config.set_by_guest && extra.config.address === "dhcp")
        error(at("set_by_guest"), "set_by_guest is for a static address the guest sets itself; with dhcp remove it");
      if (extra.config.set_by_guest && vm.cloud_init)
        error(at("set_by_guest"), "with cloud_init, cloud-init sets the address: remove set_by_guest or cloud_init");
      if (!vm.cloud_init && extra.config.address !== "dhcp" && !extra.config.set_by_guest)
        error(
          at("address"),
          "a static address is set through cloud-init; add cloud_init: {}, use dhcp, or set_by_guest: true for a guest that sets its own",
        );
    }
    if (!vm.cloud_init) {
      if (vm.network.address !== "dhcp" && !vm.network.set_by_guest)
        error(
          [...g.path, "network", "address"],
          "a static address is set through cloud-init; add cloud_init: {}, use dhcp, or set_by_guest: true for a guest that sets its own",
        );
      if (vm.ssh_keys.length)
        error([...g.path, "ssh_keys"], "SSH keys are installed through cloud-init; add cloud_init: {user: ...}");
    }
    vm.pci.forEach((pci, p) => {
      const at = [...g.path, "pci", p, "mapping"];
      const mapping = mappings.get(pci.mapping);
      if (!mapping) {
        error(
          at,
          `no PCI mapping is named ${pci.mapping} (pci_mappings: ${[...mappings.keys()].join(", ") || "none"})`,
        );
        return;
      }
      if (!mapping.devices.some((d) => d.host === g.host)) {
        error(at, `${pci.mapping} has no device on ${g.host}, the VM's host`);
        return;
      }
      if (pci.pcie && !/q35/.test(vm.machine))
        error([...g.path, "pci", p, "pcie"], `PCI Express needs the q35 machine type, the VM has ${vm.machine}`);
      if (!vm.started) return;
      const claim = { host: g.host, mapping: pci.mapping, path: pathOf(pci.mapping, g.host), ref: g.ref };
      const holder = holderOf(claim);
      if (holder)
        error(
          at,
          `${pci.mapping} on ${g.host} is already given to ${holder.ref}, which runs too; a PCI device serves one running guest`,
        );
      else pciClaims.push(claim);
    });
  }

  // ---- firewalls: rules as PVE verifies them (zone names resolved), and a NIC flag that filters something.
  const checkRules = (rules: WorkloadsConfig["zones"][number]["firewall"], path: KeyPath) =>
    rules?.rules.forEach((config, r) => issues.push(...firewallRuleIssues(config, [...path, "rules", r], zones)));
  workloads.zones.forEach((zone, i) => {
    checkRules(zone.firewall, ["zones", i, "firewall"]);
    zone.firewall?.rules.forEach((rule, r) => {
      if (rule.iface !== undefined)
        error(
          ["zones", i, "firewall", "rules", r, "iface"],
          "a zone's rules filter every guest in it, whose NICs differ: write a rule for one NIC in its guest's firewall block",
        );
    });
  });
  for (const g of guests) {
    checkRules(g.config.firewall, [...g.path, "firewall"]);
    g.config.firewall?.rules.forEach((rule, r) => {
      if (rule.iface === undefined) return;
      const problem = ifaceProblem(g, rule.iface);
      if (problem) error([...g.path, "firewall", "rules", r, "iface"], problem);
    });
    if (g.kind === "vm" && g.firewall?.ipfilter) {
      const own = g.config.firewall?.ipfilter !== undefined;
      const zoneIndex = workloads.zones.findIndex((z) => z.name === g.zone?.config.name);
      error(
        own ? [...g.path, "firewall", "ipfilter"] : ["zones", zoneIndex, "firewall", "ipfilter"],
        `ipfilter would drop every IPv4 packet VM ${g.config.name} sends: PVE fills a VM's ipfilter-net<n> set with its IPv6 link-local address only (the configured addresses only for containers), and this project writes no IP sets; leave it off for VMs${own ? "" : ` (set ipfilter: false in ${g.config.name}'s own firewall block)`}`,
      );
    }
    const flag = g.config.network.firewall;
    const zoneFirewall = g.zone?.config.firewall;
    if (flag === true && !g.config.firewall && !zoneFirewall)
      error(
        [...g.path, "network", "firewall"],
        `firewall: true filters nothing without firewall rules and options (PVE's guest firewall is off by default): give ${g.config.name}${g.zone ? ` or zone ${g.zone.config.name}` : ""} a firewall block (firewall: {} drops everything inbound), or remove it`,
      );
    for (const extra of g.extraNics)
      if (extra.config.firewall && !g.config.firewall && !zoneFirewall)
        error(
          [...extra.path, "firewall"],
          `firewall: true filters nothing without firewall rules and options: give ${g.config.name}${g.zone ? ` or zone ${g.zone.config.name}` : ""} a firewall block (its rules apply to every NIC with firewall: true), or remove it`,
        );
    if (flag === false && g.config.firewall && !g.extraNics.some((extra) => extra.config.firewall))
      error(
        [...g.path, "network", "firewall"],
        `the guest's firewall block would filter nothing with firewall: false on its NIC (and on every NIC of extra_networks): remove one of them`,
      );
  }

  // ---- backups and their targets.
  const pbsNames = new Set<string>();
  workloads.pbs_storages.forEach((pbs, i) => {
    if (pbsNames.has(pbs.name))
      error(["pbs_storages", i, "name"], `${pbs.name} is already the name of another PBS storage`);
    pbsNames.add(pbs.name);
  });
  const jobNames = new Set<string>();
  workloads.backups.forEach((job, i) => {
    if (jobNames.has(job.name)) error(["backups", i, "name"], `${job.name} is already the name of another backup job`);
    jobNames.add(job.name);
    const select = job.select;
    if ("ids" in select) {
      select.ids.forEach((id, k) => {
        if (!ids.has(id)) error(["backups", i, "select", "ids", k], `no node, VM or container has the id ${id}`);
      });
    } else if ("pool" in select) {
      if (!guests.some((g) => g.config.pool === select.pool))
        error(["backups", i, "select", "pool"], `no guest is in pool ${select.pool}`);
    } else if ("tags" in select) {
      if (!guests.some((g) => sharesTag(g.config.tags, select.tags)))
        error(["backups", i, "select", "tags"], `no guest has any of the tags ${select.tags.join(", ")}`);
    }
  });

  return issues;
}

/** Why a guest's rule cannot filter `iface` (a NIC it lacks, or one the firewall does not filter), or undefined. */
function ifaceProblem(g: Guest, iface: string): string | undefined {
  const n = Number(iface.slice("net".length));
  const nics = ["net0 (network)", ...g.extraNics.map((_, i) => `net${i + 1} (extra_networks[${i}])`)];
  if (n >= nics.length) return `${g.config.name} has no ${iface}: its NICs are ${nics.join(", ")}`;
  const filtered = n === 0 ? g.nicFirewall : g.extraNics[n - 1].config.firewall;
  if (!filtered)
    return `${iface} is not filtered (${n === 0 ? "network.firewall: false" : `extra_networks[${n - 1}] has no firewall: true`}): the rule would never be evaluated`;
  return undefined;
}

/** The problems PVE's verify_rule finds in one rule, at the key of workloads.yaml they concern. */
function firewallRuleIssues(
  config: NonNullable<WorkloadsConfig["zones"][number]["firewall"]>["rules"][number],
  path: KeyPath,
  zones: ReadonlyMap<string, ResolvedZone>,
): Issue[] {
  const issues: Issue[] = [];
  const error = (key: string, message: string) =>
    issues.push({ file: W, path: [...path, key], message, severity: "error" });
  let unresolved = false;
  for (const key of ["source", "dest"] as const) {
    for (const part of config[key]?.split(",") ?? []) {
      if (/^[A-Za-z][A-Za-z0-9_-]*$/.test(part) && !zones.has(part)) {
        unresolved = true;
        error(
          key,
          `no zone is named ${part} (zones: ${[...zones.keys()].join(", ") || "none"}); give addresses, CIDRs or a range`,
        );
      }
    }
  }
  if (unresolved) return issues;
  const rule = firewallRule(config, path, zones);
  for (const { param, message } of firewallRuleProblems(rule)) error(param === "type" ? "direction" : param, message);
  return issues;
}

/**
 * Why a prefix makes no network of hosts with a gateway (/31 and /32 leave no room, below /8 is no LAN), or
 * undefined.
 */
function lanPrefixProblem(prefix: number): string | undefined {
  if (prefix > 30) return `a /${prefix} leaves no room for guests besides a gateway; use a /30 or larger, e.g. a /24`;
  if (prefix < 8) return `a /${prefix} is no network of guests; use a /8 or smaller, e.g. a /24`;
  return undefined;
}
