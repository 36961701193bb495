// Package start starts the Kubernetes judge (`kube-judge up`, built by judges/kubernetes/build.sh) as a
// child process and returns once its API server's /readyz answers. It has no dependencies, so another
// judge's module can require it with a replace directive:
//
//	require talos-proxmox-cdktf/judges/kubernetes/start v0.0.0
//	replace talos-proxmox-cdktf/judges/kubernetes/start => ../kubernetes/start
//
// The contract is in judges/kubernetes/README.md ("Starting it").
package start

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options are the cluster's own PKI (PEM, as in the machine configuration once base64-decoded) and
// where the judge listens and keeps its state.
type Options struct {
	// Binary is kube-judge; default: $KUBE_JUDGE (printed by judges/kubernetes/build.sh).
	Binary string
	// Address is the loopback IPv4 address (127.0.0.0/8) the API server listens on; Port its port
	// (0: a free one).
	Address string
	Port    int
	// CACert and CAKey: the cluster CA (cluster.ca). Client certificates are verified against it, and
	// it signs the serving certificate (unless ServingCert is given) and the components' own.
	CACert, CAKey []byte
	// ServingCert and ServingKey: the API server's certificate; minted from the CA for Address, 127.0.0.1,
	// localhost, the kubernetes.default names and SANs when empty.
	ServingCert, ServingKey []byte
	SANs                    []string
	// ServiceAccountKey signs and verifies service-account tokens (cluster.serviceAccount.key).
	ServiceAccountKey []byte
	// AggregatorCACert and AggregatorCAKey: the front-proxy CA (cluster.aggregatorCA); optional.
	AggregatorCACert, AggregatorCAKey []byte
	// ServiceCIDR: the service cluster IP range; default 10.96.0.0/12.
	ServiceCIDR string
	// DataDir keeps etcd's data, the minted certificates, kubeconfigs and each component's log
	// (logs/<component>.log); reuse it to restart with the same state.
	DataDir string
	// Nodes are the fake nodes kwok keeps Ready, "name" or "name=IP"; default one node named "judge".
	// NoNodes starts no kwok at all (pods then never run: helm's wait cannot be met).
	Nodes   []string
	NoNodes bool
	// ReadyTimeout bounds the wait for /readyz; default 3 minutes.
	ReadyTimeout time.Duration
}

// Server is a running judge.
type Server struct {
	// URL is https://<Address>:<Port>.
	URL string
	// Kubeconfig is an admin kubeconfig (system:masters) the judge minted from the CA.
	Kubeconfig string
	// EtcdURL is etcd's client URL (plain HTTP on Address), what `kube-judge etcd-snapshot` reads.
	EtcdURL string
	cmd     *exec.Cmd
	done    chan struct{}
}

type readyLine struct {
	Ready      bool   `json:"ready"`
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	Etcd       string `json:"etcd"`
}

// Start runs `kube-judge up` and returns when it reports ready, or its error (with the failing
// component's log tail) if it stops first. Cancelling ctx before then stops it.
func Start(ctx context.Context, o Options) (*Server, error) {
	binary := o.Binary
	if binary == "" {
		binary = os.Getenv("KUBE_JUDGE")
	}
	if binary == "" {
		return nil, errors.New("no kube-judge binary: set Options.Binary or KUBE_JUDGE (judges/kubernetes/build.sh prints it)")
	}
	if o.DataDir == "" {
		return nil, errors.New("Options.DataDir is required")
	}
	in := filepath.Join(o.DataDir, "input")
	if err := os.MkdirAll(in, 0o700); err != nil {
		return nil, err
	}
	args := []string{"up", "--address=" + o.Address, "--port=" + strconv.Itoa(o.Port), "--data-dir=" + o.DataDir}
	files := []struct {
		flag string
		pem  []byte
	}{
		{"ca-cert", o.CACert}, {"ca-key", o.CAKey},
		{"serving-cert", o.ServingCert}, {"serving-key", o.ServingKey},
		{"service-account-key", o.ServiceAccountKey},
		{"aggregator-ca-cert", o.AggregatorCACert}, {"aggregator-ca-key", o.AggregatorCAKey},
	}
	for _, f := range files {
		if len(f.pem) == 0 {
			continue
		}
		path := filepath.Join(in, f.flag+".pem")
		if err := os.WriteFile(path, f.pem, 0o600); err != nil {
			return nil, err
		}
		args = append(args, "--"+f.flag+"="+path)
	}
	for _, san := range o.SANs {
		args = append(args, "--san="+san)
	}
	for _, node := range o.Nodes {
		args = append(args, "--node="+node)
	}
	if o.NoNodes {
		args = append(args, "--kwok=none")
	}
	if o.ServiceCIDR != "" {
		args = append(args, "--service-cidr="+o.ServiceCIDR)
	}
	if o.ReadyTimeout > 0 {
		args = append(args, "--ready-timeout="+o.ReadyTimeout.String())
	}

	cmd := exec.Command(binary, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{cmd: cmd, done: make(chan struct{})}
	lines := make(chan readyLine, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			var line readyLine
			if json.Unmarshal(scanner.Bytes(), &line) == nil && line.Ready {
				lines <- line
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(s.done) }()
	select {
	case line := <-lines:
		s.URL, s.Kubeconfig, s.EtcdURL = line.Server, line.Kubeconfig, line.Etcd
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("kube-judge up stopped before ready: %s", strings.TrimSpace(stderr.String()))
	case <-ctx.Done():
		_ = s.Stop()
		return nil, ctx.Err()
	}
}

// Stop stops the judge and every component it started, and waits for them (etcd's data stays in
// DataDir).
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

// Done is closed when the judge has stopped (by Stop, or on its own when a component failed).
func (s *Server) Done() <-chan struct{} { return s.done }

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.n -= len(q)
		_, _ = l.w.Write(q)
	}
	return len(p), nil
}
