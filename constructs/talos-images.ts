import { Construct } from "constructs";
import { shortLabels } from "./names";
import { TalosImage } from "./talos-image";
import { TalosSchematic } from "./talos-schematic";

export interface TalosImagesProps {
  /** Talos version of every image, e.g. "v1.12.1". */
  readonly talosVersion: string;
  /** Official extensions of the cluster's own schematic, e.g. ["siderolabs/qemu-guest-agent"]. */
  readonly extensions: readonly string[];
  /**
   * Other lists of official extensions that nodes boot (the cluster's plus Tailscale's, ...), a schematic built
   * for each. Known up front, like `schematicIds`.
   * @default - none
   */
  readonly extensionSets?: readonly (readonly string[])[];
  /**
   * Image-factory schematics of their own that nodes boot, besides the cluster's. Known up front, so that every
   * schematic gets the shortest label that tells it apart from all the others.
   * @default - none
   */
  readonly schematicIds?: readonly string[];
  /** Proxmox storage the ISOs are downloaded to (must allow ISO images). */
  readonly isoStorage: string;
  /**
   * The ISO storage is shared by every host: each ISO is downloaded once, from this host.
   * @default - not shared: once per host
   */
  readonly sharedIsoHost?: string;
}

/** Which image a node boots. */
export interface TalosImageChoice {
  /** @default - a schematic built from `extensions` */
  readonly schematicId?: string;
  /** Official extensions of the schematic built for the node: the cluster's or one of `extensionSets`. @default - the cluster's */
  readonly extensions?: readonly string[];
  /** @default false */
  readonly secureboot?: boolean;
}

/**
 * The Talos images of a cluster: its schematic (from the extensions), one image per schematic and SecureBoot
 * variant that some node boots, and each image's ISO downloaded once per datastore (to each Proxmox host that
 * needs it, or once for all of them on shared storage).
 */
export class TalosImages extends Construct {
  /** The cluster's schematic, from `extensions`. */
  readonly schematic: TalosSchematic;
  /** Every schematic built here, by its extensions (sorted, comma-joined). */
  private readonly built = new Map<string, TalosSchematic>();
  private readonly labels: ReadonlyMap<string, string>;
  private readonly images = new Map<string, TalosImage>();

  constructor(
    scope: Construct,
    id: string,
    private readonly props: TalosImagesProps,
  ) {
    super(scope, id);
    this.schematic = new TalosSchematic(this, "default", { extensions: props.extensions });
    this.built.set(setKey(props.extensions), this.schematic);
    for (const extensions of props.extensionSets ?? []) {
      if (this.built.has(setKey(extensions))) continue;
      const digest = TalosSchematic.digestOf(extensions);
      this.built.set(setKey(extensions), new TalosSchematic(this, `extensions_${digest}`, { extensions }));
    }
    this.labels = shortLabels([...[...this.built.values()].map((s) => s.digest), ...(props.schematicIds ?? [])]);
  }

  /** The image for a choice; one per schematic and variant, however many nodes boot it. */
  image(choice: TalosImageChoice): TalosImage {
    const built = this.built.get(setKey(choice.extensions ?? this.props.extensions));
    if (!choice.schematicId && !built)
      throw new Error(`TalosImages: extensions ${setKey(choice.extensions ?? [])} are not among 'extensionSets'`);
    const schematicId = choice.schematicId ?? built!.digest;
    const label = this.labels.get(schematicId);
    if (label === undefined) throw new Error(`TalosImages: schematic "${schematicId}" is not among 'schematicIds'`);
    const secureboot = choice.secureboot ?? false;
    const key = `${label}${secureboot ? "-secureboot" : ""}`;
    let image = this.images.get(key);
    if (!image) {
      image = new TalosImage(this, `Image-${key}`, {
        schematicId: choice.schematicId ?? built!.schematicId,
        schematicLabel: label,
        talosVersion: this.props.talosVersion,
        secureboot,
        isoStorage: this.props.isoStorage,
        sharedIsoHost: this.props.sharedIsoHost,
      });
      this.images.set(key, image);
    }
    return image;
  }

  /** The chosen image's ISO on a Proxmox host, as a volume id for a VM's CD-ROM. */
  isoOn(proxmoxNode: string, choice: TalosImageChoice): string {
    return this.image(choice).isoOn(proxmoxNode);
  }
}

function setKey(extensions: readonly string[]): string {
  return [...new Set(extensions)].sort().join(",");
}
