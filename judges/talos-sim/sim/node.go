package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

type nodeOptions struct {
	address      string
	port         int
	stateDir     string
	clusterDir   string
	talosVersion string
	kubeJudge    string
	rebootDelay  time.Duration
}

// persisted is what the node keeps across a restart of its process, beside its configuration (config.yaml):
// what a real node keeps on its disk.
type persisted struct {
	// Version is the Talos version the node runs (changed by an upgrade, after its reboot).
	Version string `json:"version"`
	// Image is the installer image of the last upgrade.
	Image string `json:"image,omitempty"`
	// BootID changes at every (simulated) boot, as /proc/sys/kernel/random/boot_id does.
	BootID string `json:"bootID"`
	// Upgrades lists every installer image an upgrade was asked for, in order.
	Upgrades []string `json:"upgrades,omitempty"`
}

type node struct {
	opts    nodeOptions
	cluster *cluster

	mu           sync.Mutex
	state        persisted
	configBytes  []byte
	provider     config.Provider
	serving      *tls.Certificate
	clientCAs    *x509.CertPool
	unavailable  time.Time // answers nothing until then (a reboot)
	maintenance  tls.Certificate
	controlPlane controlPlane
	poweredOff   bool
	events       *events
}

func newNode(opts nodeOptions) (*node, error) {
	if err := os.MkdirAll(opts.stateDir, 0o700); err != nil {
		return nil, err
	}

	n := &node{opts: opts, cluster: &cluster{dir: opts.clusterDir}, events: newEvents()}

	if err := n.cluster.init(); err != nil {
		return nil, err
	}

	self, err := issue(nil, leafSpec{commonName: "maintenance-service", ips: []net.IP{net.ParseIP(opts.address)}, server: true})
	if err != nil {
		return nil, err
	}

	if n.maintenance, err = self.tlsCertificate(); err != nil {
		return nil, err
	}

	data, err := os.ReadFile(n.statePath())

	switch {
	case err == nil:
		if err = json.Unmarshal(data, &n.state); err != nil {
			return nil, fmt.Errorf("%s: %w", n.statePath(), err)
		}
	case errors.Is(err, os.ErrNotExist):
		n.state = persisted{Version: opts.talosVersion}
	default:
		return nil, err
	}

	n.state.BootID = newID()

	if err = n.save(); err != nil {
		return nil, err
	}

	if data, err = os.ReadFile(n.configPath()); err == nil {
		provider, _, judged := judge(data)
		if judged != nil {
			return nil, fmt.Errorf("the stored configuration %s no longer loads: %w", n.configPath(), judged)
		}

		n.configure(data, provider)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	return n, nil
}

func (n *node) statePath() string  { return filepath.Join(n.opts.stateDir, "node.json") }
func (n *node) configPath() string { return filepath.Join(n.opts.stateDir, "config.yaml") }

func (n *node) save() error {
	data, err := json.MarshalIndent(n.state, "", "  ")
	if err != nil {
		return err
	}

	return writeFileAtomic(n.statePath(), data)
}

// configure makes the node serve with the identity of an accepted configuration (mu held or not yet shared).
func (n *node) configure(data []byte, provider config.Provider) {
	n.configBytes, n.provider, n.serving, n.clientCAs = data, provider, nil, nil

	machine, _ := v1alpha1Of(provider)
	if machine != nil && machine.MachineType != "worker" && machine.MachineCA != nil && len(machine.MachineCA.Key) > 0 {
		// What trustd serves the workers: a certificate of the machine CA (see cluster.publishMachineCA).
		if err := n.cluster.publishMachineCA(machine.MachineCA.Crt, machine.MachineCA.Key); err != nil {
			fmt.Fprintf(os.Stderr, "talos-sim %s: trustd: %v\n", n.opts.address, err)
		}
	}
}

func (n *node) configured() bool {
	n.mu.Lock()
	defer n.mu.Unlock()

	return n.provider != nil
}

func (n *node) isController() bool {
	n.mu.Lock()
	defer n.mu.Unlock()

	machine, _ := v1alpha1Of(n.provider)

	return machine != nil && (machine.MachineType == "controlplane" || machine.MachineType == "init")
}

// tlsConfig is what the node serves a new connection: the maintenance identity until a configuration is
// applied, then its machine identity with client certificates of the machine CA required.
func (n *node) tlsConfig(*tls.ClientHelloInfo) (*tls.Config, error) {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.provider == nil {
		return &tls.Config{
			Certificates: []tls.Certificate{n.maintenance},
			ClientAuth:   tls.NoClientCert,
			NextProtos:   []string{"h2"},
			MinVersion:   tls.VersionTLS12,
		}, nil
	}

	if n.serving == nil {
		if err := n.issueServing(); err != nil {
			fmt.Fprintf(os.Stderr, "talos-sim %s: %v\n", n.opts.address, err)

			return nil, err
		}
	}

	return &tls.Config{
		Certificates: []tls.Certificate{*n.serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    n.clientCAs,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// issueServing makes the node's apid certificate: signed by the machine CA (a worker's CA key comes from
// trustd, here the cluster folder), for the node's address and the configuration's certSANs (mu held).
func (n *node) issueServing() error {
	machine, _ := v1alpha1Of(n.provider)
	if machine == nil || machine.MachineCA == nil {
		return errors.New("the configuration has no machine.ca")
	}

	keyPEM := machine.MachineCA.Key
	if len(keyPEM) == 0 {
		var err error
		if keyPEM, err = n.cluster.machineCAKey(machine.MachineCA.Crt); err != nil {
			return fmt.Errorf("no certificate from trustd yet (no controller of this machine CA is configured): %w", err)
		}
	}

	ca, err := parseAuthority(machine.MachineCA.Crt, keyPEM)
	if err != nil {
		return fmt.Errorf("machine.ca: %w", err)
	}

	spec := leafSpec{commonName: n.opts.address, ips: []net.IP{net.ParseIP(n.opts.address)}, server: true}

	for _, san := range machine.MachineCertSANs {
		if ip := net.ParseIP(san); ip != nil {
			spec.ips = append(spec.ips, ip)
		} else {
			spec.dnsNames = append(spec.dnsNames, san)
		}
	}

	issued, err := issue(ca, spec)
	if err != nil {
		return err
	}

	cert, err := issued.tlsCertificate()
	if err != nil {
		return err
	}

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)

	for _, accepted := range machine.MachineAcceptedCAs {
		pool.AppendCertsFromPEM(accepted.Crt)
	}

	n.serving, n.clientCAs = &cert, pool

	return nil
}

// reboot makes the node answer nothing for the reboot delay, then come back with a new boot id.
func (n *node) reboot() {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.unavailable = time.Now().Add(n.opts.rebootDelay)
	n.state.BootID = newID()
	_ = n.save() //nolint:errcheck
}

func (n *node) rebooting() bool {
	n.mu.Lock()
	defer n.mu.Unlock()

	return n.poweredOff || time.Now().Before(n.unavailable)
}

// wipeState is wiping STATE: the configuration is gone, the next boot is in maintenance mode.
func (n *node) wipeState() {
	n.mu.Lock()
	defer n.mu.Unlock()

	for _, file := range []string{n.configPath(), filepath.Join(n.opts.stateDir, "etcd-left")} {
		if err := os.Remove(file); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "talos-sim %s: wipe: %v\n", n.opts.address, err)
		}
	}

	if n.controlPlane != nil {
		n.controlPlane.stop()
		n.controlPlane = nil
	}

	n.configBytes, n.provider, n.serving, n.clientCAs = nil, nil, nil, nil
	fmt.Fprintf(os.Stderr, "talos-sim %s: reset: configuration wiped\n", n.opts.address)
}

// powerOff: the node answers nothing until its process starts again (the VM is started).
func (n *node) powerOff() {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.poweredOff = true
	fmt.Fprintf(os.Stderr, "talos-sim %s: powered off\n", n.opts.address)
}

func (n *node) shutdown() {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.controlPlane != nil {
		n.controlPlane.stop()
		n.controlPlane = nil
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) //nolint:errcheck

	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func fingerprint(data []byte) string {
	sum := sha256.Sum256(data)

	return hex.EncodeToString(sum[:8])
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}

	return os.Rename(tmp, path)
}
