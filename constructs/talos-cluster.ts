import * as sensitiveFile from "@cdktf/provider-local/lib/sensitive-file";
import { Fn, type TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { ClusterKubeconfig } from "../.gen/providers/talos/cluster-kubeconfig";
import { DataTalosClientConfiguration } from "../.gen/providers/talos/data-talos-client-configuration";
import {
  DataTalosMachineConfiguration,
  type DataTalosMachineConfigurationMachineSecrets,
} from "../.gen/providers/talos/data-talos-machine-configuration";
import { MachineBootstrap } from "../.gen/providers/talos/machine-bootstrap";
import {
  MachineConfigurationApply,
  type MachineConfigurationApplyClientConfiguration,
} from "../.gen/providers/talos/machine-configuration-apply";
import { KubernetesApiWait } from "./kubernetes-api-wait";
import { tfName } from "./names";
import {
  machineConfigPatches,
  type ApiServerOidc,
  type TalosClusterNetwork,
  type TalosNodeSpec,
} from "./talos-machine-config";

export interface TalosClusterNode extends TalosNodeSpec {
  /**
   * The node's machine (its VM): the configuration is applied once it exists, and applied again whenever it
   * is replaced (a new VM boots into maintenance mode and knows nothing of its old configuration).
   * @default - a machine outside this stack: applied as soon as the node answers
   */
  readonly machine?: TerraformResource;
}

export interface TalosClusterProps {
  readonly clusterName: string;
  /** Talos version contract of the generated configuration (its patches take that minor's form), e.g. "v1.13". */
  readonly contract: string;
  /** The Talos the nodes run, e.g. "v1.14.1". @default - the contract's minor */
  readonly talosVersion?: string;
  readonly kubernetesVersion: string;
  /** The secrets bundle from `talos_machine_secrets` (in layer 00, so a cross-stack reference). */
  readonly machineSecrets: DataTalosMachineConfigurationMachineSecrets;
  /** The admin client certificate from `talos_machine_secrets`. */
  readonly clientConfiguration: MachineConfigurationApplyClientConfiguration;
  readonly network: TalosClusterNetwork;
  readonly nodes: readonly TalosClusterNode[];
  /** Folder (relative to the stack directory) the kubeconfig and talosconfig are written to. */
  readonly credentialsDir: string;
}

/**
 * A Talos cluster on existing machines: each node's configuration generated and applied, etcd bootstrapped
 * on the first controller, kubeconfig and talosconfig written to local files (mode 0600), and with OIDC login
 * a kubeconfig for `kubectl oidc-login` users beside them.
 */
export class TalosCluster extends Construct {
  readonly applies: ReadonlyMap<string, MachineConfigurationApply>;
  readonly bootstrap: MachineBootstrap;
  readonly kubeconfig: ClusterKubeconfig;
  readonly clientConfig: DataTalosClientConfiguration;
  /**
   * Waits, when the cluster is bootstrapped, until the Kubernetes API answers /readyz (its nodes need a CNI to
   * be Ready, the API does not): what needs the API in this layer depends on it. Never read on a plan.
   */
  readonly apiReady: KubernetesApiWait;

  constructor(scope: Construct, id: string, props: TalosClusterProps) {
    super(scope, id);
    const controllers = props.nodes.filter((n) => n.controller);
    if (controllers.length === 0) throw new Error(`TalosCluster ${props.clusterName}: 'nodes' has no controller`);
    const bootstrapNode = controllers[0];
    const endpoint = apiEndpoint(props.network);

    const applies = new Map<string, MachineConfigurationApply>();
    for (const node of props.nodes) {
      const name = tfName(node.name);
      const config = machineConfiguration(this, node, props);

      const apply = new MachineConfigurationApply(this, `${node.name}-Apply`, {
        nodeAttribute: node.address,
        endpoint: node.address,
        clientConfiguration: props.clientConfiguration,
        machineConfigurationInput: config.machineConfiguration,
        dependsOn: node.machine && [node.machine],
        // The id, not the whole resource: an in-place change of the VM (memory, cores) needs no new apply.
        lifecycle: node.machine && {
          replaceTriggeredBy: [`${node.machine.terraformResourceType}.${node.machine.friendlyUniqueId}.id`],
        },
      });
      apply.overrideLogicalId(name);
      applies.set(node.name, apply);
    }
    this.applies = applies;

    this.bootstrap = new MachineBootstrap(this, "Bootstrap", {
      nodeAttribute: bootstrapNode.address,
      endpoint: bootstrapNode.address,
      clientConfiguration: props.clientConfiguration,
      dependsOn: controllers.map((c) => applies.get(c.name)!),
    });
    this.bootstrap.overrideLogicalId(tfName(props.clusterName));

    this.kubeconfig = new ClusterKubeconfig(this, "Kubeconfig", {
      nodeAttribute: bootstrapNode.address,
      endpoint: bootstrapNode.address,
      clientConfiguration: props.clientConfiguration,
      dependsOn: [this.bootstrap],
    });
    this.kubeconfig.overrideLogicalId(tfName(props.clusterName));

    const api = this.kubeconfig.kubernetesClientConfiguration;
    this.apiReady = new KubernetesApiWait(this, "ApiReady", {
      api: {
        host: api.host,
        caCertificate: api.caCertificate,
        clientCertificate: api.clientCertificate,
        clientKey: api.clientKey,
      },
      replaceWhen: this.bootstrap.id,
    });
    this.apiReady.resource.overrideLogicalId(`${tfName(props.clusterName)}_api_ready`);

    this.clientConfig = new DataTalosClientConfiguration(this, "ClientConfig", {
      clusterName: props.clusterName,
      clientConfiguration: props.clientConfiguration,
      endpoints: controllers.map((c) => c.address),
      nodes: props.nodes.map((n) => n.address),
    });
    this.clientConfig.overrideLogicalId(tfName(props.clusterName));

    const oidc = props.network.oidc;
    const files = [
      ["kubeconfig", this.kubeconfig.kubeconfigRaw],
      ["talosconfig", this.clientConfig.talosConfig],
      ...(oidc
        ? [["kubeconfig-oidc", oidcKubeconfig(props.clusterName, endpoint, api.caCertificate, oidc)] as const]
        : []),
    ] as const;
    for (const [file, content] of files) {
      new sensitiveFile.SensitiveFile(this, `${file}-File`, {
        filename: `\${path.module}/${props.credentialsDir}/${file}`,
        content,
        filePermission: "0600",
        directoryPermission: "0700",
      }).overrideLogicalId(file);
    }
  }
}

/** What a node's machine configuration is generated from, besides the node itself. */
export interface MachineConfigurationProps {
  readonly clusterName: string;
  readonly contract: string;
  readonly talosVersion?: string;
  readonly kubernetesVersion: string;
  readonly machineSecrets: DataTalosMachineConfigurationMachineSecrets;
  readonly network: TalosClusterNetwork;
}

/**
 * The node's machine configuration as the talos provider generates it (`talos_machine_configuration`) with our
 * patches: what layer 01 applies, and what `npm run machine-config` renders.
 */
export function machineConfiguration(
  scope: Construct,
  node: TalosNodeSpec,
  props: MachineConfigurationProps,
): DataTalosMachineConfiguration {
  const config = new DataTalosMachineConfiguration(scope, `${node.name}-Config`, {
    clusterName: props.clusterName,
    clusterEndpoint: apiEndpoint(props.network),
    machineType: node.controller ? "controlplane" : "worker",
    machineSecrets: props.machineSecrets,
    talosVersion: props.contract,
    kubernetesVersion: props.kubernetesVersion,
    docs: false,
    examples: false,
    configPatches: machineConfigPatches(node, props.network, props.contract, props.talosVersion).map((patch) =>
      JSON.stringify(patch),
    ),
  });
  config.overrideLogicalId(tfName(node.name));
  return config;
}

function apiEndpoint(network: TalosClusterNetwork): string {
  return `https://${network.apiAddress}:6443`;
}

/**
 * A kubeconfig whose user logs in through the OIDC provider with kubectl's oidc-login plugin (int128/kubelogin):
 * the API's address and CA, the issuer and the client id, no credential of any kind.
 */
function oidcKubeconfig(clusterName: string, server: string, caCertificate: string, oidc: ApiServerOidc): string {
  const user = `oidc@${clusterName}`;
  return Fn.yamlencode({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: clusterName, cluster: { server, "certificate-authority-data": caCertificate } }],
    users: [
      {
        name: user,
        user: {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: "kubectl",
            args: [
              "oidc-login",
              "get-token",
              `--oidc-issuer-url=${oidc.issuerUrl}`,
              `--oidc-client-id=${oidc.clientId}`,
            ],
            interactiveMode: "IfAvailable",
          },
        },
      },
    ],
    contexts: [{ name: user, context: { cluster: clusterName, user } }],
    "current-context": user,
  });
}
