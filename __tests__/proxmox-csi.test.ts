import { TerraformStack, Testing } from "cdktf";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ProxmoxCsi, type ProxmoxCsiProps } from "../constructs/proxmox-csi";

const props: ProxmoxCsiProps = {
  version: "0.3.5",
  apiUrl: "https://pve:8006/",
  insecure: true,
  region: "lab",
  tokenId: "lab-csi@pve!csi",
  tokenValue: "lab-csi@pve!csi=s3cr3t",
  storage: "ceph",
};

function synthCsi(p: ProxmoxCsiProps): any {
  const stack = new TerraformStack(Testing.app(), "s");
  new ProxmoxCsi(stack, "Csi", p);
  return JSON.parse(Testing.synth(stack)).resource.helm_release.proxmox_csi;
}

describe("ProxmoxCsi", () => {
  it.each(["https://pve:8006/", "https://pve:8006", "https://pve:8006//"])(
    "points the driver at %s/api2/json, once",
    (apiUrl) => {
      expect(parse(synthCsi({ ...props, apiUrl }).values[0]).config.clusters[0]).toEqual({
        url: "https://pve:8006/api2/json",
        insecure: true,
        region: "lab",
      });
    },
  );

  it("passes only the secret part of the token, as a sensitive value outside the values", () => {
    const release = synthCsi(props);
    expect(release.values[0]).not.toContain("s3cr3t");
    expect(release.set_sensitive).toEqual([
      { name: "config.clusters[0].token_secret", value: '${element(split("=", "lab-csi@pve!csi=s3cr3t"), 1)}' },
    ]);
  });

  it("makes its StorageClass the default, named proxmox unless told otherwise", () => {
    const classes = (p: ProxmoxCsiProps) => parse(synthCsi(p).values[0]).storageClass;
    expect(classes(props)).toEqual([
      expect.objectContaining({
        name: "proxmox",
        storage: "ceph",
        annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
      }),
    ]);
    expect(classes({ ...props, storageClassName: "fast" })[0].name).toBe("fast");
  });
});
