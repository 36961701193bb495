import { describe, expect, it } from "vitest";
import { patchOf, patchesOf, synth, type StackJson } from "./support/synth";

const example = synth();
const { persistentAuth: l00, infrastructure: l01 } = example;

function resources(stack: StackJson, type: string): Record<string, Record<string, any>> {
  return (stack.resource?.[type] ?? {}) as Record<string, Record<string, any>>;
}

describe("layer snapshots (review aid; the assertions below carry the meaning)", () => {
  it("00-persistent-auth", () => expect(l00).toMatchSnapshot());
  it("01-infrastructure", () => expect(l01).toMatchSnapshot());
});

describe("00-persistent-auth", () => {
  it("holds the Talos secrets and the CSI token, all protected by prevent_destroy", () => {
    const protectedTypes = [
      "talos_machine_secrets",
      "proxmox_virtual_environment_role",
      "proxmox_virtual_environment_user",
      "proxmox_user_token",
      "proxmox_acl",
      "tls_private_key",
      "tls_self_signed_cert",
    ];
    // tls_private_key twice: the sealed-secrets key and Flux's deploy key, both kept whatever the switches say.
    for (const type of protectedTypes) {
      const all = Object.values(resources(l00, type));
      expect(all, type).toHaveLength(type === "tls_private_key" ? 2 : 1);
      for (const r of all) expect(r.lifecycle.prevent_destroy, type).toBe(true);
    }
    expect(Object.keys(l00.resource!).sort()).toEqual([...protectedTypes].sort());
  });

  it("never replaces the PKI on a Talos upgrade", () => {
    expect(resources(l00, "talos_machine_secrets").cluster.lifecycle.ignore_changes).toEqual(["talos_version"]);
  });

  it("gives the CSI role exactly the privileges the driver needs, on a cluster-specific user", () => {
    expect(resources(l00, "proxmox_virtual_environment_role").csi).toMatchObject({
      role_id: "homelab-csi",
      privileges: ["Datastore.Allocate", "Datastore.AllocateSpace", "VM.Audit", "VM.Config.Disk"],
    });
    expect(resources(l00, "proxmox_virtual_environment_user").csi.user_id).toBe("homelab-csi@pve");
    expect(resources(l00, "proxmox_acl").csi).toMatchObject({ path: "/", propagate: true });
  });

  it("forgets the CSI resources without destroying them when proxmox_csi_enabled is off", () => {
    const { persistentAuth } = synth({ cluster: { proxmox_csi_enabled: false } });
    expect(Object.keys(persistentAuth.resource!).sort()).toEqual([
      "talos_machine_secrets",
      "tls_private_key",
      "tls_self_signed_cert",
    ]);
    // Forgetting needs the provider configured (bpg without its endpoint fails the plan that forgets).
    expect(persistentAuth.provider.proxmox).toEqual(l00.provider.proxmox);
    expect(persistentAuth.removed).toEqual(
      ["proxmox_virtual_environment_role", "proxmox_virtual_environment_user", "proxmox_user_token", "proxmox_acl"].map(
        (type) => ({
          from: `${type}.csi`,
          lifecycle: { destroy: false },
        }),
      ),
    );
    // Every block names a resource the layer creates when the feature is on.
    for (const { from } of persistentAuth.removed!)
      expect(Object.keys(resources(l00, from.split(".")[0]))).toContain(from.split(".")[1]);
    expect(l00.removed).toBeUndefined();
  });

  it("keeps the sealed-secrets keypair, unchanged, when sealed_secrets_enabled is off", () => {
    const off = synth({ cluster: { sealed_secrets_enabled: false } });
    for (const type of ["tls_private_key", "tls_self_signed_cert"])
      expect(resources(off.persistentAuth, type)).toEqual(resources(l00, type));
    expect(off.persistentAuth.removed).toBeUndefined();
    expect(off.services.resource?.helm_release?.sealed_secrets).toBeUndefined();
    expect(example.services.resource?.helm_release).toHaveProperty("sealed_secrets");
  });

  it.each([
    ["the cluster name lifts prevent_destroy", "homelab", false],
    ["another cluster's name does not", "other", true],
  ])("bootstrap's confirmation of a destroy: %s", (_, value, preventDestroy) => {
    const { persistentAuth } = synth({ allowDestroyPersistentAuth: value });
    for (const type of Object.keys(persistentAuth.resource!)) {
      for (const resource of Object.values(resources(persistentAuth, type)))
        expect(resource.lifecycle.prevent_destroy).toBe(preventDestroy);
    }
  });

  it("exports the secrets only as sensitive outputs", () => {
    const outputs = Object.values(l00.output ?? {});
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) expect(output.sensitive).toBe(true);
  });
});

describe("01-infrastructure VMs", () => {
  const vms = resources(l01, "proxmox_virtual_environment_vm");

  it("has one VM per node, named and addressed from nodes.yaml", () => {
    expect(Object.keys(vms).sort()).toEqual(["controlplane0", "controlplane1", "controlplane2", "worker0", "worker1"]);
    expect(vms.worker1).toMatchObject({ name: "worker1", vm_id: 1032, node_name: "pve" });
    expect(vms.worker1.initialization.ip_config[0].ipv4).toEqual({
      address: "192.168.10.32/24",
      gateway: "192.168.10.1",
    });
    expect(vms.worker1.network_device[0]).toMatchObject({
      mac_address: "bc:24:11:00:10:32",
      bridge: "vmbr0",
      model: "virtio",
      queues: 4,
      mtu: 1500,
    });
  });

  it("sizes VMs from proxmox_vm_defaults unless a node overrides", () => {
    expect(vms.controlplane0.cpu).toMatchObject({ cores: 4, sockets: 1, type: "host", numa: true });
    expect(vms.controlplane0.memory).toEqual({ dedicated: 8192, floating: 0 });
    expect(vms.controlplane0.disk[0]).toMatchObject({
      size: 64,
      datastore_id: "local-lvm",
      interface: "scsi0",
      ssd: true,
      discard: "on",
    });
    expect(vms.worker0.cpu.cores).toBe(8);
    expect(vms.worker0.memory.dedicated).toBe(16384);
    expect(vms.worker0.disk[0].size).toBe(256);
  });

  it("boots UEFI without pre-enrolled keys, from the Talos ISO until Talos is on disk", () => {
    for (const vm of Object.values(vms)) {
      expect(vm).toMatchObject({
        bios: "ovmf",
        machine: "q35",
        boot_order: ["scsi0", "ide2"],
        agent: { enabled: true },
      });
      expect(vm.efi_disk.pre_enrolled_keys).toBe(false);
      expect(vm.cdrom.file_id).toBe("${proxmox_download_file.talos_a21512b3_on_pve.id}");
      expect(vm.tpm_state).toBeUndefined();
    }
  });

  it("starts controllers before workers, and honours vm_startup_order and delays", () => {
    expect(vms.controlplane0.startup).toEqual({ order: 1 });
    expect(vms.worker0.startup).toEqual({ order: 2 });
    const { infrastructure } = synth({
      nodes: (n) =>
        n.map((node, i) =>
          i === 3 ? { ...node, vm_startup_order: 9, vm_startup_delay: 30, vm_shutdown_delay: 60 } : node,
        ),
    });
    expect(resources(infrastructure, "proxmox_virtual_environment_vm").worker0.startup).toEqual({
      order: 9,
      up_delay: 30,
      down_delay: 60,
    });
  });

  it("tags the NIC with node_vlan_tag and applies proxmox_vm_advanced", () => {
    const { infrastructure } = synth({
      cluster: {
        node_vlan_tag: 20,
        proxmox_vm_advanced: { scsi_hw: "virtio-scsi-single", net_queues: 0, balloon: 2048, tags: ["k8s"] },
      },
    });
    const vm = resources(infrastructure, "proxmox_virtual_environment_vm").controlplane0;
    expect(vm.network_device[0].vlan_id).toBe(20);
    expect(vm.network_device[0].queues).toBe(0);
    expect(vm.scsi_hardware).toBe("virtio-scsi-single");
    expect(vm.disk[0].iothread).toBe(true);
    expect(vm.memory.floating).toBe(2048);
    expect(vm.tags).toEqual(["k8s"]);
  });
});

describe("01-infrastructure Talos images", () => {
  it("downloads one ISO per Proxmox host and schematic/SecureBoot combination", () => {
    const { infrastructure } = synth({
      nodes: (n) => [
        ...n,
        { name: "worker2", address: "192.168.10.33", controller: false, proxmox_node: "pve2" },
        { name: "worker3", address: "192.168.10.34", controller: false, proxmox_node: "pve2", secureboot: true },
        { name: "worker4", address: "192.168.10.35", controller: false, proxmox_node: "pve2", secureboot: true },
        { name: "gpu0", address: "192.168.10.36", controller: false, schematic_id: "ab".repeat(32) },
      ],
    });
    const isos = resources(infrastructure, "proxmox_download_file");
    expect(Object.keys(isos).sort()).toEqual([
      "talos_a21512b3_on_pve",
      "talos_a21512b3_on_pve2",
      "talos_a21512b3_secureboot_on_pve2",
      "talos_abababab_on_pve",
    ]);
    expect(isos.talos_a21512b3_secureboot_on_pve2).toMatchObject({
      node_name: "pve2",
      datastore_id: "local",
      content_type: "iso",
      url: "${data.talos_image_factory_urls.talos_a21512b3_secureboot.urls.iso_secureboot}",
      file_name: "talos-v1.12.1-a21512b3-nocloud-amd64-secureboot.iso",
    });
    expect(infrastructure.data!.talos_image_factory_urls.talos_abababab.schematic_id).toBe("ab".repeat(32));

    const vms = resources(infrastructure, "proxmox_virtual_environment_vm");
    expect(vms.worker3.tpm_state).toEqual({ datastore_id: "local-lvm", version: "v2.0" });
    expect(vms.worker3.efi_disk.pre_enrolled_keys).toBe(false);
    expect(patchOf(infrastructure, "worker3").machine.install.image).toBe(
      "${data.talos_image_factory_urls.talos_a21512b3_secureboot.urls.installer_secureboot}",
    );
    expect(patchOf(infrastructure, "gpu0").machine.install.image).toBe(
      "${data.talos_image_factory_urls.talos_abababab.urls.installer}",
    );
  });

  it("tells apart schematic ids that share their first characters", () => {
    const a = `aaaaaaaa0${"0".repeat(55)}`;
    const b = `aaaaaaaa1${"0".repeat(55)}`;
    const { infrastructure } = synth({
      nodes: (n) => [
        ...n,
        { name: "a", address: "192.168.10.40", controller: false, schematic_id: a },
        { name: "b", address: "192.168.10.41", controller: false, schematic_id: b },
      ],
    });
    const urls = infrastructure.data!.talos_image_factory_urls;
    expect(urls.talos_aaaaaaaa0.schematic_id).toBe(a);
    expect(urls.talos_aaaaaaaa1.schematic_id).toBe(b);
    expect(patchOf(infrastructure, "b").machine.install.image).toBe(
      "${data.talos_image_factory_urls.talos_aaaaaaaa1.urls.installer}",
    );
  });

  it("builds the schematic from talos_extensions, for the nocloud platform", () => {
    expect(resources(l01, "talos_image_factory_schematic").default.schematic).toBe(
      "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/iscsi-tools\n      - siderolabs/qemu-guest-agent\n",
    );
    expect(l01.data!.talos_image_factory_urls.talos_a21512b3).toMatchObject({
      platform: "nocloud",
      architecture: "amd64",
      talos_version: "v1.12.1",
    });
    expect(l01.provider.talos[0].image_factory_url).toBe("https://factory.talos.dev");
  });
});

describe("01-infrastructure day-2 lifecycle", () => {
  const vms = resources(l01, "proxmox_virtual_environment_vm");

  it("never restarts a VM by itself after an update: a pending change is rolled out node by node", () => {
    for (const vm of Object.values(vms)) expect(vm.reboot_after_update).toBe(false);
  });

  it("migrates a VM to a new host (proxmox_node, or one HA moved it to) instead of replacing it", () => {
    for (const vm of Object.values(vms)) expect(vm.migrate).toBe(true);
    const moved = synth({
      nodes: (n) => n.map((node) => (node.name === "worker1" ? { ...node, proxmox_node: "pve2" } : node)),
    });
    const worker1 = resources(moved.infrastructure, "proxmox_virtual_environment_vm").worker1;
    expect(worker1).toMatchObject({ node_name: "pve2", migrate: true, vm_id: 1032 });
    expect(worker1.cdrom.file_id).toBe("${proxmox_download_file.talos_a21512b3_on_pve2.id}");
  });

  it("keeps each CD-ROM on its ISO, and downloads a new ISO before the old one goes", () => {
    for (const vm of Object.values(vms)) {
      expect(vm.lifecycle?.ignore_changes ?? []).not.toContain("cdrom");
      expect(vm.cdrom.file_id).toBe("${proxmox_download_file.talos_a21512b3_on_pve.id}");
    }
    expect(resources(l01, "proxmox_download_file").talos_a21512b3_on_pve.lifecycle).toEqual({
      create_before_destroy: true,
    });
    const upgraded = synth({ cluster: { talos_version: "v1.12.2" } });
    const iso = resources(upgraded.infrastructure, "proxmox_download_file").talos_a21512b3_on_pve;
    expect(iso.file_name).toBe("talos-v1.12.2-a21512b3-nocloud-amd64.iso");
    expect(iso.lifecycle).toEqual({ create_before_destroy: true });
  });

  it("exports each node's address, role, installer image without tag and VM for ./bootstrap.sh upgrade and restart", () => {
    const value = (l01.output!.talos_nodes as { value: Array<Record<string, unknown>> }).value;
    expect(value.map((n) => n.name)).toEqual(["controlplane0", "controlplane1", "controlplane2", "worker0", "worker1"]);
    expect(value[3]).toEqual({
      name: "worker0",
      address: "192.168.10.31",
      controller: false,
      installer: '${replace(data.talos_image_factory_urls.talos_a21512b3.urls.installer, "/:[^:/]+$/", "")}',
      vm_id: "${proxmox_virtual_environment_vm.worker0.vm_id}",
      proxmox_node: "${proxmox_virtual_environment_vm.worker0.node_name}",
      config_contract: "v1.12",
    });
    expect(l01.output!.talos_nodes.sensitive).toBeUndefined();
  });

  it("applies a node's configuration again when its VM is replaced, not when it is only changed", () => {
    const applies = resources(l01, "talos_machine_configuration_apply");
    for (const [name, apply] of Object.entries(applies)) {
      expect(apply.lifecycle.replace_triggered_by).toEqual([`proxmox_virtual_environment_vm.${name}.id`]);
      expect(vms[name]).toBeDefined();
    }
  });
});

describe("01-infrastructure Talos configuration", () => {
  it("configures each node as its role, with a static address, and applies it after its VM exists", () => {
    const configs = l01.data!.talos_machine_configuration;
    expect(configs.controlplane0).toMatchObject({
      machine_type: "controlplane",
      cluster_endpoint: "https://192.168.10.20:6443",
      cluster_name: "homelab",
      // The version contract: talos_version's minor unless talos_config_contract pins it.
      talos_version: "v1.12",
      kubernetes_version: "v1.35.0",
    });
    expect(configs.worker0.machine_type).toBe("worker");
    const applies = resources(l01, "talos_machine_configuration_apply");
    expect(Object.keys(applies)).toHaveLength(5);
    expect(applies.worker1).toMatchObject({
      node: "192.168.10.32",
      depends_on: ["proxmox_virtual_environment_vm.worker1"],
    });

    const patch = patchOf(l01, "controlplane1");
    expect(patch.machine.network.interfaces[0]).toEqual({
      deviceSelector: { hardwareAddr: "bc:24:11:00:10:22" },
      dhcp: false,
      addresses: ["192.168.10.22/24"],
      routes: [{ network: "0.0.0.0/0", gateway: "192.168.10.1" }],
      mtu: 1500,
      vip: { ip: "192.168.10.20" },
    });
    expect(patch.machine.network.hostname).toBe("controlplane1");
    // Talos 1.12 generates a HostnameConfig document that conflicts with a static hostname: deleted.
    expect(patchesOf(l01, "controlplane1")[1]).toEqual({
      apiVersion: "v1alpha1",
      kind: "HostnameConfig",
      $patch: "delete",
    });
    expect(patch.machine.install.disk).toBe("/dev/sda");
    expect(patch.machine.features.kubePrism).toEqual({ enabled: true, port: 7445 });
    expect(patchOf(l01, "worker0").machine.network.interfaces[0].vip).toBeUndefined();
  });

  it("turns off Talos' CNI and kube-proxy for Cilium, keeps flannel when asked", () => {
    expect(patchOf(l01, "worker0").cluster.network.cni).toEqual({ name: "none" });
    expect(patchOf(l01, "worker0").cluster.proxy).toEqual({ disabled: true });
    const { infrastructure } = synth({ cluster: { cluster_cni: "flannel" } });
    expect(patchOf(infrastructure, "worker0").cluster.network.cni).toBeUndefined();
    expect(patchOf(infrastructure, "worker0").cluster.proxy).toBeUndefined();
  });

  it("schedules workloads on controllers only when there are no workers", () => {
    expect(patchOf(l01, "controlplane0").cluster.allowSchedulingOnControlPlanes).toBeUndefined();
    const { infrastructure } = synth({ nodes: (n) => n.filter((node) => node.controller) });
    expect(patchOf(infrastructure, "controlplane0").cluster.allowSchedulingOnControlPlanes).toBe(true);
  });

  it("bootstraps the first controller once every controller is configured", () => {
    expect(resources(l01, "talos_machine_bootstrap").homelab).toMatchObject({
      node: "192.168.10.21",
      depends_on: [
        "talos_machine_configuration_apply.controlplane0",
        "talos_machine_configuration_apply.controlplane1",
        "talos_machine_configuration_apply.controlplane2",
      ],
    });
    expect(resources(l01, "talos_cluster_kubeconfig").homelab.depends_on).toEqual(["talos_machine_bootstrap.homelab"]);
  });

  it("writes kubeconfig and talosconfig to the gitignored credentials/ folder beside the config, mode 0600", () => {
    const files = resources(l01, "local_sensitive_file");
    expect(files.kubeconfig).toMatchObject({
      filename: "${path.module}/../../../credentials/kubeconfig",
      file_permission: "0600",
      content: "${talos_cluster_kubeconfig.homelab.kubeconfig_raw}",
    });
    expect(files.talosconfig).toMatchObject({
      filename: "${path.module}/../../../credentials/talosconfig",
      content: "${data.talos_client_configuration.homelab.talos_config}",
    });
    expect(l01.data!.talos_client_configuration.homelab.endpoints).toEqual([
      "192.168.10.21",
      "192.168.10.22",
      "192.168.10.23",
    ]);
  });
});

describe("cross-layer references", () => {
  it("01 reads the Talos secrets from 00's state through terraform_remote_state", () => {
    const remote = l01.data!.terraform_remote_state["cross-stack-reference-input-00-persistent-auth"];
    expect(remote).toMatchObject({ backend: "local", config: { path: "../../../state/00-persistent-auth.tfstate" } });
    const fromRemote =
      /^\$\{data\.terraform_remote_state\.cross-stack-reference-input-00-persistent-auth\.outputs\.cross-stack-output-talos_machine_secrets/;
    expect(l01.data!.talos_machine_configuration.controlplane0.machine_secrets).toMatch(fromRemote);
    expect(resources(l01, "talos_machine_configuration_apply").controlplane0.client_configuration).toMatch(fromRemote);
    expect(resources(l01, "talos_machine_bootstrap").homelab.client_configuration).toMatch(fromRemote);
    const output = (l01.data!.talos_machine_configuration.controlplane0.machine_secrets as string)
      .split(".outputs.")[1]
      .replace("}", "");
    expect(l00.output![output]).toEqual({ sensitive: true, value: "${talos_machine_secrets.cluster.machine_secrets}" });
  });
});

describe("state backends", () => {
  it("keeps local state per layer outside cdktf.out, beside the config", () => {
    expect(l00.terraform.backend).toEqual({ local: { path: "../../../state/00-persistent-auth.tfstate" } });
    expect(l01.terraform.backend).toEqual({ local: { path: "../../../state/01-infrastructure.tfstate" } });
  });

  it("uses one HTTP address template per layer with locking, and no credentials", () => {
    const { persistentAuth, infrastructure, text } = synth({
      cluster: {
        state_backend: {
          type: "http",
          address: "https://tfstate.example.com/states/homelab/{layer}",
          skip_cert_verification: true,
        },
      },
    });
    expect(persistentAuth.terraform.backend.http).toEqual({
      address: "https://tfstate.example.com/states/homelab/00-persistent-auth",
      lock_address: "https://tfstate.example.com/states/homelab/00-persistent-auth",
      unlock_address: "https://tfstate.example.com/states/homelab/00-persistent-auth",
      lock_method: "LOCK",
      unlock_method: "UNLOCK",
      skip_cert_verification: true,
    });
    expect(infrastructure.terraform.backend.http.address).toBe(
      "https://tfstate.example.com/states/homelab/01-infrastructure",
    );
    const remote = infrastructure.data!.terraform_remote_state["cross-stack-reference-input-00-persistent-auth"];
    expect(remote).toMatchObject({
      backend: "http",
      config: { address: "https://tfstate.example.com/states/homelab/00-persistent-auth" },
    });
    expect(text).not.toMatch(/"(username|password)"/);
  });

  it("expands {layer} in separate lock and unlock addresses", () => {
    const { infrastructure } = synth({
      cluster: {
        state_backend: {
          type: "http",
          address: "http://s/{layer}",
          lock_address: "http://s/{layer}/lock",
          unlock_address: "http://s/{layer}/unlock",
          lock_method: "POST",
          unlock_method: "DELETE",
        },
      },
    });
    expect(infrastructure.terraform.backend.http).toMatchObject({
      lock_address: "http://s/01-infrastructure/lock",
      unlock_address: "http://s/01-infrastructure/unlock",
      lock_method: "POST",
      unlock_method: "DELETE",
    });
  });
});

describe("S3 and PostgreSQL state backends", () => {
  it("s3: one key per layer, OpenTofu's lock file, path style and the endpoint of an S3-compatible store, no credentials", () => {
    const { persistentAuth, infrastructure, text } = synth({
      cluster: {
        state_backend: {
          type: "s3",
          bucket: "tfstate",
          key: "clusters/homelab/{layer}.tfstate",
          region: "eu-west-3",
          endpoint: "https://s3.example.com:7480",
          use_path_style: true,
        },
      },
    });
    const expected = {
      bucket: "tfstate",
      key: "clusters/homelab/00-persistent-auth.tfstate",
      region: "eu-west-3",
      use_lockfile: true,
      use_path_style: true,
      endpoints: { s3: "https://s3.example.com:7480" },
      skip_metadata_api_check: true,
      skip_credentials_validation: true,
      skip_requesting_account_id: true,
      skip_region_validation: true,
    };
    expect(persistentAuth.terraform.backend).toEqual({ s3: expected });
    expect(infrastructure.terraform.backend.s3.key).toBe("clusters/homelab/01-infrastructure.tfstate");
    // Layer 01 reads 00 from the same place, without a DynamoDB table.
    const remote = infrastructure.data!.terraform_remote_state["cross-stack-reference-input-00-persistent-auth"];
    expect(remote).toMatchObject({ backend: "s3", config: expected });
    expect(text).not.toMatch(/dynamodb|access_key|secret_key|"token"/);
  });

  it("s3 on AWS: the key defaults to <cluster_name>/{layer}.tfstate and AWS's own checks stay on", () => {
    const { persistentAuth } = synth({ cluster: { state_backend: { type: "s3", bucket: "tfstate" } } });
    expect(persistentAuth.terraform.backend.s3).toEqual({
      bucket: "tfstate",
      key: "homelab/00-persistent-auth.tfstate",
      region: "us-east-1",
      use_lockfile: true,
      skip_metadata_api_check: true,
    });
  });

  it("pg: one schema per cluster (named after it by default), one table per layer, no connection string", () => {
    const { persistentAuth, infrastructure, text } = synth({ cluster: { state_backend: { type: "pg" } } });
    expect(persistentAuth.terraform.backend).toEqual({
      pg: { schema_name: "homelab", table_name: "00-persistent-auth", index_name: "00-persistent-auth_by_name" },
    });
    expect(infrastructure.terraform.backend.pg.table_name).toBe("01-infrastructure");
    const remote = infrastructure.data!.terraform_remote_state["cross-stack-reference-input-00-persistent-auth"];
    expect(remote).toMatchObject({
      backend: "pg",
      config: { schema_name: "homelab", table_name: "00-persistent-auth" },
    });
    expect(text).not.toMatch(/conn_str|postgres:\/\//);
    const named = synth({ cluster: { state_backend: { type: "pg", schema_name: "prod_state" } } });
    expect(named.persistentAuth.terraform.backend.pg.schema_name).toBe("prod_state");
  });
});

describe("state encryption", () => {
  it("is off by default", () => {
    expect((l00.terraform as any).encryption).toBeUndefined();
    // Terraform runs the stacks without encryption: no OpenTofu version is required of it.
    expect((l00.terraform as any).required_version).toBeUndefined();
    expect((l01 as any).variable).toBeUndefined();
  });

  it("encrypts state and plans of every layer and reads remote state with the same key, passphrase from a variable", () => {
    const { persistentAuth, infrastructure } = synth({ cluster: { state_encryption: true } });
    for (const stack of [persistentAuth, infrastructure] as any[]) {
      expect(stack.terraform.encryption).toEqual({
        key_provider: { pbkdf2: { state: { passphrase: "${var.state_passphrase}" } } },
        method: { aes_gcm: { state: { keys: "${key_provider.pbkdf2.state}" } } },
        state: { method: "method.aes_gcm.state", enforced: true },
        plan: { method: "method.aes_gcm.state", enforced: true },
        remote_state_data_sources: { default: { method: "method.aes_gcm.state" } },
      });
      expect(stack.terraform.required_version).toBe(">= 1.12.0");
      expect(stack.variable.state_passphrase).toMatchObject({ type: "string", sensitive: true });
      expect(stack.variable.state_passphrase.default).toBeUndefined();
    }
  });

  it("with state_encryption_migrate also reads unencrypted state and plans, not enforced, in every layer", () => {
    const { persistentAuth, infrastructure, services, configuration } = synth({
      cluster: { state_encryption: true, state_encryption_migrate: true },
    });
    const fallback = { method: "method.unencrypted.migrate" };
    for (const stack of [persistentAuth, infrastructure, services, configuration] as any[]) {
      expect(stack.terraform.encryption).toEqual({
        key_provider: { pbkdf2: { state: { passphrase: "${var.state_passphrase}" } } },
        method: { aes_gcm: { state: { keys: "${key_provider.pbkdf2.state}" } }, unencrypted: { migrate: {} } },
        state: { method: "method.aes_gcm.state", enforced: false, fallback },
        plan: { method: "method.aes_gcm.state", enforced: false, fallback },
        remote_state_data_sources: { default: { method: "method.aes_gcm.state", fallback } },
      });
    }
  });
});

describe("providers and secrets", () => {
  it("pins the providers exactly", () => {
    expect(l01.terraform.required_providers).toEqual({
      helm: { source: "helm", version: "3.1.1" },
      local: { source: "hashicorp/local", version: "2.6.1" },
      proxmox: { source: "bpg/proxmox", version: "0.112.0" },
      talos: { source: "siderolabs/talos", version: "0.12.0" },
    });
  });

  it("configures Proxmox from cluster.yaml with no credentials in the output", () => {
    expect(l01.provider.proxmox).toEqual([{ endpoint: "https://pve.home.arpa:8006/", insecure: true }]);
    expect(l00.provider.proxmox).toEqual([{ endpoint: "https://pve.home.arpa:8006/", insecure: true }]);
  });

  it("never writes credentials from the environment into the output", () => {
    const secrets = {
      PROXMOX_VE_API_TOKEN: "root@pam!ci=8c0ffee0-dead-beef-0000-5ecret000001",
      PROXMOX_VE_PASSWORD: "hunter2-5ecret",
      TF_HTTP_USERNAME: "state-user-5ecret",
      TF_HTTP_PASSWORD: "state-pass-5ecret",
    };
    const saved = { ...process.env };
    Object.assign(process.env, secrets);
    try {
      const { text } = synth({ cluster: { state_backend: { type: "http", address: "https://s/{layer}" } } });
      for (const value of Object.values(secrets)) expect(text).not.toContain(value);
      expect(text).not.toMatch(/5ecret/);
    } finally {
      process.env = saved;
    }
  });
});

describe("scaling", () => {
  it.each([1, 3, 12])("%i nodes give that many VMs, configurations and applies, and one ISO", (count) => {
    const nodes = Array.from({ length: count }, (_, i) => ({
      name: `node${i}`,
      address: `192.168.10.${100 + i}`,
      controller: i === 0,
    }));
    const { infrastructure } = synth({ nodes });
    expect(Object.keys(resources(infrastructure, "proxmox_virtual_environment_vm"))).toHaveLength(count);
    expect(Object.keys(infrastructure.data!.talos_machine_configuration)).toHaveLength(count);
    expect(Object.keys(resources(infrastructure, "talos_machine_configuration_apply"))).toHaveLength(count);
    expect(Object.keys(resources(infrastructure, "proxmox_download_file"))).toHaveLength(1);
  });
});
