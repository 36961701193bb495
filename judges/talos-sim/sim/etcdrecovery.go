package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The cluster's etcd is the Kubernetes judge's, run by the bootstrapped controller (its data in
// control-plane/kubernetes/etcd of that controller's state folder): its snapshot is taken and restored with the
// judge's own etcd modules (`kube-judge etcd-snapshot`, `kube-judge etcd-restore`, etcd's Maintenance API and
// etcdutl's restore, what Talos uses).

// snapshotChunk is how much of the snapshot one message carries.
const snapshotChunk = 64 << 10

// recoverySnapshotPath is where EtcdRecover keeps the uploaded snapshot until the next bootstrap (Talos:
// /var/lib/etcd.snapshot, on EPHEMERAL).
func (n *node) recoverySnapshotPath() string { return filepath.Join(n.opts.stateDir, "etcd.snapshot") }

// etcdDataDir is etcd's data folder of this controller's control plane (what a restore creates).
func (n *node) etcdDataDir() string {
	return filepath.Join(n.opts.stateDir, "control-plane", "kubernetes", "etcd")
}

// EtcdSnapshot streams a snapshot of the cluster's etcd, as a member's local etcd serves it.
func (s *machineService) EtcdSnapshot(_ *machine.EtcdSnapshotRequest, out machine.MachineService_EtcdSnapshotServer) error {
	etcd, err := s.runningEtcd("etcd snapshot")
	if err != nil {
		return err
	}

	if etcd.Endpoint == "" || s.node.opts.kubeJudge == "" {
		return status.Error(codes.Unavailable, "etcd does not answer yet (the simulator runs etcd with the Kubernetes judge, -kube-judge, once it is up)")
	}

	ctx, cancel := context.WithCancel(out.Context())
	defer cancel()

	var stderr bytes.Buffer

	cmd := exec.CommandContext(ctx, s.node.opts.kubeJudge, "etcd-snapshot", "--endpoint", etcd.Endpoint)
	cmd.Stderr = &stderr

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}

	if err = cmd.Start(); err != nil {
		return err
	}

	size, err := sendChunks(stdout, func(b []byte) error { return out.Send(&common.Data{Bytes: b}) })
	if err != nil {
		cancel()
		_ = cmd.Wait() //nolint:errcheck

		return err
	}

	if err = cmd.Wait(); err != nil {
		return fmt.Errorf("failed reading etcd snapshot: %s", strings.TrimSpace(stderr.String()))
	}

	logf(s.node, "etcd snapshot sent (%d bytes)", size)

	return nil
}

// sendChunks sends what r gives in messages of up to snapshotChunk bytes, and returns how many bytes it sent.
func sendChunks(r io.Reader, send func([]byte) error) (int, error) {
	buf := make([]byte, snapshotChunk)
	size := 0

	for {
		k, err := r.Read(buf)
		if k > 0 {
			size += k
			if sendErr := send(append([]byte(nil), buf[:k]...)); sendErr != nil {
				return size, sendErr
			}
		}

		if errors.Is(err, io.EOF) {
			return size, nil
		}

		if err != nil {
			return size, err
		}
	}
}

// EtcdRecover stores the uploaded snapshot for the next Bootstrap with recover_etcd; a failed upload leaves
// nothing.
func (s *machineService) EtcdRecover(in machine.MachineService_EtcdRecoverServer) error {
	n := s.node
	if !n.isController() {
		return status.Error(codes.Unimplemented, "etcd recover is only available on control plane nodes")
	}

	path := n.recoverySnapshotPath()

	file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("error creating etcd recovery snapshot: %w", err)
	}

	size, err := receiveInto(file, in)
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}

	if err != nil {
		_ = os.Remove(path) //nolint:errcheck

		return err
	}

	logf(n, "etcd recovery snapshot uploaded (%d bytes)", size)

	return in.SendAndClose(&machine.EtcdRecoverResponse{Messages: []*machine.EtcdRecover{{Metadata: s.meta()}}})
}

func receiveInto(file *os.File, in machine.MachineService_EtcdRecoverServer) (int, error) {
	size := 0

	for {
		msg, err := in.Recv()
		if errors.Is(err, io.EOF) {
			return size, file.Sync()
		}

		if err != nil {
			return size, err
		}

		k, err := file.Write(msg.GetBytes())
		size += k

		if err != nil {
			return size, fmt.Errorf("error writing snapshot: %w", err)
		}
	}
}

// restoreEtcd restores the uploaded snapshot into a new etcd data folder of this controller's control plane, and
// removes the snapshot, as Talos' etcd service does when bootstrapped with recover_etcd.
func (n *node) restoreEtcd(skipHashCheck bool) error {
	if n.opts.kubeJudge == "" {
		return status.Error(codes.FailedPrecondition, "recovering etcd needs the Kubernetes judge (-kube-judge): the built-in API stand-in has no etcd")
	}

	snapshot := n.recoverySnapshotPath()
	if _, err := os.Stat(snapshot); err != nil {
		return status.Error(codes.FailedPrecondition, "error verifying snapshot: no snapshot was uploaded (EtcdRecover) before this bootstrap")
	}

	dataDir := n.etcdDataDir()
	if err := os.RemoveAll(dataDir); err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Dir(dataDir), 0o700); err != nil {
		return err
	}

	args := []string{"etcd-restore", "--snapshot", snapshot, "--data-dir", dataDir}
	if skipHashCheck {
		args = append(args, "--skip-hash-check")
	}

	output, err := exec.Command(n.opts.kubeJudge, args...).CombinedOutput()
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "error recovering from the snapshot: %s", strings.TrimSpace(string(output)))
	}

	logf(n, "etcd recovered from the snapshot: %s", strings.TrimSpace(string(output)))

	return os.Remove(snapshot)
}

// wipeEphemeral is what wiping EPHEMERAL does to a node: etcd's data, the control plane it ran and an uploaded
// recovery snapshot are gone; its configuration (STATE) stays, so a controller's etcd boots waiting to join or
// to be bootstrapped. The simulator keeps etcd's data on the bootstrapped controller alone: wiping that one
// loses the cluster's etcd, as losing quorum does (a real cluster with a quorum left keeps its data).
func (n *node) wipeEphemeral() {
	n.mu.Lock()
	plane := n.controlPlane
	n.controlPlane = nil
	n.mu.Unlock()

	// Stopped without holding mu: the node keeps answering meanwhile.
	if plane != nil {
		plane.stop()
	}

	for _, path := range []string{filepath.Join(n.opts.stateDir, "control-plane"), n.recoverySnapshotPath(), filepath.Join(n.opts.stateDir, "etcd-left")} {
		if err := os.RemoveAll(path); err != nil {
			logf(n, "wipe: %v", err)
		}
	}

	lost := false

	err := n.cluster.update(func(etcd *etcdState) error {
		etcd.remove(n.opts.address)

		if etcd.BootstrapNode == n.opts.address {
			etcd.Bootstrapped, etcd.BootstrapNode, etcd.Endpoint, lost = false, "", "", true
		}

		return nil
	})
	if err != nil {
		logf(n, "wipe: %v", err)
	}

	logf(n, "reset: EPHEMERAL wiped")

	if lost {
		logf(n, "etcd's data is gone: the cluster waits for a bootstrap")
	}
}
