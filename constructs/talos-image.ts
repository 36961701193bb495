import { Fn } from "cdktf";
import { Construct } from "constructs";
import { DownloadFile } from "../.gen/providers/proxmox/download-file";
import { DataTalosImageFactoryUrls } from "../.gen/providers/talos/data-talos-image-factory-urls";
import { tfName } from "./names";

export interface TalosImageProps {
  /** Image-factory schematic id (a literal or the id of a TalosSchematic). */
  readonly schematicId: string;
  /** Short name of the schematic, used in resource ids and ISO file names. */
  readonly schematicLabel: string;
  /** Talos version, e.g. "v1.12.1". */
  readonly talosVersion: string;
  /** The SecureBoot variant (signed UKI ISO and installer). */
  readonly secureboot: boolean;
  /** Proxmox storage the ISO is downloaded to (must allow ISO images). */
  readonly isoStorage: string;
  /**
   * The ISO storage is shared by every host (cephfs, nfs, ...): one download, made from `sharedIsoHost`,
   * serves every VM, instead of one per host racing over the same file.
   * @default - not shared: one download per host
   */
  readonly sharedIsoHost?: string;
}

/**
 * One Talos image: a schematic in a version, plain or SecureBoot, for the nocloud platform (so a node picks up
 * its static address from the VM's cloud-init drive while still in maintenance mode). The ISO is downloaded
 * once per datastore: to each Proxmox host that asks for it, or once for all of them on shared storage. It
 * exists as long as a node boots this image, so it is never deleted under a VM that uses it.
 */
export class TalosImage extends Construct {
  readonly urls: DataTalosImageFactoryUrls;
  /** Name used for this image's resources, e.g. "a1b2c3d4" or "a1b2c3d4_secureboot". */
  readonly name: string;
  private readonly isos = new Map<string, DownloadFile>();

  constructor(
    scope: Construct,
    id: string,
    private readonly props: TalosImageProps,
  ) {
    super(scope, id);
    this.name = `${props.schematicLabel}${props.secureboot ? "_secureboot" : ""}`;
    this.urls = new DataTalosImageFactoryUrls(this, "Urls", {
      schematicId: props.schematicId,
      talosVersion: props.talosVersion,
      platform: "nocloud",
      architecture: "amd64",
    });
    this.urls.overrideLogicalId(`talos_${this.name}`);
  }

  /** The installer image Talos installs to disk (`machine.install.image`). */
  get installerImage(): string {
    return this.props.secureboot ? this.urls.urls.installerSecureboot : this.urls.urls.installer;
  }

  /**
   * The installer image without its tag (`<factory>/<platform>-installer/<schematic id>`): `talosctl upgrade`
   * takes it with the new version as tag.
   */
  get installerRepository(): string {
    return Fn.replace(this.installerImage, "/:[^:/]+$/", "");
  }

  /** The ISO as seen from a Proxmox host, as a volume id for the VM's CD-ROM; downloaded once per datastore. */
  isoOn(proxmoxNode: string): string {
    const { sharedIsoHost, isoStorage } = this.props;
    const place = sharedIsoHost === undefined ? proxmoxNode : isoStorage;
    let iso = this.isos.get(place);
    if (!iso) {
      const { talosVersion, secureboot, schematicLabel } = this.props;
      iso = new DownloadFile(this, `Iso-${place}`, {
        nodeName: sharedIsoHost ?? proxmoxNode,
        contentType: "iso",
        datastoreId: isoStorage,
        url: secureboot ? this.urls.urls.isoSecureboot : this.urls.urls.iso,
        fileName: `talos-${talosVersion}-${schematicLabel}-nocloud-amd64${secureboot ? "-secureboot" : ""}.iso`,
        // Layer 01 is rebuilt freely: adopt an ISO a previous state left behind instead of failing.
        overwriteUnmanaged: true,
        // A new version or schematic downloads its ISO before the old one goes, and the VMs' CD-ROMs move to it
        // in between (they depend on it).
        lifecycle: { createBeforeDestroy: true },
      });
      iso.overrideLogicalId(tfName(`talos_${this.name}_on_${place}`));
      this.isos.set(place, iso);
    }
    return iso.id;
  }
}
