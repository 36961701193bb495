/**
 * Per-host endpoints: the node list and status, tasks (PVE::API2::Tasks), storages and their content
 * (PVE::API2::Storage::Status, ::Content: listed as the user may see it, disk images allocated), download-url and query-url-metadata. The simulator never fetches a
 * URL: a download creates the volume at once with a size derived from the URL, and query-url-metadata answers
 * that same size, so the provider sees a consistent file.
 */
import { createHash } from "node:crypto";
import { ApiError, need, paramError, str, type Ctx, type Routes } from "../api";
import { storageOn, volumeOn, type SimState, type StorageDef, type Volume } from "../state";
import { PVE_VERSION } from "./cluster";
import { canAccessVolume } from "../permissions";
import { volumeUsers } from "./vm-config";

function nodeOf(ctx: Ctx): string {
  const node = need(ctx, "node");
  if (!ctx.state.nodes.includes(node)) throw new ApiError(595, `no such node '${node}'`);
  return node;
}

function storageOf(ctx: Ctx, node: string): StorageDef {
  const id = need(ctx, "storage");
  const storage = storageOn(ctx.state, id, node);
  if (!storage) throw new ApiError(500, `storage '${id}' does not exist`);
  return storage;
}

/** The size the simulator gives the file behind `url`: fixed per URL, between 100 and 356 MiB. */
export function urlFileSize(url: string): number {
  return (100 + createHash("sha256").update(url).digest()[0]) * 1024 * 1024;
}

/** `<storage>:<name>` from a content path's volume, which may omit the storage (`iso/x.iso`). */
function fullVolid(storage: string, volume: string): string {
  return volume.includes(":") ? volume : `${storage}:${volume}`;
}

function volumeView(v: Volume) {
  return {
    volid: v.volid,
    content: v.content,
    format: v.format,
    size: v.size,
    used: v.size,
    ctime: v.ctime,
    ...(v.vmid !== undefined ? { vmid: v.vmid } : {}),
  };
}

function storageStatus(state: SimState, node: string, s: StorageDef) {
  const used = state.volumes
    .filter((v) => v.storage === s.id && (s.shared || v.node === node))
    .reduce((sum, v) => sum + v.size, 0);
  const total = 4 * 1024 ** 4;
  return {
    storage: s.id,
    type: s.type,
    content: s.content.join(","),
    shared: s.shared ? 1 : 0,
    active: 1,
    enabled: 1,
    total,
    used,
    avail: total - used,
    used_fraction: used / total,
  };
}

const BLOCK_STORAGES = new Set(["lvmthin", "lvm", "zfspool", "rbd"]);
const FILE_STORAGES = new Set(["dir", "nfs", "cifs", "cephfs", "glusterfs"]);

interface Allocation {
  readonly vmid: number;
  readonly filename: string;
  /** PVE's `size`: KiB, or with the suffix M or G. */
  readonly size: string;
  readonly format?: string;
}

/**
 * `POST .../storage/{storage}/content` (pve-storage PVE::API2::Storage::Content create, PVE::Storage
 * vdisk_alloc): a disk image of VM `vmid` named `filename`, its format from the name's extension or `format`
 * (else the storage's default: raw on block storages, qcow2 on file storages); a block storage (LvmThinPlugin,
 * ...) takes raw only and a name `vm-<vmid>-*`, a file storage (Plugin) a name with its format's extension,
 * stored under `<vmid>/`. Answers the volume id at once (no task).
 */
function allocateVolume(state: SimState, node: string, storage: StorageDef, request: Allocation): string {
  const m = /^(\d+)([MG])?$/.exec(request.size);
  if (!m) throw paramError("size", `unable to parse size '${request.size}'`);
  const bytes = Number(m[1]) * 1024 * (m[2] === "G" ? 1024 ** 2 : m[2] === "M" ? 1024 : 1);
  const named = /\.(raw|qcow2|vmdk)$/.exec(request.filename)?.[1];
  if (named && request.format && request.format !== named)
    throw paramError("format", `different storage formats (${request.format} != ${named})`);
  const { vmid, filename } = request;
  let volname: string;
  let format: string;
  if (BLOCK_STORAGES.has(storage.type)) {
    format = named ?? request.format ?? "raw";
    if (format !== "raw") throw new ApiError(500, `unsupported format '${format}'`);
    if (!filename.startsWith(`vm-${vmid}-`))
      throw new ApiError(500, `illegal name '${filename}' - should be 'vm-${vmid}-*'`);
    volname = filename;
  } else if (FILE_STORAGES.has(storage.type)) {
    format = named ?? request.format ?? "qcow2";
    const parsed = /^(?:base|vm)-\d+-\S+\.(raw|qcow2|vmdk|subvol)$/.exec(filename);
    if (!parsed) throw new ApiError(500, `unable to parse volume filename '${filename}'`);
    if (parsed[1] !== format)
      throw new ApiError(500, `illegal name '${filename}' - wrong extension for format ('${parsed[1]} != '${format}')`);
    volname = `${vmid}/${filename}`;
  } else {
    throw new ApiError(501, `not modelled by the simulator: allocating volumes on a '${storage.type}' storage`);
  }
  const volid = `${storage.id}:${volname}`;
  if (volumeOn(state, volid, node)) throw new ApiError(500, `volume '${volid}' already exists`);
  state.volumes.push({
    volid,
    storage: storage.id,
    node,
    content: "images",
    format,
    size: bytes,
    vmid,
    ctime: Math.floor(Date.now() / 1000),
  });
  return volid;
}

export const nodeRoutes: Routes = {
  "GET /nodes": (ctx) =>
    ctx.state.nodes.map((node) => ({
      node,
      status: "online",
      type: "node",
      id: `node/${node}`,
      maxcpu: 32,
      maxmem: 256 * 1024 ** 3,
      uptime: 86400,
    })),
  "GET /nodes/{node}/status": (ctx) => {
    nodeOf(ctx);
    return {
      pveversion: `pve-manager/${PVE_VERSION.version}/${PVE_VERSION.repoid}`,
      kversion: "Linux 6.17.2-1-pve",
      uptime: 86400,
      cpuinfo: { cpus: 32, sockets: 1, cores: 16, model: "simulated" },
      memory: { total: 256 * 1024 ** 3, used: 0, free: 256 * 1024 ** 3 },
    };
  },
  "GET /nodes/{node}/version": () => PVE_VERSION,

  "GET /nodes/{node}/tasks/{upid}/status": (ctx) => {
    const task = ctx.state.tasks[need(ctx, "upid")];
    if (!task) throw new ApiError(500, `no such task`);
    return {
      upid: task.upid,
      node: task.node,
      pid: 0,
      pstart: 0,
      starttime: task.starttime,
      type: task.type,
      id: task.id,
      user: task.user,
      status: "stopped",
      exitstatus: task.exitstatus,
    };
  },
  "GET /nodes/{node}/tasks/{upid}/log": (ctx) => {
    const task = ctx.state.tasks[need(ctx, "upid")];
    if (!task) throw new ApiError(500, `no such task`);
    return task.log.map((t, i) => ({ n: i + 1, t }));
  },
  "DELETE /nodes/{node}/tasks/{upid}": (ctx) => {
    if (!ctx.state.tasks[need(ctx, "upid")]) throw new ApiError(500, `no such task`);
  },

  "GET /nodes/{node}/storage": (ctx) => {
    const node = nodeOf(ctx);
    const content = str(ctx, "content");
    return ctx.state.storages
      .filter((s) => storageOn(ctx.state, s.id, node) && (!content || s.content.includes(content)))
      .map((s) => storageStatus(ctx.state, node, s));
  },
  "GET /nodes/{node}/storage/{storage}/status": (ctx) => {
    const node = nodeOf(ctx);
    return storageStatus(ctx.state, node, storageOf(ctx, node));
  },
  "GET /nodes/{node}/storage/{storage}/content": (ctx) => {
    const node = nodeOf(ctx);
    const storage = storageOf(ctx, node);
    const content = str(ctx, "content");
    const vmid = str(ctx, "vmid");
    return ctx.state.volumes
      .filter((v) => v.storage === storage.id && (storage.shared || v.node === node))
      .filter((v) => (!content || v.content === content) && (!vmid || String(v.vmid) === vmid))
      .filter((v) => canAccessVolume(ctx.state, ctx.user, v.volid))
      .map(volumeView);
  },
  "POST /nodes/{node}/storage/{storage}/content": (ctx) => {
    const node = nodeOf(ctx);
    return allocateVolume(ctx.state, node, storageOf(ctx, node), {
      vmid: Number(need(ctx, "vmid")),
      filename: need(ctx, "filename"),
      size: need(ctx, "size"),
      format: str(ctx, "format"),
    });
  },
  "GET /nodes/{node}/storage/{storage}/content/{volume}": (ctx) => {
    const node = nodeOf(ctx);
    const storage = storageOf(ctx, node);
    const volid = fullVolid(storage.id, need(ctx, "volume"));
    const volume = volumeOn(ctx.state, volid, node);
    if (!volume) throw new ApiError(500, `volume '${volid}' does not exist`);
    return {
      path: `/simulated/${storage.id}/${volid.split(":")[1]}`,
      size: volume.size,
      used: volume.size,
      format: volume.format,
    };
  },
  "DELETE /nodes/{node}/storage/{storage}/content/{volume}": (ctx) => {
    const node = nodeOf(ctx);
    const storage = storageOf(ctx, node);
    const volid = fullVolid(storage.id, need(ctx, "volume"));
    const volume = volumeOn(ctx.state, volid, node);
    if (!volume) throw new ApiError(500, `volume '${volid}' does not exist`);
    const users = volumeUsers(ctx.state, volid, node);
    if (users.length) throw new ApiError(500, `unable to delete volume '${volid}' - in use by VM ${users.join(", ")}`);
    // The task's id is `<owner>@<storage>` (a volume id's colon cannot be in a UPID).
    const id = `${volume.vmid !== undefined ? `${volume.vmid}@` : ""}${storage.id}`;
    return ctx.task(node, "imgdel", id, () => {
      ctx.state.volumes = ctx.state.volumes.filter((v) => v !== volume);
      return [`removed volume '${volid}'`];
    });
  },

  "GET /nodes/{node}/query-url-metadata": (ctx) => {
    nodeOf(ctx);
    const url = need(ctx, "url");
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw paramError("url", "invalid URL");
    }
    return {
      filename: decodeURIComponent(parsed.pathname.split("/").pop() ?? "") || "index.html",
      mimetype: "application/octet-stream",
      size: urlFileSize(url),
    };
  },
  "POST /nodes/{node}/storage/{storage}/download-url": (ctx) => {
    const node = nodeOf(ctx);
    const storage = storageOf(ctx, node);
    const content = need(ctx, "content");
    const filename = need(ctx, "filename");
    const url = need(ctx, "url");
    if (!["iso", "vztmpl", "import"].includes(content))
      throw paramError("content", `content type '${content}' is not allowed for download-url`);
    if (!storage.content.includes(content))
      throw new ApiError(500, `storage '${storage.id}' does not support content-type '${content}'`);
    if (content === "iso" && !/\.(iso|img)$/i.test(filename))
      throw paramError("filename", `wrong file extension for content type '${content}'`);
    if (str(ctx, "compression") !== undefined || str(ctx, "checksum") !== undefined)
      throw new ApiError(501, "not modelled by the simulator: download-url compression or checksum");
    const volid = `${storage.id}:${content}/${filename}`;
    if (volumeOn(ctx.state, volid, node))
      throw new ApiError(500, `refusing to override existing file '/simulated/${storage.id}/${content}/${filename}'`);
    return ctx.task(node, "download", storage.id, () => {
      ctx.state.volumes.push({
        volid,
        storage: storage.id,
        node,
        content,
        format: content === "iso" ? "iso" : "raw",
        size: urlFileSize(url),
        ctime: Math.floor(Date.now() / 1000),
      });
      ctx.state.downloads.push({ storage: storage.id, node, filename, url });
      return [
        `downloading ${url} to /simulated/${storage.id}/${content}/${filename}`,
        "download of the simulated file finished",
      ];
    });
  },
};
