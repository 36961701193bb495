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
}

/**
 * One Talos image: a schematic in a version, plain or SecureBoot, for the nocloud platform (so a node picks up
 * its static address from the VM's cloud-init drive while still in maintenance mode). The ISO is downloaded
 * to each Proxmox host that asks for it, once.
 */
export class TalosImage extends Construct {
  readonly urls: DataTalosImageFactoryUrls;
  /** Name used for this image's resources, e.g. "a1b2c3d4" or "a1b2c3d4_secureboot". */
  readonly name: string;
  private readonly isos = new Map<string, DownloadFile>();

  constructor(scope: Construct, id: string, private readonly props: TalosImageProps) {
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

  /** The ISO on a Proxmox host, as a volume id for the VM's CD-ROM; downloaded once per host. */
  isoOn(proxmoxNode: string): string {
    let iso = this.isos.get(proxmoxNode);
    if (!iso) {
      const { talosVersion, secureboot, schematicLabel, isoStorage } = this.props;
      iso = new DownloadFile(this, `Iso-${proxmoxNode}`, {
        nodeName: proxmoxNode,
        contentType: "iso",
        datastoreId: isoStorage,
        url: secureboot ? this.urls.urls.isoSecureboot : this.urls.urls.iso,
        fileName: `talos-${talosVersion}-${schematicLabel}-nocloud-amd64${secureboot ? "-secureboot" : ""}.iso`,
        // Layer 01 is rebuilt freely: adopt an ISO a previous state left behind instead of failing.
        overwriteUnmanaged: true,
      });
      iso.overrideLogicalId(tfName(`talos_${this.name}_on_${proxmoxNode}`));
      this.isos.set(proxmoxNode, iso);
    }
    return iso.id;
  }
}
