// One source for Proxmox' formats: the Proxmox simulator judges with the product's config/pve-formats.ts, and
// every config field that names a Proxmox thing accepts only what the simulator accepts, written where the
// provider writes it (inside a property string: with no key of its own smuggled in).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  pveBridge,
  pveCalendarEvent,
  pveConfigId,
  pveCpuType,
  pveDiskInterface,
  pveMachineType,
  pveMountPath,
  pveNodeName,
  pveSdnId,
  pveServer,
  pveStorageId,
  pveTag,
  pveVnetAlias,
  pveVolumeId,
} from "../config/pve-fields";
import * as product from "../config/pve-formats";
import * as simFormats from "../judges/pve-sim/formats";
import { parsePropertyString, specFor, verifyParams } from "../judges/pve-sim/params";
import { apiSchema, type ParamSpec, vmConfigProperties } from "../judges/pve-sim/schema";

const propertiesOf = (method: string, path: string): Readonly<Record<string, ParamSpec>> =>
  apiSchema().match(method, path)!.method!.parameters!.properties!;
const lxc = propertiesOf("POST", "/nodes/pve/lxc");
const qemu = vmConfigProperties();

describe("the simulator and the config check with one format module", () => {
  it("the simulator's format table is the product's, object for object", () => {
    expect(simFormats.NAMED_FORMATS).toBe(product.PVE_FORMATS);
    expect(simFormats.calendarEvent).toBe(product.calendarEvent);
    expect(simFormats.SLOT_COUNTS).toBe(product.SLOT_COUNTS);
    expect(simFormats.PROPERTY_FORMATS["pve-vm-cpu-conf"].cputype.pattern).toBe(product.CPU_TYPE_PATTERN);
  });

  it("the schema data copied into the product is the vendored schema's", () => {
    const key = (props: Readonly<Record<string, ParamSpec>>, name: string, sub: string) =>
      (props[name].format as Record<string, ParamSpec>)[sub];
    const { PVE_SCHEMA: copy } = product;
    expect(key(lxc, "net[n]", "bridge").pattern).toBe(copy.bridge.pattern);
    expect(key(qemu, "net[n]", "tag")).toMatchObject(copy.vlanTag);
    expect(key(qemu, "machine", "type")).toMatchObject(copy.machineType);
    expect(propertiesOf("POST", "/cluster/backup").schedule.maxLength).toBe(copy.schedule.maxLength);
    expect(propertiesOf("POST", "/cluster/replication").schedule.maxLength).toBe(copy.schedule.maxLength);
    expect(propertiesOf("POST", "/cluster/sdn/vnets").alias).toMatchObject(copy.vnetAlias);
    expect(propertiesOf("POST", "/storage").fingerprint.pattern).toBe(copy.fingerprint.pattern);
    expect(lxc.hostname.maxLength).toBe(copy.hostname.maxLength);
  });
});

// Strings made of the characters that matter: identifier characters in both cases, the separators of property
// strings and lists, path and template characters, white space and a control character; and valid values with
// one such character put in somewhere.
const CHARS = [..."aZk09-_.", ..."aZk09-_.", ..."/:,;=@ \t\n${}%*+!~()", "\u0000", "é"];
const noise = fc.string({ unit: fc.constantFrom(...CHARS), minLength: 1, maxLength: 14 });
const around = (valid: readonly string[]) =>
  fc.oneof(
    fc.constantFrom(...valid),
    noise,
    fc
      .tuple(fc.constantFrom(...valid), fc.nat(), fc.constantFrom(...CHARS))
      .map(([v, at, c]) => v.slice(0, at % (v.length + 1)) + c + v.slice(at % (v.length + 1))),
  );

/** Keys of the property string `value` of parameter `name`, or the simulator's refusal. */
function judge(props: Readonly<Record<string, ParamSpec>>, name: string, value: string): string[] | string {
  const errors = verifyParams(props, { [name]: value });
  if (errors[name]) return errors[name];
  const spec = specFor(props, name)!;
  const format = typeof spec.format === "string" ? simFormats.PROPERTY_FORMATS[spec.format] : spec.format;
  return format ? Object.keys(parsePropertyString(format, value)).sort() : [];
}

interface Case {
  readonly field: z.ZodType;
  readonly valid: readonly string[];
  /** What the simulator says of an accepted value: the keys it parsed, or its refusal. */
  readonly judged: readonly ((v: string) => string[] | string)[];
  /** The keys each judgement must find (no key smuggled in). */
  readonly keys: readonly (readonly string[])[];
}

const param = (props: Readonly<Record<string, ParamSpec>>, name: string) => (v: string) => {
  const errors = verifyParams(props, { [name]: v });
  return errors[name] ?? [];
};

const cases: Record<string, Case> = {
  bridge: {
    field: pveBridge,
    valid: ["vmbr0", "vmbr0.20", "br_lan-1"],
    judged: [
      (v) => judge(qemu, "net0", `virtio=BC:24:11:00:00:01,bridge=${v}`),
      (v) => judge(lxc, "net0", `name=eth0,bridge=${v}`),
    ],
    keys: [
      ["bridge", "macaddr", "model"],
      ["bridge", "name"],
    ],
  },
  "CPU type": {
    field: pveCpuType,
    valid: ["host", "x86-64-v2-AES", "custom-fast"],
    judged: [(v) => judge(qemu, "cpu", v)],
    keys: [["cputype"]],
  },
  "machine type": {
    field: pveMachineType,
    valid: ["q35", "pc-q35-9.2", "pc-i440fx-8.1+pve1"],
    judged: [(v) => judge(qemu, "machine", v)],
    keys: [["type"]],
  },
  "storage id": {
    field: pveStorageId,
    valid: ["local-lvm", "tank", "Ceph.pool_1"],
    judged: [(v) => judge(lxc, "rootfs", `${v}:8`), param(propertiesOf("POST", "/storage"), "storage")],
    keys: [["volume"], []],
  },
  "mount path in a container": {
    field: pveMountPath("inside the container"),
    valid: ["/data", "/srv/media/films", "/var/lib/app-1"],
    judged: [(v) => judge(lxc, "mp0", `local-lvm:8,mp=${v}`)],
    keys: [["mp", "volume"]],
  },
  "host directory of a bind mount": {
    field: pveMountPath("from the host"),
    valid: ["/tank/media", "/mnt/pve/nas"],
    judged: [(v) => judge(lxc, "mp0", `${v},mp=/data`)],
    keys: [["mp", "volume"]],
  },
  "template volume": {
    field: pveVolumeId,
    valid: ["local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "nas:vztmpl/alpine.tar.xz"],
    judged: [(v) => judge(lxc, "mp0", `${v},mp=/data`)],
    keys: [["mp", "volume"]],
  },
  tag: {
    field: pveTag,
    valid: ["web", "Backup", "tier_1.a+b"],
    judged: [param(lxc, "tags"), (v) => (v.split(/[;, ]+/).length === 1 ? [] : `${v} is several tags`)],
    keys: [[], []],
  },
  "SDN id": {
    field: pveSdnId,
    valid: ["lan", "iot2", "homelab"],
    judged: [
      param(propertiesOf("POST", "/cluster/sdn/zones"), "zone"),
      param(propertiesOf("POST", "/cluster/sdn/vnets"), "vnet"),
    ],
    keys: [[], []],
  },
  "calendar event": {
    field: pveCalendarEvent,
    valid: ["02:30", "*/15", "sat 03:00", "mon..fri 22:00", "daily"],
    judged: [
      param(propertiesOf("POST", "/cluster/backup"), "schedule"),
      param(propertiesOf("POST", "/cluster/replication"), "schedule"),
    ],
    keys: [[], []],
  },
  "node name": {
    field: pveNodeName,
    valid: ["pve", "pve-b", "Node7"],
    judged: [param(propertiesOf("POST", "/cluster/replication"), "target")],
    keys: [[]],
  },
  "mapping and job id": {
    field: pveConfigId,
    valid: ["gpu", "nightly-job", "Nic_2"],
    judged: [
      param(propertiesOf("POST", "/cluster/mapping/pci"), "id"),
      param(propertiesOf("POST", "/cluster/backup"), "id"),
    ],
    keys: [[], []],
  },
  "disk slot": {
    field: pveDiskInterface,
    valid: ["scsi0", "virtio15", "sata5", "scsi30"],
    judged: [(v) => (specFor(qemu, v) ? judge(qemu, v, "local-lvm:vm-100-disk-0") : `no slot ${v}`)],
    keys: [["file"]],
  },
  "backup server": {
    field: pveServer,
    valid: ["pbs.home.arpa", "192.168.1.5", "pbs"],
    judged: [param(propertiesOf("POST", "/storage"), "server")],
    keys: [[]],
  },
  "VNet alias": {
    field: pveVnetAlias,
    valid: ["Living room", "IoT (cameras)", "lab-1.2"],
    judged: [param(propertiesOf("POST", "/cluster/sdn/vnets"), "alias")],
    keys: [[]],
  },
};

describe("every value a config field accepts, the simulator accepts where the provider writes it", () => {
  it.each(Object.entries(cases))("%s", (_name, { field, valid, judged, keys }) => {
    let accepted = 0;
    fc.assert(
      fc.property(around(valid), (value) => {
        if (!field.safeParse(value).success) return;
        accepted++;
        judged.forEach((judgeOf, i) => expect([value, judgeOf(value)]).toEqual([value, keys[i]]));
      }),
      { numRuns: 300, seed: 19 },
    );
    for (const v of valid) expect(field.safeParse(v).success, v).toBe(true);
    expect(accepted).toBeGreaterThan(valid.length);
  });
});
