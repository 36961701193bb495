import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { App } from "cdktf";
import type { ResolvedCluster, ResolvedStateBackend } from "../config";
import { engineLiterals } from "../config/terraform-literal";
import type { LayerStateProps } from "../constructs/layer-state";
import { ALLOW_DESTROY_PERSISTENT_AUTH, CREDENTIALS_DIR, type LayerName } from "./catalog";
import { ConfigurationLayer } from "./configuration";
import { InfrastructureLayer } from "./infrastructure";
import type { LayerProps } from "./layer-stack";
import { PersistentAuthLayer } from "./persistent-auth";
import { ServicesLayer } from "./services";
import { synthesizeAtomically } from "./atomic-synth";

export interface BuildAppOptions {
  /** Folder of cluster.yaml and nodes.yaml; state/ and credentials/ live beside them. */
  readonly configDir: string;
  /** @default - cdktf's default (CDKTF_OUTDIR or cdktf.out) */
  readonly outdir?: string;
  /** Extra synth context (cdktf's); allowDestroyPersistentAuth in it is refused. @default - none */
  readonly context?: Record<string, unknown>;
  /**
   * bootstrap's confirmation of `--destroy` (ALLOW_DESTROY_ENV): lifts prevent_destroy on layer 00 when it is the
   * cluster name. @default - prevent_destroy stays
   */
  readonly allowDestroyPersistentAuth?: string;
}

/**
 * Why the synth context must be refused: it carries ALLOW_DESTROY_PERSISTENT_AUTH, from `cdktf.json` (its
 * "context", which cdktf's CLI hands to the app as CDKTF_CONTEXT_JSON) or CDKTF_CONTEXT_JSON itself. undefined
 * when it is fine.
 */
export function refusedContext(env: NodeJS.ProcessEnv, cdktfJsonPath = "cdktf.json"): string | undefined {
  const sources: [string, () => unknown][] = [
    ["CDKTF_CONTEXT_JSON", () => (env.CDKTF_CONTEXT_JSON ? JSON.parse(env.CDKTF_CONTEXT_JSON) : undefined)],
    [
      `the "context" of ${cdktfJsonPath}`,
      () => (existsSync(cdktfJsonPath) ? JSON.parse(readFileSync(cdktfJsonPath, "utf8")).context : undefined),
    ],
  ];
  for (const [where, read] of sources) {
    let context: unknown;
    try {
      context = read();
    } catch {
      continue; // cdktf reports unreadable JSON in its own words
    }
    if (context && typeof context === "object" && Object.hasOwn(context, ALLOW_DESTROY_PERSISTENT_AUTH)) {
      return `${ALLOW_DESTROY_PERSISTENT_AUTH} in ${where} is refused: only ./bootstrap.sh --destroy lifts prevent_destroy on layer 00, after you confirm it with the cluster name. Remove the key.`;
    }
  }
  return undefined;
}

/**
 * Builds every layer of the cluster into one cdktf App (not synthesized), the stacks in catalog order. This is
 * where input enters cdktf: the model and every path made from the config folder pass engineLiterals() here, and
 * the layers accept nothing that has not.
 */
export function buildApp(cluster: ResolvedCluster, options: BuildAppOptions): App {
  const app = new App({ outdir: options.outdir, context: options.context, skipValidation: false });
  if (app.node.tryGetContext(ALLOW_DESTROY_PERSISTENT_AUTH) !== undefined) {
    throw new Error(
      `buildApp: the synth context has ${ALLOW_DESTROY_PERSISTENT_AUTH}; only options.allowDestroyPersistentAuth (bootstrap's confirmation) lifts prevent_destroy`,
    );
  }
  const configDir = resolve(options.configDir);
  const stackDir = (layer: LayerName) => join(resolve(app.outdir), "stacks", layer);
  const fromStack = (layer: LayerName, target: string) => relative(stackDir(layer), join(configDir, target));
  const model = engineLiterals(cluster);
  const layer = (name: LayerName): LayerProps => ({
    cluster: model,
    state: engineLiterals(layerState(cluster.state.backend, name, fromStack(name, `state/${name}.tfstate`))),
  });

  const persistentAuth = new PersistentAuthLayer(app, "00-persistent-auth", {
    ...layer("00-persistent-auth"),
    allowDestroy: options.allowDestroyPersistentAuth === cluster.name,
  });
  const infrastructure = new InfrastructureLayer(app, "01-infrastructure", {
    ...layer("01-infrastructure"),
    persistentAuth,
    credentialsDir: engineLiterals(fromStack("01-infrastructure", CREDENTIALS_DIR)),
  });
  new ServicesLayer(app, "02-services", { ...layer("02-services"), persistentAuth, infrastructure });
  new ConfigurationLayer(app, "03-configuration", { ...layer("03-configuration"), persistentAuth, infrastructure });
  return app;
}

/**
 * Builds and synthesizes the app, without cdktf's token traces (see withoutTokenTraces), replacing the output
 * folder all at once (see synthesizeAtomically).
 */
export function synthesize(cluster: ResolvedCluster, options: BuildAppOptions): void {
  const outdir = options.outdir ?? process.env.CDKTF_OUTDIR ?? "cdktf.out";
  withoutTokenTraces(() => synthesizeAtomically(outdir, (fresh) => buildApp(cluster, { ...options, outdir: fresh })));
}

/**
 * Runs `fn` with no stack traces captured on plain objects. cdktf captures one on every token it creates, used
 * only in its messages about tokens it cannot resolve; that took about 40 % of the CPU time and 50 MB of a 500-node
 * synth. Errors keep their traces.
 */
export function withoutTokenTraces<T>(fn: () => T): T {
  const capture = Error.captureStackTrace;
  const errorsOnly: typeof capture = (target, callee) => {
    if (target instanceof Error) capture(target, callee ?? errorsOnly);
  };
  Error.captureStackTrace = errorsOnly;
  try {
    return fn();
  } finally {
    Error.captureStackTrace = capture;
  }
}

function layerState(backend: ResolvedStateBackend, layer: LayerName, localPath: string): LayerStateProps {
  const expand = (template: string) => template.replaceAll("{layer}", layer);
  switch (backend.type) {
    case "local":
      return { type: "local", path: localPath };
    case "http":
      return {
        type: "http",
        address: expand(backend.address),
        lockAddress: backend.lock_address && expand(backend.lock_address),
        unlockAddress: backend.unlock_address && expand(backend.unlock_address),
        lockMethod: backend.lock_method,
        unlockMethod: backend.unlock_method,
        skipCertVerification: backend.skip_cert_verification,
      };
    case "s3":
      return {
        type: "s3",
        bucket: backend.bucket,
        key: expand(backend.key),
        region: backend.region,
        endpoint: backend.endpoint,
        usePathStyle: backend.use_path_style,
      };
    case "pg":
      return { type: "pg", schemaName: backend.schema_name, tableName: layer };
  }
}
