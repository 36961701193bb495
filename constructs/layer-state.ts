import {
  HttpBackend,
  LocalBackend,
  PgBackend,
  S3Backend,
  type PgBackendConfig,
  type S3BackendConfig,
  type TerraformBackend,
  type TerraformStack,
} from "cdktf";

/**
 * Where a layer keeps its state. Credentials are never part of it: the engine reads TF_HTTP_*, AWS_* and
 * PG_CONN_STR from the environment itself.
 */
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
    }
  | {
      readonly type: "s3";
      readonly bucket: string;
      /** This layer's object key; its lock file is the key with ".tflock" appended. */
      readonly key: string;
      readonly region: string;
      /** An S3-compatible store. @default AWS S3 */
      readonly endpoint?: string;
      readonly usePathStyle: boolean;
    }
  | {
      readonly type: "pg";
      readonly schemaName: string;
      /** This layer's table in the schema (each table holds one state, the default workspace's). */
      readonly tableName: string;
    };

/** Configures the stack's backend; cdktf reuses it for the terraform_remote_state reads of later layers. */
export function configureLayerState(stack: TerraformStack, props: LayerStateProps): TerraformBackend {
  switch (props.type) {
    case "local":
      return new LocalBackend(stack, { path: props.path });
    case "http":
      return new HttpBackend(stack, {
        address: props.address,
        lockAddress: props.lockAddress ?? props.address,
        unlockAddress: props.unlockAddress ?? props.address,
        lockMethod: props.lockMethod,
        unlockMethod: props.unlockMethod,
        skipCertVerification: props.skipCertVerification || undefined,
      });
    case "s3":
      return new S3Backend(stack, s3Config(props));
    case "pg":
      return new PgBackend(stack, pgConfig(props));
  }
}

function s3Config(props: Extract<LayerStateProps, { type: "s3" }>): S3BackendConfig {
  const compatible = props.endpoint !== undefined;
  // cdktf 0.21 knows no use_lockfile; its backends write every prop in snake case, so the key goes through as is.
  const config: S3BackendConfig & { useLockfile: boolean } = {
    bucket: props.bucket,
    key: props.key,
    region: props.region,
    useLockfile: true,
    usePathStyle: props.usePathStyle || undefined,
    endpoints: compatible ? { s3: props.endpoint } : undefined,
    // Credentials from the environment only: never the EC2 instance metadata service.
    skipMetadataApiCheck: true,
    // AWS-only calls (STS, IAM) and AWS's list of region names, which an S3-compatible store has none of.
    skipCredentialsValidation: compatible || undefined,
    skipRequestingAccountId: compatible || undefined,
    skipRegionValidation: compatible || undefined,
  };
  return config;
}

function pgConfig(props: Extract<LayerStateProps, { type: "pg" }>): PgBackendConfig {
  // conn_str is left out: the engine reads PG_CONN_STR. cdktf 0.21 knows no table_name or index_name; its
  // backends write every prop in snake case. Index names are per schema, so each layer's table gets its own.
  const config: Omit<PgBackendConfig, "connStr"> & { tableName: string; indexName: string } = {
    schemaName: props.schemaName,
    tableName: props.tableName,
    indexName: `${props.tableName}_by_name`,
  };
  return config as unknown as PgBackendConfig;
}
