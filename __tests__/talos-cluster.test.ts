import { TerraformStack, Testing } from "cdktf";
import { describe, expect, it } from "vitest";
import { TalosCluster, type TalosClusterNode, type TalosClusterProps } from "../constructs/talos-cluster";

const node = (name: string, address: string, controller: boolean): TalosClusterNode => ({
  name,
  address,
  controller,
  installDisk: { path: "/dev/sda" },
  installImage: "factory.talos.dev/installer/x:v1.12.1",
  mtu: 1500,
  kernelModules: [],
});

const props: TalosClusterProps = {
  clusterName: "lab",
  contract: "v1.12",
  kubernetesVersion: "v1.35.0",
  machineSecrets: { certs: {} as never, cluster: {} as never, secrets: {} as never, trustdinfo: {} as never },
  clientConfiguration: { caCertificate: "ca", clientCertificate: "crt", clientKey: "key" },
  network: {
    nodeCidr: "10.0.0.0/24",
    nodePrefix: 24,
    gateway: "10.0.0.1",
    dnsServers: ["10.0.0.1"],
    ntpServers: ["pool.ntp.org"],
    podCidr: "10.42.0.0/16",
    serviceCidr: "10.43.0.0/16",
    apiAddress: "10.0.0.5",
    apiVip: true,
    certSans: [],
    cni: "cilium",
    schedulingOnControllers: false,
  },
  nodes: [node("w0", "10.0.0.31", false), node("cp0", "10.0.0.21", true), node("cp1", "10.0.0.22", true)],
  credentialsDir: "../../credentials",
};

function synthCluster(p: TalosClusterProps): any {
  const stack = new TerraformStack(Testing.app(), "s");
  new TalosCluster(stack, "Talos", p);
  return JSON.parse(Testing.synth(stack));
}

describe("TalosCluster", () => {
  const json = synthCluster(props);

  it("configures every node for its role against the API address", () => {
    const configs = json.data.talos_machine_configuration;
    expect(Object.keys(configs).sort()).toEqual(["cp0", "cp1", "w0"]);
    expect(configs.w0).toMatchObject({
      machine_type: "worker",
      cluster_endpoint: "https://10.0.0.5:6443",
      cluster_name: "lab",
    });
    expect(configs.cp0.machine_type).toBe("controlplane");
    expect(json.resource.talos_machine_configuration_apply.w0).toMatchObject({
      node: "10.0.0.31",
      endpoint: "10.0.0.31",
    });
  });

  it("writes one config patch per Talos document, as the Talos version expects them", () => {
    const patchesOf = (json: any) =>
      json.data.talos_machine_configuration.cp0.config_patches.map((p: string) => JSON.parse(p));
    expect(patchesOf(json).map((p: any) => p.kind ?? "v1alpha1")).toEqual(["v1alpha1", "HostnameConfig"]);
    expect(patchesOf(json)[0].machine.network.hostname).toBe("cp0");
    expect(patchesOf(json)[1]).toEqual({ apiVersion: "v1alpha1", kind: "HostnameConfig", $patch: "delete" });
    const v111 = synthCluster({ ...props, contract: "v1.11" });
    expect(patchesOf(v111)).toHaveLength(1);
    expect(patchesOf(v111)[0].machine.network.hostname).toBe("cp0");
    const v114 = synthCluster({ ...props, contract: "v1.14" });
    expect(v114.data.talos_machine_configuration.cp0.talos_version).toBe("v1.14");
    expect(patchesOf(v114).map((p: any) => p.kind ?? "v1alpha1")).toEqual([
      "v1alpha1",
      "HostnameConfig",
      "ResolverConfig",
      "UnattendedInstallConfig",
      "KubeNodeConfig",
      "KubePrismConfig",
      "KubeNetworkConfig",
      "KubeAPIServerConfig",
      "KubeFlannelCNIConfig",
      "KubeProxyConfig",
    ]);
  });

  it("bootstraps the first controller in the list once every controller has its configuration", () => {
    expect(json.resource.talos_machine_bootstrap.lab).toMatchObject({
      node: "10.0.0.21",
      depends_on: ["talos_machine_configuration_apply.cp0", "talos_machine_configuration_apply.cp1"],
    });
  });

  it("reads no node's health on a plan: it waits for the API once, when the cluster is bootstrapped", () => {
    expect(json.data.talos_cluster_health).toBeUndefined();
    expect(Object.keys(json.data).sort()).toEqual(["talos_client_configuration", "talos_machine_configuration"]);
    const wait = json.resource.terraform_data.lab_api_ready;
    expect(wait.triggers_replace).toEqual({ cluster: "${talos_machine_bootstrap.lab.id}" });
    expect(wait.provisioner[0]["local-exec"].environment).toEqual({
      KUBE_HOST: "${talos_cluster_kubeconfig.lab.kubernetes_client_configuration.host}",
      KUBE_CA: "${talos_cluster_kubeconfig.lab.kubernetes_client_configuration.ca_certificate}",
      KUBE_CERT: "${talos_cluster_kubeconfig.lab.kubernetes_client_configuration.client_certificate}",
      KUBE_KEY: "${talos_cluster_kubeconfig.lab.kubernetes_client_configuration.client_key}",
      TIMEOUT: "900",
    });
  });

  it("writes both credential files with mode 0600", () => {
    const files = json.resource.local_sensitive_file;
    expect(Object.values(files).map((f: any) => [f.filename, f.file_permission])).toEqual([
      ["${path.module}/../../credentials/kubeconfig", "0600"],
      ["${path.module}/../../credentials/talosconfig", "0600"],
    ]);
  });

  it("refuses a cluster without a controller, naming the prop", () => {
    expect(() => synthCluster({ ...props, nodes: [node("w0", "10.0.0.31", false)] })).toThrow(
      "TalosCluster lab: 'nodes' has no controller",
    );
  });
});
