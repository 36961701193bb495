import { TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import type { ResolvedCluster } from "../config";
import type { EngineLiterals } from "../config/terraform-literal";
import { configureLayerState, type LayerStateProps } from "../constructs/layer-state";
import { encryptState } from "../constructs/state-encryption";
import type { LayerName } from "./catalog";

/** What every layer gets; a layer's props add the layers it reads. Input only through the gate (buildApp). */
export interface LayerProps {
  readonly cluster: EngineLiterals<ResolvedCluster>;
  /** Where this layer keeps its state. */
  readonly state: EngineLiterals<LayerStateProps>;
}

/** One layer's stack, named after its catalog entry, with its backend and, with state_encryption, encryption. */
export abstract class LayerStack extends TerraformStack {
  constructor(scope: Construct, name: LayerName, props: LayerProps) {
    super(scope, name);
    configureLayerState(this, props.state);
    if (props.cluster.state.encrypted)
      encryptState(this, { migrateFromPlaintext: props.cluster.state.migrateFromPlaintext });
  }
}
