/**
 * The named formats of the PVE API schema ("format": "pve-volume-id"). The plain ones are the product's own
 * config/pve-formats.ts, the same table the config checks use, so that what the config accepts the simulator
 * accepts. Property-string formats (`pve-qm-ipconfig`, `pve-qm-hostpci`, ...) are given here as key specs like
 * the schema's own inline ones. A format in neither is not modelled: the request is answered 501.
 */
import { CPU_TYPE_PATTERN } from "../../config/pve-formats";
import type { ParamSpec } from "./schema";

export { calendarEvent, PVE_FORMATS as NAMED_FORMATS, SLOT_COUNTS } from "../../config/pve-formats";

const optional = 1 as const;
const bool: ParamSpec = { type: "boolean", optional };

const keep: ParamSpec = { type: "integer", minimum: 0, optional };

/** Named formats that are property strings, with their keys as the schema writes inline ones. */
export const PROPERTY_FORMATS: Readonly<Record<string, Readonly<Record<string, ParamSpec>>>> = {
  // pve-storage PVE::Storage::Plugin $prune_backups_format (keep-all with others: checked where it is used)
  "prune-backups": {
    "keep-all": bool,
    "keep-last": keep,
    "keep-hourly": keep,
    "keep-daily": keep,
    "keep-weekly": keep,
    "keep-monthly": keep,
    "keep-yearly": keep,
  },
  // pve-guest-common PVE::VZDump::Common
  "backup-fleecing": {
    enabled: { type: "boolean", default_key: 1, optional },
    storage: { type: "string", format: "pve-storage-id", optional },
  },
  "backup-performance": {
    "max-workers": { type: "integer", minimum: 1, maximum: 256, optional },
    "pbs-entries-max": { type: "integer", minimum: 1, optional },
  },
  // pve-network SubnetPlugin $dhcp_range_fmt
  "pve-sdn-dhcp-range": {
    "start-address": { type: "string", format: "ip" },
    "end-address": { type: "string", format: "ip" },
  },
  // qemu-server PVE::QemuServer $ipconfig_fmt (ipconfig[n])
  "pve-qm-ipconfig": {
    ip: { type: "string", format: "pve-ipv4-config", optional },
    gw: { type: "string", format: "ipv4", optional },
    ip6: { type: "string", format: "pve-ipv6-config", optional },
    gw6: { type: "string", format: "ipv6", optional },
  },
  // qemu-server PVE::QemuServer $boot_fmt (boot): `order=<dev>;<dev>` or the legacy `[acdn]{1,4}`
  "pve-qm-boot": {
    legacy: { type: "string", pattern: "[acdn]{1,4}", default_key: 1, optional },
    order: { type: "string", pattern: "(?:[a-z]+\\d+)(?:;[a-z]+\\d+)*", optional },
  },
  // qemu-server PVE::QemuServer::PCI $hostpci_fmt (hostpci[n]); host or mapping, checked in qemu.ts
  "pve-qm-hostpci": {
    host: {
      type: "string",
      pattern:
        "(?:(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?)(?:;(?:(?:[a-f0-9]{4,}:)?[a-f0-9]{2}:[a-f0-9]{2}(?:\\.[a-f0-9])?))*",
      default_key: 1,
      optional,
    },
    mapping: { type: "string", format: "pve-configid", optional },
    pcie: bool,
    rombar: bool,
    romfile: { type: "string", optional },
    "x-vga": bool,
    "legacy-igd": bool,
    mdev: { type: "string", optional },
    "vendor-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
    "device-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
    "sub-vendor-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
    "sub-device-id": { type: "string", pattern: "0x[0-9a-f]{4}", optional },
  },
  // qemu-server PVE::QemuServer::CPUConfig $cpu_fmt (cpu)
  "pve-vm-cpu-conf": {
    cputype: { type: "string", pattern: CPU_TYPE_PATTERN, default_key: 1, optional },
    "reported-model": { type: "string", optional },
    hidden: bool,
    "hv-vendor-id": { type: "string", pattern: "[a-zA-Z0-9]{1,12}", optional },
    flags: { type: "string", pattern: "[+-][a-zA-Z0-9\\-_.]+(?:;[+-][a-zA-Z0-9\\-_.]+)*", optional },
    "phys-bits": { type: "string", pattern: "(?:[1-9]\\d*|host)", optional },
    "guest-phys-bits": { type: "integer", minimum: 32, maximum: 64, optional },
  },
  // qemu-server PVE::QemuServer $rng_fmt (rng0)
  "pve-qm-rng": {
    source: { type: "string", enum: ["/dev/urandom", "/dev/random", "/dev/hwrng"], default_key: 1 },
    max_bytes: { type: "integer", optional },
    period: { type: "integer", optional },
  },
  // qemu-server PVE::QemuServer $watchdog_fmt (watchdog)
  "pve-qm-watchdog": {
    model: { type: "string", enum: ["i6300esb", "ib700"], default_key: 1, optional },
    action: { type: "string", enum: ["reset", "shutdown", "poweroff", "pause", "debug", "none"], optional },
  },
  // qemu-server PVE::QemuServer $smbios1_fmt (smbios1)
  "pve-qm-smbios1": {
    uuid: { type: "string", pattern: "[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}", optional },
    version: { type: "string", optional },
    serial: { type: "string", optional },
    manufacturer: { type: "string", optional },
    product: { type: "string", optional },
    sku: { type: "string", optional },
    family: { type: "string", optional },
    base64: bool,
  },
};
