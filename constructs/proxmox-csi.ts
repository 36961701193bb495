import * as release from "@cdktf/provider-helm/lib/release";
import * as namespaceV1 from "@cdktf/provider-kubernetes/lib/namespace-v1";
import { Fn } from "cdktf";
import { Construct } from "constructs";
import { stringify } from "yaml";

export interface ProxmoxCsiProps {
  /** Chart repository. @default oci://ghcr.io/sergelogvinov/charts (upstream) */
  readonly repository?: string;
  /** Helm chart version of proxmox-csi-plugin. */
  readonly version: string;
  /** Proxmox API URL, e.g. https://pve:8006/ (the driver wants .../api2/json). */
  readonly apiUrl: string;
  readonly insecure: boolean;
  /** Proxmox cluster name: the driver's region, matched against the nodes' topology.kubernetes.io/region. */
  readonly region: string;
  /** `user@realm!token` of the CSI token from layer 00. */
  readonly tokenId: string;
  /** The token's value from layer 00 (`user@realm!token=secret`); only the secret part is passed on. */
  readonly tokenValue: string;
  /** Proxmox storage for volumes. */
  readonly storage: string;
  /** @default "proxmox" */
  readonly storageClassName?: string;
}

/** The Proxmox CSI driver (volumes are Proxmox disks attached to the node's VM) and its default StorageClass. */
export class ProxmoxCsi extends Construct {
  readonly release: release.Release;

  constructor(scope: Construct, id: string, props: ProxmoxCsiProps) {
    super(scope, id);
    // The node plugin needs privileged pods, which Talos' default pod security forbids elsewhere.
    const ns = new namespaceV1.NamespaceV1(this, "Namespace", {
      metadata: { name: "csi-proxmox", labels: { "pod-security.kubernetes.io/enforce": "privileged" } },
    });
    ns.overrideLogicalId("csi_proxmox");

    const values = {
      config: {
        clusters: [
          { url: `${props.apiUrl.replace(/\/+$/, "")}/api2/json`, insecure: props.insecure, region: props.region },
        ],
      },
      node: { tolerations: [{ operator: "Exists" }] },
      storageClass: [
        {
          name: props.storageClassName ?? "proxmox",
          storage: props.storage,
          reclaimPolicy: "Delete",
          fstype: "ext4",
          ssd: true,
          annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
        },
      ],
    };
    this.release = new release.Release(this, "Release", {
      name: "proxmox-csi-plugin",
      namespace: ns.metadata.name,
      repository: props.repository ?? "oci://ghcr.io/sergelogvinov/charts",
      chart: "proxmox-csi-plugin",
      version: props.version,
      values: [stringify(values)],
      set: [{ name: "config.clusters[0].token_id", value: props.tokenId }],
      setSensitive: [
        { name: "config.clusters[0].token_secret", value: Fn.element(Fn.split("=", props.tokenValue), 1) },
      ],
      wait: true,
    });
    this.release.overrideLogicalId("proxmox_csi");
  }
}
