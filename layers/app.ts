import { join, relative, resolve } from "node:path";
import { App } from "cdktf";
import type { ClusterDefinition, StateBackendConfig } from "../config";
import type { LayerStateProps } from "../constructs/layer-state";
import { ConfigurationLayer } from "./configuration";
import { InfrastructureLayer } from "./infrastructure";
import { PersistentAuthLayer } from "./persistent-auth";
import { ServicesLayer } from "./services";

/** The layers, in apply order. */
export const LAYERS = [PersistentAuthLayer.NAME, InfrastructureLayer.NAME, ServicesLayer.NAME, ConfigurationLayer.NAME] as const;
export type LayerName = (typeof LAYERS)[number];

/**
 * Synth context key that lifts prevent_destroy on layer 00. Its value must be the cluster name, a second key
 * so that a stray flag meant for another cluster does nothing.
 */
export const ALLOW_DESTROY_PERSISTENT_AUTH = "allowDestroyPersistentAuth";

export interface BuildAppOptions {
  /** Folder of cluster.yaml and nodes.yaml; state/ and credentials/ live beside them. */
  readonly configDir: string;
  /** @default - cdktf's default (CDKTF_OUTDIR or cdktf.out) */
  readonly outdir?: string;
  /** Extra synth context, e.g. { allowDestroyPersistentAuth: "<cluster name>" }. */
  readonly context?: Record<string, unknown>;
}

/** Builds every layer of the cluster into one cdktf App (not synthesized). */
export function buildApp(definition: ClusterDefinition, options: BuildAppOptions): App {
  const app = new App({ outdir: options.outdir, context: options.context, skipValidation: false });
  const configDir = resolve(options.configDir);
  const stackDir = (layer: LayerName) => join(resolve(app.outdir), "stacks", layer);
  const fromStack = (layer: LayerName, target: string) => relative(stackDir(layer), join(configDir, target));
  const state = (layer: LayerName) => layerState(definition.cluster.state_backend, layer, fromStack(layer, `state/${layer}.tfstate`));

  const persistentAuth = new PersistentAuthLayer(app, {
    cluster: definition.cluster,
    state: state(PersistentAuthLayer.NAME),
    encryptState: definition.cluster.state_encryption,
    allowDestroy: app.node.tryGetContext(ALLOW_DESTROY_PERSISTENT_AUTH) === definition.cluster.cluster_name,
  });
  const encrypt = definition.cluster.state_encryption;
  const infrastructure = new InfrastructureLayer(app, {
    definition,
    state: state(InfrastructureLayer.NAME),
    encryptState: encrypt,
    persistentAuth,
    credentialsDir: fromStack(InfrastructureLayer.NAME, "credentials"),
  });
  new ServicesLayer(app, { cluster: definition.cluster, state: state(ServicesLayer.NAME), encryptState: encrypt, persistentAuth, infrastructure });
  new ConfigurationLayer(app, { definition, state: state(ConfigurationLayer.NAME), encryptState: encrypt, infrastructure });
  return app;
}

function layerState(backend: StateBackendConfig, layer: LayerName, localPath: string): LayerStateProps {
  if (backend.type === "local") return { type: "local", path: localPath };
  const expand = (template: string) => template.replaceAll("{layer}", layer);
  return {
    type: "http",
    address: expand(backend.address),
    lockAddress: backend.lock_address && expand(backend.lock_address),
    unlockAddress: backend.unlock_address && expand(backend.unlock_address),
    lockMethod: backend.lock_method,
    unlockMethod: backend.unlock_method,
    skipCertVerification: backend.skip_cert_verification,
  };
}
