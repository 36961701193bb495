// Command proxmox-csi-judge drives the Proxmox CSI plugin's own controller service (pkg/csi of
// github.com/sergelogvinov/proxmox-csi-plugin, the code the chart's controller Deployment runs) through a volume's
// life, calling its CSI methods in the order Kubernetes' sidecars do: GetCapacity (external-provisioner with
// --enable-capacity), CreateVolume, ControllerPublishVolume (external-attacher), ControllerExpandVolume
// (external-resizer), ControllerUnpublishVolume, DeleteVolume. Its Proxmox client is the plugin's, built from
// the same cloud config file the chart renders; the one Kubernetes object the controller reads, the Node the
// volume is published to, comes from a fake clientset.
//
// Each call prints one JSON line on stdout: {"call": "<method>", "response": {...}} or, at the first failure,
// {"call": "<method>", "code": "<gRPC code>", "error": "<message>"}, and the run stops with exit status 1.
// -stop-after <method> ends the run after that call, leaving the volume as it is for a look at Proxmox.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/sergelogvinov/proxmox-cloud-controller-manager/pkg/cluster"
	plugin "github.com/sergelogvinov/proxmox-csi-plugin/pkg/csi"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type options struct {
	cloudConfig string
	node        string
	region      string
	zone        string
	parameters  map[string]string
	pvc         string
	size        int64
	expandTo    int64
	stopAfter   string
}

func main() {
	opts, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxmox-csi-judge:", err)
		os.Exit(2)
	}
	if err := run(context.Background(), opts); err != nil {
		fmt.Fprintln(os.Stderr, "proxmox-csi-judge:", err)
		os.Exit(1)
	}
}

func parseFlags() (options, error) {
	var opts options
	var parameters string
	flag.StringVar(&opts.cloudConfig, "cloud-config", "", "the controller's cloud config file (as the chart renders it)")
	flag.StringVar(&opts.node, "node", "", "the Kubernetes node (its VM's name) the volume is published to")
	flag.StringVar(&opts.region, "region", "", "the node's topology.kubernetes.io/region label")
	flag.StringVar(&opts.zone, "zone", "", "the node's topology.kubernetes.io/zone label (its Proxmox host)")
	flag.StringVar(&parameters, "parameters", "{}", "the StorageClass parameters, as a JSON object")
	flag.StringVar(&opts.pvc, "pvc", "", "the PersistentVolume's name (external-provisioner's pvc-<uid>)")
	flag.Int64Var(&opts.size, "size", 1<<30, "the claim's requested bytes")
	flag.Int64Var(&opts.expandTo, "expand-to", 2<<30, "the bytes the claim is expanded to")
	flag.StringVar(&opts.stopAfter, "stop-after", "", "the call after which the run stops (the volume left as it is)")
	flag.Parse()
	if opts.cloudConfig == "" || opts.node == "" || opts.region == "" || opts.zone == "" || opts.pvc == "" {
		return opts, fmt.Errorf("-cloud-config, -node, -region, -zone and -pvc are required")
	}
	if err := json.Unmarshal([]byte(parameters), &opts.parameters); err != nil {
		return opts, fmt.Errorf("-parameters: %v", err)
	}
	return opts, nil
}

// controller is the plugin's controller service as csi.NewControllerService makes it, with a fake clientset
// in place of the in-cluster one (NewControllerService takes the concrete clientset type).
func controller(opts options) (*plugin.ControllerService, error) {
	cfg, err := cluster.ReadCloudConfigFromFile(opts.cloudConfig)
	if err != nil {
		return nil, fmt.Errorf("failed to read config: %v", err)
	}
	cl, err := cluster.NewCluster(&cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to create proxmox cluster client: %v", err)
	}
	// A Talos node as the kubelet registers it without a cloud provider: no providerID (the plugin then finds
	// its VM by name), the topology labels layer 01 gives it.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   opts.node,
		Labels: map[string]string{corev1.LabelTopologyRegion: opts.region, corev1.LabelTopologyZone: opts.zone},
	}}
	return &plugin.ControllerService{Cluster: cl, Kclient: fake.NewSimpleClientset(node), Provider: cfg.Features.Provider}, nil
}

func run(ctx context.Context, opts options) error {
	d, err := controller(opts)
	if err != nil {
		return err
	}
	topology := &csi.Topology{Segments: map[string]string{
		corev1.LabelTopologyRegion: opts.region,
		corev1.LabelTopologyZone:   opts.zone,
	}}
	mount := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: opts.parameters["csi.storage.k8s.io/fstype"]}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}

	// external-provisioner hands CreateVolume the StorageClass parameters without its reserved
	// csi.storage.k8s.io/ keys (the fstype goes into the capability).
	driverParameters := map[string]string{}
	for k, v := range opts.parameters {
		if !strings.HasPrefix(k, "csi.storage.k8s.io/") {
			driverParameters[k] = v
		}
	}

	var volume *csi.Volume
	steps := []struct {
		call string
		do   func() (proto.Message, error)
	}{
		{"GetCapacity", func() (proto.Message, error) {
			return d.GetCapacity(ctx, &csi.GetCapacityRequest{
				VolumeCapabilities: []*csi.VolumeCapability{mount}, Parameters: opts.parameters, AccessibleTopology: topology,
			})
		}},
		{"CreateVolume", func() (proto.Message, error) {
			// WaitForFirstConsumer: the provisioner asks for the selected node's topology.
			res, err := d.CreateVolume(ctx, &csi.CreateVolumeRequest{
				Name:                      opts.pvc,
				CapacityRange:             &csi.CapacityRange{RequiredBytes: opts.size},
				VolumeCapabilities:        []*csi.VolumeCapability{mount},
				Parameters:                driverParameters,
				AccessibilityRequirements: &csi.TopologyRequirement{Requisite: []*csi.Topology{topology}, Preferred: []*csi.Topology{topology}},
			})
			volume = res.GetVolume()
			return res, err
		}},
		{"ControllerPublishVolume", func() (proto.Message, error) {
			return d.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{
				VolumeId: volume.GetVolumeId(), NodeId: opts.node, VolumeCapability: mount, VolumeContext: volume.GetVolumeContext(),
			})
		}},
		{"ControllerExpandVolume", func() (proto.Message, error) {
			return d.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{
				VolumeId: volume.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: opts.expandTo}, VolumeCapability: mount,
			})
		}},
		{"ControllerUnpublishVolume", func() (proto.Message, error) {
			return d.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: volume.GetVolumeId(), NodeId: opts.node})
		}},
		{"DeleteVolume", func() (proto.Message, error) {
			return d.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: volume.GetVolumeId()})
		}},
	}
	for _, step := range steps {
		if err := report(step.call, step.do); err != nil {
			return err
		}
		if step.call == opts.stopAfter {
			break
		}
	}
	return nil
}

// report prints the call's answer as a JSON line; a failed call's gRPC status is printed and returned.
func report(call string, do func() (proto.Message, error)) error {
	res, err := do()
	line := map[string]any{"call": call}
	if err != nil {
		st := status.Convert(err)
		line["code"] = st.Code().String()
		line["error"] = st.Message()
	} else {
		raw, merr := protojson.Marshal(res)
		if merr != nil {
			return merr
		}
		line["response"] = json.RawMessage(raw)
	}
	out, merr := json.Marshal(line)
	if merr != nil {
		return merr
	}
	fmt.Println(string(out))
	if err != nil {
		return fmt.Errorf("%s failed", call)
	}
	return nil
}
