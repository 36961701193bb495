import { TerraformStack } from "cdktf";
import type { Construct } from "constructs";
import type { ResolvedCluster } from "../config";
import { configureLayerState, type LayerStateProps } from "../constructs/layer-state";
import { encryptState } from "../constructs/state-encryption";
import type { LayerName } from "./catalog";

/** What every layer gets; a layer's props add the layers it reads. */
export interface LayerProps {
  readonly cluster: ResolvedCluster;
  /** Where this layer keeps its state. */
  readonly state: LayerStateProps;
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
