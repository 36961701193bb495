package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type machineService struct {
	machine.UnimplementedMachineServiceServer

	node *node
}

func (s *machineService) meta() *common.Metadata {
	return &common.Metadata{Hostname: s.node.opts.address}
}

// ApplyConfiguration judges the configuration as the node would (see judge), refuses it with InvalidArgument
// when it fails, and otherwise stores it; a node in maintenance mode then serves its machine identity.
func (s *machineService) ApplyConfiguration(_ context.Context, in *machine.ApplyConfigurationRequest) (*machine.ApplyConfigurationResponse, error) {
	n := s.node

	provider, warnings, err := judge(in.GetData())
	if err != nil {
		logf(n, "refused a configuration: %v", err)

		return nil, status.Error(codes.InvalidArgument, err.Error())
	}

	n.mu.Lock()
	defer n.mu.Unlock()

	inMaintenance := n.provider == nil
	mode := in.GetMode()

	if inMaintenance && mode == machine.ApplyConfigurationRequest_REBOOT {
		mode = machine.ApplyConfigurationRequest_NO_REBOOT
	}

	if mode == machine.ApplyConfigurationRequest_AUTO {
		// Whether a change needs a reboot is decided by machined's runtime, which the simulator does not have:
		// every change applies without one.
		mode = machine.ApplyConfigurationRequest_NO_REBOOT
	}

	details := "Applied configuration without a reboot"
	if mode == machine.ApplyConfigurationRequest_STAGED {
		details = "Staged configuration to be applied after the next reboot"
	}

	if in.GetDryRun() {
		return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{
			Metadata: s.meta(), Mode: mode, ModeDetails: "Dry run summary:\n" + details + " (skipped in dry-run).",
		}}}, nil
	}

	if err = writeFileAtomic(n.configPath(), in.GetData()); err != nil {
		return nil, err
	}

	if inMaintenance || mode != machine.ApplyConfigurationRequest_STAGED {
		// Out of maintenance mode the node installs and comes up with its machine identity; new connections
		// get it, this one finishes on the maintenance certificate.
		n.configure(in.GetData(), provider)
	}

	logf(n, "applied a configuration (%s)", mode)

	return &machine.ApplyConfigurationResponse{Messages: []*machine.ApplyConfiguration{{
		Metadata: s.meta(), Mode: mode, Warnings: warnings, ModeDetails: details,
	}}}, nil
}

func (s *machineService) Version(context.Context, *emptypb.Empty) (*machine.VersionResponse, error) {
	n := s.node

	n.mu.Lock()
	defer n.mu.Unlock()

	version := &machine.Version{
		Metadata: s.meta(),
		Version: &machine.VersionInfo{
			Tag:       n.state.Version,
			Sha:       "talos-sim",
			GoVersion: runtime.Version(),
			Os:        "linux",
			Arch:      "amd64",
		},
		Platform: &machine.PlatformInfo{Name: "nocloud", Mode: "metal"},
	}

	if n.provider != nil {
		version.Features = &machine.FeaturesInfo{Rbac: true}
	}

	return &machine.VersionResponse{Messages: []*machine.Version{version}}, nil
}

// Kubeconfig is the admin kubeconfig Talos generates (see kubeconfig.go), as a one-file .tar.gz as Talos
// sends it.
func (s *machineService) Kubeconfig(_ *emptypb.Empty, out machine.MachineService_KubeconfigServer) error {
	n := s.node
	if !n.isController() {
		return status.Error(codes.Unimplemented, "kubeconfig is only available on control plane nodes")
	}

	n.mu.Lock()
	_, clusterConfig := v1alpha1Of(n.provider)
	n.mu.Unlock()

	kubeconfig, err := adminKubeconfig(clusterConfig)
	if err != nil {
		return err
	}

	var archive bytes.Buffer

	gz := gzip.NewWriter(&archive)
	tw := tar.NewWriter(gz)

	if err = tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: "kubeconfig", Size: int64(len(kubeconfig)), ModTime: time.Now(), Mode: 0o600,
	}); err != nil {
		return err
	}

	if _, err = tw.Write(kubeconfig); err != nil {
		return err
	}

	if err = tw.Close(); err != nil {
		return err
	}

	if err = gz.Close(); err != nil {
		return err
	}

	return out.Send(&common.Data{Metadata: s.meta(), Bytes: archive.Bytes()})
}

// Bootstrap starts etcd and the Kubernetes control plane on the first controller, once per cluster: etcd
// refuses a second bootstrap, on this controller or any other (their etcd has joined the first one). With
// recover_etcd, etcd starts on the snapshot EtcdRecover uploaded, restored into a new data folder.
func (s *machineService) Bootstrap(_ context.Context, in *machine.BootstrapRequest) (*machine.BootstrapResponse, error) {
	n := s.node
	if !n.isController() {
		return nil, status.Error(codes.Unimplemented, "bootstrap is only available on control plane nodes")
	}

	err := n.cluster.update(func(etcd *etcdState) error {
		if _, member := etcd.member(n.opts.address); member || etcd.Bootstrapped {
			etcd.join(n.opts.address)

			return status.Error(codes.AlreadyExists, "etcd data directory is not empty")
		}

		if in.GetRecoverEtcd() {
			if err := n.restoreEtcd(in.GetRecoverSkipHashCheck()); err != nil {
				return err
			}
		}

		etcd.Bootstrapped, etcd.BootstrapNode = true, n.opts.address
		etcd.join(n.opts.address)

		return nil
	})
	if err != nil {
		logf(n, "refused a bootstrap: %v", err)

		return nil, err
	}

	logf(n, "bootstrapped etcd")

	if err = n.startControlPlane(); err != nil {
		return nil, status.Errorf(codes.Internal, "starting the control plane: %v", err)
	}

	return &machine.BootstrapResponse{Messages: []*machine.Bootstrap{{Metadata: s.meta()}}}, nil
}

func (s *machineService) EtcdMemberList(context.Context, *machine.EtcdMemberListRequest) (*machine.EtcdMemberListResponse, error) {
	etcd, err := s.runningEtcd("member list")
	if err != nil {
		return nil, err
	}

	members := &machine.EtcdMembers{Metadata: s.meta()}
	for _, m := range etcd.Members {
		members.LegacyMembers = append(members.LegacyMembers, m.Hostname)
		members.Members = append(members.Members, &machine.EtcdMember{
			Id:         m.ID,
			Hostname:   m.Hostname,
			PeerUrls:   []string{fmt.Sprintf("https://%s:2380", m.Address)},
			ClientUrls: []string{fmt.Sprintf("https://%s:2379", m.Address)},
		})
	}

	return &machine.EtcdMemberListResponse{Messages: []*machine.EtcdMembers{members}}, nil
}

func (s *machineService) EtcdRemoveMemberByID(_ context.Context, in *machine.EtcdRemoveMemberByIDRequest) (*machine.EtcdRemoveMemberByIDResponse, error) {
	if _, err := s.runningEtcd("etcd remove member"); err != nil {
		return nil, err
	}

	err := s.node.cluster.update(func(etcd *etcdState) error {
		for _, m := range etcd.Members {
			if m.ID == in.GetMemberId() {
				etcd.remove(m.Address)

				return nil
			}
		}

		return status.Errorf(codes.NotFound, "etcdserver: member not found")
	})
	if err != nil {
		return nil, err
	}

	return &machine.EtcdRemoveMemberByIDResponse{Messages: []*machine.EtcdRemoveMemberByID{{Metadata: s.meta()}}}, nil
}

func (s *machineService) EtcdLeaveCluster(context.Context, *machine.EtcdLeaveClusterRequest) (*machine.EtcdLeaveClusterResponse, error) {
	if _, err := s.runningEtcd("etcd leave"); err != nil {
		return nil, err
	}

	if err := s.node.leaveEtcd(); err != nil {
		return nil, err
	}

	return &machine.EtcdLeaveClusterResponse{Messages: []*machine.EtcdLeaveCluster{{Metadata: s.meta()}}}, nil
}

// runningEtcd is the etcd cluster as this controller's etcd sees it: refused on a worker, and before this
// controller's etcd runs (not bootstrapped, or left).
func (s *machineService) runningEtcd(api string) (etcdState, error) {
	n := s.node
	if !n.isController() {
		return etcdState{}, status.Errorf(codes.Unimplemented, "%s is only available on control plane nodes", api)
	}

	n.joinEtcd()

	etcd, err := n.cluster.etcd()
	if err != nil {
		return etcd, err
	}

	if _, member := etcd.member(n.opts.address); !member {
		return etcd, status.Error(codes.Unavailable, "etcd is not running on this node (the cluster is not bootstrapped, or it left)")
	}

	return etcd, nil
}

// ServiceList is the node's services as machined reports them: etcd and trustd on controllers, etcd running
// once this controller is a member (healthy while the cluster has its data), Preparing (waiting to join or for
// a bootstrap) otherwise.
func (s *machineService) ServiceList(context.Context, *emptypb.Empty) (*machine.ServiceListResponse, error) {
	n := s.node
	controller := n.isController()

	n.joinEtcd()

	etcd, err := n.cluster.etcd()
	if err != nil {
		return nil, err
	}

	_, member := etcd.member(n.opts.address)

	names := []string{"apid", "containerd", "cri", "kubelet", "machined", "udevd"}
	if controller {
		names = append(names, "etcd", "trustd")
	}

	services := &machine.ServiceList{Metadata: s.meta()}

	for _, name := range names {
		info := &machine.ServiceInfo{
			Id:     name,
			State:  "Running",
			Events: &machine.ServiceEvents{},
			Health: &machine.ServiceHealth{Healthy: true, LastChange: timestamppb.Now()},
		}

		if name == "etcd" && !member {
			// Talos' etcd service, its data folder empty: its pre state waits to join the cluster, or for a
			// bootstrap (talosctl bootstrap, or bootstrap --recover-from).
			info.State = "Preparing"
			info.Health = &machine.ServiceHealth{Unknown: true}
			info.Events.Events = []*machine.ServiceEvent{{Msg: "Running pre state", State: "Preparing", Ts: timestamppb.Now()}}
		} else if name == "etcd" && !etcd.Bootstrapped {
			// A member whose cluster lost its data (the bootstrapped controller was wiped): no quorum.
			info.Health = &machine.ServiceHealth{Healthy: false, LastMessage: "etcd has no quorum: its cluster lost its data", LastChange: timestamppb.Now()}
		}

		services.Services = append(services.Services, info)
	}

	return &machine.ServiceListResponse{Messages: []*machine.ServiceList{services}}, nil
}

type storageService struct {
	storage.UnimplementedStorageServiceServer

	node *node
}

// Disks is the VM's one disk (the provider asks it to tell maintenance mode from a configured node).
func (s *storageService) Disks(context.Context, *emptypb.Empty) (*storage.DisksResponse, error) {
	return &storage.DisksResponse{Messages: []*storage.Disks{{
		Metadata: &common.Metadata{Hostname: s.node.opts.address},
		Disks: []*storage.Disk{{
			DeviceName: "/dev/sda", Model: "QEMU HARDDISK", Size: 32 << 30, Type: storage.Disk_HDD, BusPath: "/pci0000:00/0000:00:05.0/virtio2/host2/target2:0:0/2:0:0:0/",
		}},
	}}}, nil
}
