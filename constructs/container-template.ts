import { Construct } from "constructs";
import { DownloadFile } from "../.gen/providers/proxmox/download-file";
import { tfName } from "./names";

export interface ContainerTemplateProps {
  readonly url: string;
  /** Host that downloads it. */
  readonly host: string;
  /** @default "local" */
  readonly storage?: string;
  /** @default - the last part of the URL */
  readonly fileName?: string;
  /** @default - not checked */
  readonly checksum?: string;
  /** @default "sha256" */
  readonly checksumAlgorithm?: string;
}

/** An LXC OS template downloaded onto a host's storage. */
export class ContainerTemplate extends Construct {
  readonly resource: DownloadFile;

  constructor(scope: Construct, id: string, props: ContainerTemplateProps) {
    super(scope, id);
    const fileName = props.fileName ?? new URL(props.url).pathname.split("/").pop();
    if (!fileName) throw new Error(`ContainerTemplate: 'url' ${props.url} has no file name; set 'fileName'`);
    this.resource = new DownloadFile(this, "Resource", {
      nodeName: props.host,
      datastoreId: props.storage ?? "local",
      contentType: "vztmpl",
      url: props.url,
      fileName,
      checksum: props.checksum,
      checksumAlgorithm: props.checksum ? (props.checksumAlgorithm ?? "sha256") : undefined,
      overwrite: false,
    });
    this.resource.overrideLogicalId(tfName(`${fileName}-${props.host}`));
  }

  /** Volume id of the template, for a container's template_file_id. */
  get fileId(): string {
    return this.resource.id;
  }
}
