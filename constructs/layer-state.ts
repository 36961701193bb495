import { HttpBackend, LocalBackend, type TerraformBackend, type TerraformStack } from "cdktf";

/** Where a layer keeps its state. Credentials are never part of it: the engine reads TF_HTTP_* itself. */
export type LayerStateProps =
  | {
      readonly type: "local";
      /** State file, relative to the stack directory, outside the synth output so re-synthesis never touches it. */
      readonly path: string;
    }
  | {
      readonly type: "http";
      readonly address: string;
      /** @default the state address */
      readonly lockAddress?: string;
      /** @default the state address */
      readonly unlockAddress?: string;
      readonly lockMethod: string;
      readonly unlockMethod: string;
      readonly skipCertVerification: boolean;
    };

/** Configures the stack's backend; cdktf reuses it for the terraform_remote_state reads of later layers. */
export function configureLayerState(stack: TerraformStack, props: LayerStateProps): TerraformBackend {
  if (props.type === "local") return new LocalBackend(stack, { path: props.path });
  return new HttpBackend(stack, {
    address: props.address,
    lockAddress: props.lockAddress ?? props.address,
    unlockAddress: props.unlockAddress ?? props.address,
    lockMethod: props.lockMethod,
    unlockMethod: props.unlockMethod,
    skipCertVerification: props.skipCertVerification || undefined,
  });
}
