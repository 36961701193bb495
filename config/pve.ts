// Identifier rules of Proxmox VE itself, so that a name PVE would refuse (or a NUL byte, a "/", a "../")
// is a config error at its line instead of an API error halfway through an apply.
//
// Source: /work/shared/pve-api/pve-api-schema.json, the PVE 9.1 API schema (pve-docs commit a8736b6d,
// api-viewer/apidata.js), copied here as constants; the project does not read it at run time.

/**
 * Node names (format "pve-node"): a host name label. The schema publishes the pattern on the parameters that
 * are named after a node, e.g. POST /nodes/{node}/ceph/mon/{monid} `monid`; maxLength 200 there, 63 for a
 * DNS label.
 */
export const PVE_NODE_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

/**
 * Storage ids (format "pve-storage-id", POST /storage `storage`). The schema names the format without its
 * pattern; this is PVE::JSONSchema::parse_id's check behind it (pve-common, src/PVE/JSONSchema.pm).
 */
export const PVE_STORAGE_ID = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;

/** Bridge names: POST /nodes/{node}/lxc net[n] `bridge` pattern. */
export const PVE_BRIDGE = /^[-_.\w\d]+$/;

/** Linux interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL). */
export const BRIDGE_MAX_LENGTH = 15;

/** VLAN tag: POST /nodes/{node}/qemu net[n] `tag` minimum and maximum. */
export const PVE_VLAN_TAG = { min: 1, max: 4094 } as const;

/** QEMU machine types: POST /nodes/{node}/qemu `machine` property string, key `type` (maxLength 40). */
export const PVE_MACHINE =
  /^(pc|pc(-i440fx)?-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|q35|pc-q35-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|virt(?:-\d+(\.\d+)+)?(\+pve\d+)?)$/;

/**
 * CPU models: POST /nodes/{node}/qemu `cpu` (format "pve-vm-cpu-conf"; the schema names the format without
 * its pattern): a built-in model name or "custom-<name>" (PVE::QemuServer::CPUConfig). Written here.
 */
export const PVE_CPU_TYPE = /^(custom-)?[A-Za-z0-9][A-Za-z0-9._-]*$/;
