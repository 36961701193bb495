import { createHash } from "node:crypto";
import { Construct } from "constructs";
import { stringify } from "yaml";
import { ImageFactorySchematic } from "../.gen/providers/talos/image-factory-schematic";

export interface TalosSchematicProps {
  /** Official system extensions, e.g. ["siderolabs/qemu-guest-agent"]. */
  readonly extensions: readonly string[];
}

/** An image-factory schematic: which extensions the Talos image carries. The factory returns its id. */
export class TalosSchematic extends Construct {
  readonly resource: ImageFactorySchematic;
  /** Short digest of the schematic's content, known at synth time; names the ISO files built from it. */
  readonly digest: string;

  constructor(scope: Construct, id: string, props: TalosSchematicProps) {
    super(scope, id);
    const schematic = schematicText(props.extensions);
    this.digest = TalosSchematic.digestOf(props.extensions);
    this.resource = new ImageFactorySchematic(this, "Resource", { schematic });
    this.resource.overrideLogicalId(id);
  }

  /** The short digest of the schematic of these extensions. */
  static digestOf(extensions: readonly string[]): string {
    return createHash("sha256").update(schematicText(extensions)).digest("hex").slice(0, 8);
  }

  get schematicId(): string {
    return this.resource.id;
  }
}

function schematicText(extensions: readonly string[]): string {
  return stringify({ customization: { systemExtensions: { officialExtensions: [...extensions].sort() } } });
}
