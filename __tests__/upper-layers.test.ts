import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { FLUX_SYNC_OBJECTS } from "../layers/catalog";
import { patchOf, synth, type StackJson } from "./support/synth";

const example = synth();
const { infrastructure: l01, services: l02, configuration: l03 } = example;

function resources(stack: StackJson, type: string): Record<string, Record<string, any>> {
  return (stack.resource?.[type] ?? {}) as Record<string, Record<string, any>>;
}
const fromLayer = (layer: string) =>
  new RegExp(`data\\.terraform_remote_state\\.cross-stack-reference-input-${layer}\\.outputs\\.`);

describe("layer snapshots (review aid; the assertions below carry the meaning)", () => {
  it("02-services", () => expect(l02).toMatchSnapshot());
  it("03-configuration", () => expect(l03).toMatchSnapshot());
});

describe("Cilium in 01-infrastructure", () => {
  const release = resources(l01, "helm_release").cilium;

  it("is installed once the Kubernetes API answers, with Talos-appropriate values", () => {
    expect(release).toMatchObject({
      chart: "cilium",
      repository: "https://helm.cilium.io",
      version: "1.19.3",
      namespace: "kube-system",
    });
    // Once the API answers: the wait runs when the cluster is bootstrapped, and no plan reads a node's health.
    expect(release.depends_on).toEqual(["terraform_data.homelab_api_ready"]);
    expect(resources(l01, "terraform_data").homelab_api_ready.triggers_replace).toEqual({
      cluster: "${talos_machine_bootstrap.homelab.id}",
    });
    expect(l01.data!.talos_cluster_health).toBeUndefined();
    const values = parse(release.values[0]);
    expect(values).toMatchObject({
      kubeProxyReplacement: true,
      k8sServiceHost: "localhost",
      k8sServicePort: 7445,
      ipv4NativeRoutingCIDR: "10.42.0.0/16",
      cgroup: { autoMount: { enabled: false }, hostRoot: "/sys/fs/cgroup" },
      loadBalancer: { mode: "dsr" },
      l2announcements: { enabled: true },
    });
    expect(values.securityContext.capabilities.ciliumAgent).not.toContain("SYS_MODULE");
  });

  it("reaches the API with the kubeconfig of the same layer", () => {
    expect(l01.provider.helm[0].kubernetes).toEqual({
      host: "${talos_cluster_kubeconfig.homelab.kubernetes_client_configuration.host}",
      cluster_ca_certificate:
        "${base64decode(talos_cluster_kubeconfig.homelab.kubernetes_client_configuration.ca_certificate)}",
      client_certificate:
        "${base64decode(talos_cluster_kubeconfig.homelab.kubernetes_client_configuration.client_certificate)}",
      client_key: "${base64decode(talos_cluster_kubeconfig.homelab.kubernetes_client_configuration.client_key)}",
    });
  });

  it("is absent with flannel or no CNI, and announces nothing without a pool", () => {
    for (const cni of ["flannel", "none"]) {
      const { infrastructure } = synth({ cluster: { cluster_cni: cni } });
      expect(infrastructure.resource!.helm_release).toBeUndefined();
      expect(infrastructure.provider.helm).toBeUndefined();
    }
    const { infrastructure } = synth({
      cluster: { cilium_loadbalancer_pool: undefined, cilium_loadbalancer_mode: "snat" },
    });
    expect(parse(resources(infrastructure, "helm_release").cilium.values[0])).toMatchObject({
      l2announcements: { enabled: false },
      loadBalancer: { mode: "snat" },
    });
  });
});

describe("02-services", () => {
  it("reaches the cluster with layer 01's kubeconfig, read from its state", () => {
    for (const provider of [l02.provider.kubernetes[0], l02.provider.helm[0].kubernetes as Record<string, string>]) {
      for (const key of ["host", "cluster_ca_certificate", "client_certificate", "client_key"])
        expect(provider[key]).toMatch(fromLayer("01-infrastructure"));
    }
  });

  it("starts sealed-secrets with the persisted keypair from layer 00, key secret first and labelled active", () => {
    const secret = resources(l02, "kubernetes_secret_v1").sealed_secrets_key;
    expect(secret.metadata.labels).toEqual({ "sealedsecrets.bitnami.com/sealed-secrets-key": "active" });
    expect(secret.type).toBe("kubernetes.io/tls");
    expect(secret.data["tls.crt"]).toMatch(fromLayer("00-persistent-auth"));
    expect(secret.data["tls.key"]).toMatch(fromLayer("00-persistent-auth"));
    const release = resources(l02, "helm_release").sealed_secrets;
    expect(release.depends_on).toEqual(["kubernetes_secret_v1.sealed_secrets_key"]);
    expect(parse(release.values[0])).toMatchObject({
      fullnameOverride: "sealed-secrets-controller",
      keyrenewperiod: "0",
    });
  });

  it("configures the Proxmox CSI driver with layer 00's token, kept out of the values", () => {
    const release = resources(l02, "helm_release").proxmox_csi;
    expect(release.set_sensitive[0].value).toMatch(fromLayer("00-persistent-auth"));
    expect(release.set[0]).toMatchObject({ name: "config.clusters[0].token_id" });
    const values = parse(release.values[0]);
    expect(values.config.clusters).toEqual([
      { url: "https://pve.home.arpa:8006/api2/json", insecure: true, region: "pve" },
    ]);
    expect(values.storageClass[0]).toMatchObject({ name: "proxmox", storage: "local-lvm" });
    expect(JSON.stringify(values)).not.toMatch(/token/);
    expect(resources(l02, "kubernetes_namespace_v1").csi_proxmox.metadata.labels).toEqual({
      "pod-security.kubernetes.io/enforce": "privileged",
    });
    // The driver places volumes by the nodes' topology labels, set by Talos in layer 01.
    expect(patchOf(l01, "worker0").machine.nodeLabels).toEqual({
      "topology.kubernetes.io/region": "pve",
      "topology.kubernetes.io/zone": "pve",
    });
  });

  it("installs the Flux controllers", () => {
    expect(resources(l02, "helm_release").flux).toMatchObject({
      chart: "flux2",
      namespace: "flux-system",
      create_namespace: true,
      version: "2.15.0",
    });
  });

  // Layer 00 never destroys by a toggle: the sealed-secrets keypair stays, the CSI token is only forgotten.
  it.each([
    ["sealed_secrets_enabled", ["sealed_secrets"], 0],
    ["proxmox_csi_enabled", ["proxmox_csi"], 4],
    ["flux_enabled", ["flux"], 0],
  ])("%s: false removes exactly its part, in every layer", (toggle, releases, layer00Forgotten) => {
    const { persistentAuth, services, infrastructure } = synth({ cluster: { [toggle]: false } });
    const remaining = Object.keys(resources(services, "helm_release")).sort();
    expect(remaining).toEqual(["flux", "proxmox_csi", "sealed_secrets"].filter((r) => !releases.includes(r)));
    const count = (stack: typeof persistentAuth) =>
      Object.values(stack.resource!).reduce((n, byName) => n + Object.keys(byName).length, 0);
    expect(count(persistentAuth)).toBe(count(example.persistentAuth) - layer00Forgotten);
    expect(persistentAuth.removed?.length ?? 0).toBe(layer00Forgotten);
    if (toggle === "proxmox_csi_enabled") expect(patchOf(infrastructure, "worker0").machine.nodeLabels).toBeUndefined();
  });
});

describe("03-configuration", () => {
  it("announces the LoadBalancer pool on layer 2", () => {
    expect(resources(l03, "kubernetes_manifest").cilium_lb_pool.manifest).toMatchObject({
      apiVersion: "cilium.io/v2",
      kind: "CiliumLoadBalancerIPPool",
      spec: { blocks: [{ start: "192.168.10.200", stop: "192.168.10.220" }] },
    });
    expect(resources(l03, "kubernetes_manifest").cilium_l2_policy.manifest).toMatchObject({
      kind: "CiliumL2AnnouncementPolicy",
      spec: { loadBalancerIPs: true },
    });
    expect(l03.provider.kubernetes[0].host).toMatch(fromLayer("01-infrastructure"));
  });

  it("syncs the repository with Flux only when repository_name is set and Flux is on", () => {
    expect(resources(l03, "kubernetes_manifest").flux_git_repository).toBeUndefined();
    const { configuration } = synth({ cluster: { repository_name: "me/home-ops", repository_branch: "prod" } });
    const manifests = resources(configuration, "kubernetes_manifest");
    expect(manifests.flux_git_repository.manifest).toMatchObject({
      kind: "GitRepository",
      spec: { url: "https://github.com/me/home-ops.git", ref: { branch: "prod" } },
    });
    expect(manifests.flux_kustomization.manifest).toMatchObject({
      kind: "Kustomization",
      spec: { path: "./kubernetes/flux/cluster", prune: true },
    });
    expect(manifests.flux_kustomization.depends_on).toEqual(["kubernetes_manifest.flux_git_repository"]);
    const off = synth({ cluster: { repository_name: "me/home-ops", flux_enabled: false } });
    expect(resources(off.configuration, "kubernetes_manifest").flux_git_repository).toBeUndefined();
  });

  it("a public repository gets no deploy key; a private one the key layer 00 always keeps, given to Flux", () => {
    const pub = synth({ cluster: { repository_name: "me/home-ops" } });
    // Kept while public (made private again, the repository still has it), but neither printed nor given to Flux.
    expect(resources(pub.persistentAuth, "tls_private_key").flux_deploy_key).toEqual(
      resources(example.persistentAuth, "tls_private_key").flux_deploy_key,
    );
    expect(pub.persistentAuth.output?.flux_deploy_key_public).toBeUndefined();
    expect(resources(pub.configuration, "kubernetes_secret_v1")).toEqual({});

    const { persistentAuth, configuration } = synth({
      cluster: { repository_name: "me/home-ops", repository_visibility: "private", sealed_secrets_enabled: false },
    });
    expect(resources(persistentAuth, "tls_private_key").flux_deploy_key).toMatchObject({
      algorithm: "ED25519",
      lifecycle: { prevent_destroy: true },
    });
    expect(persistentAuth.provider.tls).toHaveLength(1); // needed by the key alone, without sealed-secrets
    // The public half is printed by bootstrap; the private half only crosses to layer 03 as a sensitive output.
    expect(persistentAuth.output!.flux_deploy_key_public).toEqual(
      expect.objectContaining({ value: "${tls_private_key.flux_deploy_key.public_key_openssh}" }),
    );
    expect(persistentAuth.output!.flux_deploy_key_public.sensitive).toBeUndefined();
    const privateOutputs = Object.values(persistentAuth.output!).filter(
      (o) => o.value === "${tls_private_key.flux_deploy_key.private_key_openssh}",
    );
    expect(privateOutputs.map((o) => o.sensitive)).toEqual([true]);

    const secret = resources(configuration, "kubernetes_secret_v1").flux_deploy_key;
    expect(secret.metadata).toEqual({ name: "flux-system", namespace: "flux-system" });
    expect(secret.data.identity).toMatch(fromLayer("00-persistent-auth"));
    expect(secret.data.known_hosts).toMatch(/^github\.com ssh-ed25519 /);
    const repository = resources(configuration, "kubernetes_manifest").flux_git_repository;
    expect(repository.manifest.spec).toMatchObject({
      url: "ssh://git@github.com/me/home-ops.git",
      secretRef: { name: "flux-system" },
    });
    expect(repository.depends_on).toEqual(["kubernetes_secret_v1.flux_deploy_key"]);

    const lifted = synth({
      cluster: { repository_name: "me/home-ops", repository_visibility: "private" },
      allowDestroyPersistentAuth: "homelab",
    });
    expect(resources(lifted.persistentAuth, "tls_private_key").flux_deploy_key.lifecycle).toEqual({
      prevent_destroy: false,
    });
  });

  it("holds Flux's sync at the addresses bootstrap looks for when Flux is switched off (FLUX_SYNC_OBJECTS)", () => {
    const { configuration } = synth({ cluster: { repository_name: "me/home-ops" } });
    const manifests = Object.keys(resources(configuration, "kubernetes_manifest")).map(
      (n) => `kubernetes_manifest.${n}`,
    );
    expect(manifests.filter((a) => /flux/.test(a)).sort()).toEqual([...FLUX_SYNC_OBJECTS].sort());
  });

  it("layer 00 is the same whichever switch of 02 and 03 is off: its outputs do not follow what the layers above read", () => {
    const PRIVATE = { repository_name: "me/home-ops", repository_visibility: "private" };
    const on = synth({ cluster: PRIVATE }).persistentAuth;
    expect(on.output?.flux_deploy_key_public).toBeDefined();
    for (const off of [
      { sealed_secrets_enabled: false },
      { flux_enabled: false },
      { cilium_loadbalancer_pool: undefined },
      { sealed_secrets_enabled: false, flux_enabled: false, cilium_loadbalancer_pool: undefined },
    ])
      expect(synth({ cluster: { ...PRIVATE, ...off } }).persistentAuth, JSON.stringify(off)).toEqual(on);
  });

  it("has no resource when nothing is configured for it, and keeps the Kubernetes provider that deletes what was", () => {
    const { configuration } = synth({ cluster: { cilium_loadbalancer_pool: undefined } });
    expect(configuration.resource).toBeUndefined();
    expect(Object.keys(configuration.provider).sort()).toEqual(["kubernetes", "proxmox"]);
    expect(configuration.provider.kubernetes).toEqual(l03.provider.kubernetes);
  });

  it("holds nothing of Proxmox, and forgets without destroying what it held before 01 took it over", () => {
    const { configuration } = synth({
      cluster: { proxmox_firewall_enabled: true },
      nodes: (n) => n.map((node) => ({ ...node, vm_ha: true })),
    });
    expect(Object.keys(configuration.resource ?? {}).filter((t) => t.startsWith("proxmox"))).toEqual([]);
    // Configured all the same: forgetting needs it (bpg without its endpoint fails the plan that forgets).
    expect(configuration.provider.proxmox).toEqual([{ endpoint: "https://pve.home.arpa:8006/", insecure: true }]);
    const removed = (configuration as { removed?: Array<{ from: string; lifecycle: unknown }> }).removed!;
    expect(removed.filter((r) => r.from.endsWith(".worker0"))).toEqual(
      [
        "proxmox_virtual_environment_firewall_rules.worker0",
        "proxmox_virtual_environment_firewall_options.worker0",
        "proxmox_haresource.worker0",
      ].map((from) => ({ from, lifecycle: { destroy: false } })),
    );
    expect(removed).toHaveLength(5 * 3);
  });
});

describe("Proxmox firewall and HA in 01-infrastructure", () => {
  it("puts every VM behind the Proxmox firewall when asked, controllers with the API and etcd open", () => {
    expect(resources(l01, "proxmox_virtual_environment_firewall_options")).toEqual({});
    const { infrastructure } = synth({
      cluster: { proxmox_firewall_enabled: true, proxmox_firewall_allow_from: ["10.9.0.0/16"] },
    });
    const options = resources(infrastructure, "proxmox_virtual_environment_firewall_options");
    expect(Object.keys(options).sort()).toEqual([
      "controlplane0",
      "controlplane1",
      "controlplane2",
      "worker0",
      "worker1",
    ]);
    expect(options.worker0).toMatchObject({
      enabled: true,
      input_policy: "DROP",
      output_policy: "ACCEPT",
      node_name: "pve",
      depends_on: ["proxmox_virtual_environment_firewall_rules.worker0"],
    });
    expect(options.worker0.vm_id).toBe("${proxmox_virtual_environment_vm.worker0.vm_id}");
    const rules = resources(infrastructure, "proxmox_virtual_environment_firewall_rules");
    const open = (node: string) => rules[node].rule.map((r: any) => `${r.source} ${r.proto}/${r.dport ?? "-"}`);
    expect(open("controlplane0")).toEqual(
      expect.arrayContaining([
        "192.168.10.0/24 tcp/6443",
        "192.168.10.21,192.168.10.22,192.168.10.23 tcp/2379:2380",
        "192.168.10.0/24 tcp/50000",
        "10.9.0.0/16 tcp/6443",
        "10.9.0.0/16 tcp/50000",
      ]),
    );
    expect(open("worker0")).not.toContain("192.168.10.0/24 tcp/6443");
    expect(open("worker0")).not.toContain("10.9.0.0/16 tcp/6443");
    expect(open("worker0")).toEqual(
      expect.arrayContaining(["192.168.10.0/24 tcp/10250", "192.168.10.0/24 tcp/4240", "10.9.0.0/16 tcp/50000"]),
    );
    // Cilium routes natively here: no VXLAN.
    expect(open("worker0")).not.toContain("192.168.10.0/24 udp/8472");
    expect(resources(infrastructure, "proxmox_virtual_environment_vm").worker0.network_device[0].firewall).toBe(true);
    expect(resources(l01, "proxmox_virtual_environment_vm").worker0.network_device[0].firewall).toBe(false);
  });

  it("lets through what Cilium's native routing needs: pods, traffic to pods from the nodes, NodePorts, LoadBalancer addresses", () => {
    const { infrastructure } = synth({ cluster: { proxmox_firewall_enabled: true } });
    for (const node of ["controlplane0", "worker0"]) {
      const rules = resources(infrastructure, "proxmox_virtual_environment_firewall_rules")[node].rule as Array<
        Record<string, unknown>
      >;
      const accepts = (match: Record<string, unknown>) =>
        rules.some(
          (r) => r.type === "in" && r.action === "ACCEPT" && Object.entries(match).every(([k, v]) => r[k] === v),
        );
      // Pod-to-pod across nodes keeps the pod source address, on any port and protocol.
      expect(rules).toContainEqual(expect.objectContaining({ source: "10.42.0.0/16", action: "ACCEPT" }));
      expect(rules.find((r) => r.source === "10.42.0.0/16")).not.toHaveProperty("dport");
      expect(rules.find((r) => r.source === "10.42.0.0/16")).not.toHaveProperty("proto");
      // Host-network pods (the API server calling webhooks, a node's DNS lookups) reach pods from node addresses.
      expect(accepts({ source: "192.168.10.0/24", dest: "10.42.0.0/16" })).toBe(true);
      // NodePorts and the announced LoadBalancer addresses, from anywhere.
      for (const proto of ["tcp", "udp"]) {
        const nodePort = rules.find((r) => r.dport === "30000:32767" && r.proto === proto);
        expect(nodePort).toMatchObject({ type: "in", action: "ACCEPT" });
        expect(nodePort).not.toHaveProperty("source");
      }
      const lb = rules.find((r) => r.dest === "192.168.10.200-192.168.10.220");
      expect(lb).toMatchObject({ type: "in", action: "ACCEPT" });
      expect(lb).not.toHaveProperty("source");
      expect(lb).not.toHaveProperty("dport");
    }
    const withoutPool = synth({
      cluster: {
        proxmox_firewall_enabled: true,
        cilium_loadbalancer_pool: undefined,
        cluster_pod_cidr: "10.50.0.0/16",
      },
    });
    const rules = resources(withoutPool.infrastructure, "proxmox_virtual_environment_firewall_rules").worker0
      .rule as Array<Record<string, unknown>>;
    // No LoadBalancer addresses; pods, and with DSR (the default) the clients it forwards, to the pod network only.
    expect(rules.filter((r) => r.dest !== undefined).map((r) => r.dest)).toEqual(["10.50.0.0/16", "10.50.0.0/16"]);
    expect(rules.map((r) => r.source)).toContain("10.50.0.0/16");
  });

  it("makes the VMs marked vm_ha Proxmox HA resources, by the VM's id", () => {
    const { infrastructure } = synth({
      nodes: (n) => n.map((node) => (node.controller ? { ...node, vm_ha: true } : node)),
    });
    const ha = resources(infrastructure, "proxmox_haresource");
    expect(Object.keys(ha).sort()).toEqual(["controlplane0", "controlplane1", "controlplane2"]);
    expect(ha.controlplane1.resource_id).toBe("vm:${proxmox_virtual_environment_vm.controlplane1.vm_id}");
    expect(ha.controlplane1.state).toBe("started");
  });

  it("replaces firewall and HA with their VM (destroying a VM deletes both in Proxmox), not on an in-place change", () => {
    const { infrastructure } = synth({
      cluster: { proxmox_firewall_enabled: true },
      nodes: (n) => n.map((node) => ({ ...node, vm_ha: true })),
    });
    const trigger = { replace_triggered_by: ["proxmox_virtual_environment_vm.worker1.id"] };
    expect(resources(infrastructure, "proxmox_haresource").worker1.lifecycle).toEqual(trigger);
    expect(resources(infrastructure, "proxmox_virtual_environment_firewall_rules").worker1.lifecycle).toEqual(trigger);
    expect(resources(infrastructure, "proxmox_virtual_environment_firewall_options").worker1.lifecycle).toEqual(
      trigger,
    );
  });

  // Layer 03 held them before: an applied 03 must end with neither duplicates nor deletions.
  it("adopts what Proxmox already has: an import block per address, empty unless the object exists", () => {
    const { infrastructure } = synth({
      cluster: { proxmox_firewall_enabled: true },
      nodes: (n) =>
        n.map((node) => ({ ...node, vm_ha: node.controller, vm_id: node.name === "worker1" ? undefined : node.vm_id })),
    });
    const imports = (infrastructure as { import?: Array<Record<string, string>> }).import!;
    const byTarget = Object.fromEntries(imports.map((i) => [i.to, i]));
    // worker1 has no vm_id: an import id must be known when planning, so it is not adopted.
    expect(Object.keys(byTarget).sort()).toEqual(
      [
        ...["controlplane0", "controlplane1", "controlplane2", "worker0"].flatMap((n) => [
          `proxmox_virtual_environment_firewall_options.${n}`,
          `proxmox_virtual_environment_firewall_rules.${n}`,
        ]),
        "proxmox_haresource.controlplane0",
        "proxmox_haresource.controlplane1",
        "proxmox_haresource.controlplane2",
      ].sort(),
    );
    expect(byTarget["proxmox_haresource.controlplane1"]).toEqual({
      for_each:
        '${contains(data.proxmox_haresources.existing.resource_ids, "vm:1022") ? toset(["vm:1022"]) : toset([])}',
      to: "proxmox_haresource.controlplane1",
      id: "${each.value}",
    });
    expect(byTarget["proxmox_virtual_environment_firewall_rules.worker0"].for_each).toMatch(
      /^\$\{toset\(\[for vm in data\.proxmox_virtual_environment_vms\.existing\.vms : "vm\/\$\{vm\.node_name\}\/\$\{vm\.vm_id\}" if vm\.vm_id == 1031\]\)\}$/,
    );
    // Without firewall and HA there is nothing to adopt, and nothing is read.
    expect((l01 as { import?: unknown }).import).toBeUndefined();
    expect(l01.data?.proxmox_haresources).toBeUndefined();
    expect(l01.data?.proxmox_virtual_environment_vms).toBeUndefined();
  });
});

it("no layer contains a credential from the environment", () => {
  const secrets = {
    PROXMOX_VE_API_TOKEN: "root@pam!ci=8c0ffee0-dead-beef-0000-5ecret000002",
    TF_HTTP_PASSWORD: "5ecret-http",
    TF_VAR_state_passphrase: "5ecret-passphrase-0123456789",
  };
  const saved = { ...process.env };
  Object.assign(process.env, secrets);
  try {
    const { text } = synth({
      cluster: { state_encryption: true, repository_name: "me/home-ops", proxmox_firewall_enabled: true },
    });
    expect(text).not.toMatch(/5ecret/);
  } finally {
    process.env = saved;
  }
});

describe("helm_chart_mirror", () => {
  const releases = (s: ReturnType<typeof synth>) =>
    [s.infrastructure, s.services].flatMap((stack) =>
      Object.values(resources(stack, "helm_release")).map((r) => `${r.chart} ${r.repository}`),
    );

  it("installs every chart from the mirror, none from its upstream", () => {
    const mirrored = synth({ cluster: { helm_chart_mirror: "http://charts.home.arpa:8080/" } });
    expect(releases(mirrored).sort()).toEqual(
      ["cilium", "flux2", "proxmox-csi-plugin", "sealed-secrets"].map((c) => `${c} http://charts.home.arpa:8080/`),
    );
  });

  it("unset, each chart comes from its upstream repository", () => {
    expect(releases(example).sort()).toEqual([
      "cilium https://helm.cilium.io",
      "flux2 https://fluxcd-community.github.io/helm-charts",
      "proxmox-csi-plugin oci://ghcr.io/sergelogvinov/charts",
      "sealed-secrets https://bitnami-labs.github.io/sealed-secrets",
    ]);
  });
});
