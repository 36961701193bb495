// The config keys that name Proxmox things (hosts, storages, bridges, SDN ids, tags, schedules, CPU and machine
// types, disk slots, mount points), as zod fields checked by PVE's own formats (pve-formats.ts, the module the
// Proxmox simulator judges with). A value that lands inside a Proxmox property string ("bridge=vmbr0,tag=10") or
// a line of a Proxmox config file is also refused when it holds the characters that would end it there.
import { z } from "zod";
import {
  CPU_TYPE_PATTERN,
  isCalendarComponentList,
  PVE_FORMATS,
  PVE_PATTERNS,
  PVE_SCHEMA,
  SDN_ID_MAX_LENGTH,
  SLOT_COUNTS,
  schemaPattern,
} from "./pve-formats";

/** Passes when PVE's format `name` accepts the value. */
const pve = (name: string) => (value: string) => PVE_FORMATS[name](value) === undefined;

/**
 * Characters that end a value inside a property string (`,` between keys, `=` inside one, `;` between list
 * items), a config line (line breaks and other control characters) or that no identifier holds (white space).
 */
const PROPERTY_BREAK = /[,;=\s\p{Cc}]/u;
const breakMessage = (what: string) =>
  `${what} cannot contain ",", ";", "=", white space or control characters: Proxmox would read the rest as other options`;

/** Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL). */
export const BRIDGE_MAX_LENGTH = 15;

export const pveNodeName = z
  .string()
  .max(63, "a Proxmox node name has at most 63 characters")
  .regex(PVE_PATTERNS.node, "expected a Proxmox node name (letters, digits and '-', as Proxmox itself requires)");

export const pveStorageId = z
  .string()
  .regex(
    PVE_PATTERNS.storageId,
    "expected a Proxmox storage id (a letter, then letters, digits, '-', '_' or '.', ending in a letter or digit, as Proxmox itself requires)",
  );

export const pveBridge = z
  .string()
  .max(BRIDGE_MAX_LENGTH, `a Linux interface name has at most ${BRIDGE_MAX_LENGTH} characters`)
  .regex(
    schemaPattern(PVE_SCHEMA.bridge.pattern),
    "expected a bridge name (letters, digits, '-', '_', '.', as Proxmox itself requires)",
  );

export const pveVlanTag = z
  .number()
  .int("expected a whole number")
  .min(PVE_SCHEMA.vlanTag.minimum)
  .max(PVE_SCHEMA.vlanTag.maximum);

/**
 * A zone's VLAN: PVE's NIC tag range (net[n] `tag` 1-4094), or 0 for the untagged network on the bridge (the
 * management network), which PVE writes as no `tag=` at all.
 */
export const pveZoneVlan = z
  .number()
  .int("expected a whole number")
  .min(0, `expected 0 (untagged) or a VLAN tag ${PVE_SCHEMA.vlanTag.minimum}-${PVE_SCHEMA.vlanTag.maximum}`)
  .max(
    PVE_SCHEMA.vlanTag.maximum,
    `expected 0 (untagged) or a VLAN tag ${PVE_SCHEMA.vlanTag.minimum}-${PVE_SCHEMA.vlanTag.maximum}`,
  );

/** A tag as PVE takes it (upper case included; PVE compares tags without case, so "Web" and "web" are one). */
export const pveTag = z
  .string()
  .regex(PVE_PATTERNS.tag, "expected a Proxmox tag (a letter, digit or '_', then letters, digits, _ . + -)");

/** Tags of one guest: duplicates (in any case) would be merged by Proxmox, and the next plan would differ. */
export const pveTags = z.array(pveTag).superRefine((tags, ctx) => {
  const seen = new Map<string, number>();
  tags.forEach((tag, i) => {
    const first = seen.get(tag.toLowerCase());
    if (first !== undefined)
      ctx.addIssue({
        code: "custom",
        path: [i],
        message: `${tag} repeats tag ${tags[first]} (Proxmox compares tags without case)`,
      });
    else seen.set(tag.toLowerCase(), i);
  });
});

/** SDN zone and VNet ids: PVE's 2 to 8 letters and digits, in lower case here as they are also DNS labels. */
export const pveSdnId = z
  .string()
  .regex(/^[a-z0-9]*$/, {
    message: "expected a Proxmox SDN id in lower case: a letter, then letters or digits",
    abort: true,
  })
  .max(SDN_ID_MAX_LENGTH, `a Proxmox SDN id has at most ${SDN_ID_MAX_LENGTH} characters`)
  .regex(PVE_PATTERNS.sdnId, "expected a Proxmox SDN id: a letter, then letters or digits, at least 2 characters");

/** Section ids of Proxmox configuration (PCI mappings, backup jobs): a letter, then letters, digits, '-', '_'. */
export const pveConfigId = z
  .string()
  .regex(PVE_PATTERNS.configId, "expected a Proxmox id: a letter, then at least one letter, digit, '-' or '_'");

/**
 * A calendar event as PVE's parser (proxmox-time) takes it: "25:99" is refused here, not at apply. Stricter than
 * PVE in one reading: "25:00" has no hour 25, so PVE takes it as minute 25, second 0 of every hour; a time of two
 * parts must start with an hour here.
 */
export const pveCalendarEvent = z
  .string()
  .max(PVE_SCHEMA.schedule.maxLength)
  .superRefine((v, ctx) => {
    const example = 'expected a Proxmox calendar event like "*/15", "02:30", "sat 03:00" or "mon..fri 22:00"';
    const problem =
      v.trim() !== v || /\p{Cc}/u.test(v)
        ? "a calendar event has no white space around it and no control characters"
        : PVE_FORMATS["pve-calendar-event"](v);
    const time =
      v
        .split(/[ \t]+/)
        .filter((t) => t !== "UTC")
        .pop() ?? "";
    const [hour, ...rest] = time.split(":");
    if (problem) ctx.addIssue({ code: "custom", message: `${problem}: ${example} (hours 0-23, minutes 0-59)` });
    else if (rest.length === 1 && !isCalendarComponentList(hour, 24))
      ctx.addIssue({
        code: "custom",
        message: `${hour} is not an hour (0-23): Proxmox would read "${time}" as minute ${hour}, second ${rest[0]} of every hour; write the time as hour:minute`,
      });
  });

export const pveCpuType = z
  .string()
  .regex(schemaPattern(CPU_TYPE_PATTERN), 'expected a CPU model like "host", "x86-64-v2-AES" or "custom-<name>"');

export const pveMachineType = z
  .string()
  .max(PVE_SCHEMA.machineType.maxLength)
  .regex(
    schemaPattern(PVE_SCHEMA.machineType.pattern),
    "expected a QEMU machine type Proxmox accepts, e.g. q35 or pc-q35-9.2",
  );

/** A VM disk slot ("scsi0"): a bus Proxmox clones and resizes on, and a number below the bus's slot count. */
export const pveDiskInterface = z.string().superRefine((v, ctx) => {
  const m = /^(scsi|virtio|sata)(0|[1-9]\d{0,2})$/.exec(v);
  if (!m || Number(m[2]) >= SLOT_COUNTS[m[1]])
    ctx.addIssue({
      code: "custom",
      message: `expected a disk slot scsi0-scsi${SLOT_COUNTS.scsi - 1}, virtio0-virtio${SLOT_COUNTS.virtio - 1} or sata0-sata${SLOT_COUNTS.sata - 1}`,
    });
});

/**
 * An absolute path for a container mount point (`mp=` inside the container, or the host directory of a bind
 * mount): PVE's pve-lxc-mp-string (no "/./", "/../", trailing "/." or "/..") made whole: no "." or ".."
 * segment anywhere, not "/" itself, nothing that ends a property string.
 */
export const pveMountPath = (where: string) =>
  z
    .string()
    .regex(/^\//, { message: `expected an absolute path ${where}`, abort: true })
    .refine((v) => !PROPERTY_BREAK.test(v), { message: breakMessage("a mount path"), abort: true })
    .refine((v) => v.split("/").every((s) => s !== "." && s !== ".."), {
      message: 'a mount path has no "." or ".." segments',
      abort: true,
    })
    .refine(pve("pve-lxc-mp-string"), { message: "Proxmox refuses this mount path", abort: true })
    .refine((v) => v.replace(/\/+$/, "") !== "", `"/" cannot be mounted ${where}`);

/**
 * A host device passed into a container (`dev<n>`'s path): PVE's pve-lxc-dev-string (under /dev/, no "." or
 * ".." segment), with nothing that ends a property string.
 */
export const pveDevicePath = z
  .string()
  .refine((v) => !PROPERTY_BREAK.test(v), { message: breakMessage("a device path"), abort: true })
  .refine((v) => pve("pve-lxc-dev-string")(v) && v.split("/").every((s) => s !== "." && s !== ".."), {
    message: 'expected a device path under /dev/ like "/dev/net/tun" (no "." or ".." segments)',
    abort: true,
  })
  .refine((v) => !v.endsWith("/"), "a device path names a device, not a folder");

/** A value written into a property string or a config line without a format of its own in PVE. */
export const propertyValue = (what: string) => z.string().refine((v) => !PROPERTY_BREAK.test(v), breakMessage(what));

/** A volume id (`storage:...`) as PVE parses it (pve-volume-id), with nothing that ends a property string. */
export const pveVolumeId = z
  .string()
  .refine((v) => !PROPERTY_BREAK.test(v), breakMessage("a volume id"))
  .refine(pve("pve-volume-id"), 'expected a Proxmox volume id like "local:vztmpl/debian-12.tar.zst"');

/** A server by DNS name or IPv4 address (pve-storage-server). */
export const pveServer = z
  .string()
  .refine(
    (v) => pve("pve-storage-server")(v) && !v.includes(":") && (!/^[\d.]+$/.test(v) || pve("ipv4")(v)),
    "expected a DNS name or IPv4 address of the server (letters, digits, '-' and dots)",
  );

/** A VNet alias as the schema's pattern has it, on one line. */
export const pveVnetAlias = z
  .string()
  .refine(
    (v) => schemaPattern(PVE_SCHEMA.vnetAlias.pattern).test(v) && !/[\p{Cc}]/u.test(v),
    "expected letters, digits, spaces and ( ) - _ . as Proxmox takes a VNet alias, on one line",
  );
