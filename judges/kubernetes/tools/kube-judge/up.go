package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// upOptions are the flags of `kube-judge up`; see ../../README.md ("The start-up contract").
type upOptions struct {
	address       string
	port          int
	caCert, caKey string
	servingCert   string
	servingKey    string
	sans          stringList
	saKey         string
	aggCert       string
	aggKey        string
	serviceCIDR   string
	admission     string
	dataDir       string
	nodes         stringList
	kwok          string
	kwokConfig    string
	readyTimeout  time.Duration
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func parseUp(args []string) (*upOptions, error) {
	o := &upOptions{}
	f := flag.NewFlagSet("up", flag.ContinueOnError)
	f.StringVar(&o.address, "address", "", "loopback IPv4 address the API server listens on (127.0.0.0/8)")
	f.IntVar(&o.port, "port", 6443, "API server port (0: a free one)")
	f.StringVar(&o.caCert, "ca-cert", "", "cluster CA certificate (PEM): verifies client certificates")
	f.StringVar(&o.caKey, "ca-key", "", "cluster CA key (PEM): signs the serving and component certificates")
	f.StringVar(&o.servingCert, "serving-cert", "", "API server certificate (PEM); minted from the CA when empty")
	f.StringVar(&o.servingKey, "serving-key", "", "API server key (PEM), with --serving-cert")
	f.Var(&o.sans, "san", "extra subject alternative name (DNS name or IP) of a minted serving certificate; repeatable")
	f.StringVar(&o.saKey, "service-account-key", "", "service-account signing key (PEM, RSA or ECDSA)")
	f.StringVar(&o.aggCert, "aggregator-ca-cert", "", "front-proxy (aggregator) CA certificate (PEM), optional")
	f.StringVar(&o.aggKey, "aggregator-ca-key", "", "front-proxy (aggregator) CA key (PEM), with --aggregator-ca-cert")
	f.StringVar(&o.admission, "admission-control-config", "", "kube-apiserver --admission-control-config-file (an AdmissionConfiguration, e.g. Talos' PodSecurity defaults), optional")
	f.StringVar(&o.serviceCIDR, "service-cidr", "10.96.0.0/12", "service cluster IP range")
	f.StringVar(&o.dataDir, "data-dir", "", "folder for etcd's data, minted certificates, kubeconfigs and logs (kept across restarts)")
	f.Var(&o.nodes, "node", "fake node (kwok): name[=IP][,control-plane]; repeatable; none: one node named \"judge\"")
	f.StringVar(&o.kwok, "kwok", "", "kwok binary (default: kwok beside this binary; \"none\": no fake nodes)")
	f.StringVar(&o.kwokConfig, "kwok-config", "", "kwok's stages (default: kwok.yaml beside the kwok binary)")
	f.DurationVar(&o.readyTimeout, "ready-timeout", 3*time.Minute, "how long to wait for /readyz")
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	ip := net.ParseIP(o.address)
	switch {
	case ip == nil || ip.To4() == nil || !ip.IsLoopback():
		return nil, fmt.Errorf("--address %q: an IPv4 loopback address (127.0.0.0/8) is required", o.address)
	case o.caCert == "" || o.caKey == "":
		return nil, errors.New("--ca-cert and --ca-key are required")
	case (o.servingCert == "") != (o.servingKey == ""):
		return nil, errors.New("--serving-cert and --serving-key go together")
	case (o.aggCert == "") != (o.aggKey == ""):
		return nil, errors.New("--aggregator-ca-cert and --aggregator-ca-key go together")
	case o.saKey == "":
		return nil, errors.New("--service-account-key is required")
	case o.dataDir == "":
		return nil, errors.New("--data-dir is required")
	}
	if len(o.nodes) == 0 {
		o.nodes = stringList{"judge"}
	}
	return o, nil
}

// readyLine is the one line `up` prints on stdout once /readyz answers 200 and the fake nodes exist.
type readyLine struct {
	Ready      bool   `json:"ready"`
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	// Etcd is etcd's client URL (plain HTTP on the same address), for etcd-snapshot.
	Etcd string `json:"etcd"`
	PID  int    `json:"pid"`
}

func runUp(args []string) int {
	o, err := parseUp(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kube-judge up:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := up(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "kube-judge up:", err)
		return 1
	}
	return 0
}

func up(ctx context.Context, o *upOptions) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, d := range []string{"etcd", "pki", "logs"} {
		if err := os.MkdirAll(filepath.Join(o.dataDir, d), 0o700); err != nil {
			return err
		}
	}
	if o.port == 0 {
		if o.port, err = freePort(o.address); err != nil {
			return err
		}
	}
	pki, err := preparePKI(o)
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	server := "https://" + net.JoinHostPort(o.address, strconv.Itoa(o.port))
	kubeconfigs := map[string]string{}
	for _, c := range componentIdentities {
		path := filepath.Join(o.dataDir, "pki", c.name+".kubeconfig")
		if err := pki.writeKubeconfig(path, server, c.commonName, c.organization); err != nil {
			return err
		}
		kubeconfigs[c.name] = path
	}

	group := newProcessGroup(filepath.Join(o.dataDir, "logs"))
	defer group.stopAll()

	etcdClient, err := freePort(o.address)
	if err != nil {
		return err
	}
	etcdPeer, err := freePort(o.address)
	if err != nil {
		return err
	}
	etcdURL := "http://" + net.JoinHostPort(o.address, strconv.Itoa(etcdClient))
	if err := group.start("etcd", self, "etcd", "--data-dir", filepath.Join(o.dataDir, "etcd"),
		"--listen-client-url", etcdURL,
		"--listen-peer-url", "http://"+net.JoinHostPort(o.address, strconv.Itoa(etcdPeer))); err != nil {
		return err
	}

	apiArgs := []string{"apiserver",
		"--bind-address=" + o.address,
		"--advertise-address=" + o.address,
		"--secure-port=" + strconv.Itoa(o.port),
		"--etcd-servers=" + etcdURL,
		"--client-ca-file=" + o.caCert,
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--service-account-key-file=" + o.saKey,
		"--service-account-signing-key-file=" + o.saKey,
		"--service-account-issuer=" + server,
		"--service-cluster-ip-range=" + o.serviceCIDR,
		"--authorization-mode=Node,RBAC",
		// Cilium's agent and the CSI node plugin run privileged, as Talos' API server allows.
		"--allow-privileged=true",
		// The "kubernetes" Service's endpoints would be the loopback address, which Endpoints refuse.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	if o.aggCert != "" {
		apiArgs = append(apiArgs,
			"--requestheader-client-ca-file="+o.aggCert,
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-username-headers=X-Remote-User",
			"--proxy-client-cert-file="+pki.proxyClientCert,
			"--proxy-client-key-file="+pki.proxyClientKey,
		)
	}
	if o.admission != "" {
		apiArgs = append(apiArgs, "--admission-control-config-file="+o.admission)
	}
	if err := group.start("apiserver", self, apiArgs...); err != nil {
		return err
	}
	if err := waitReady(ctx, group, server, pki.caPool, o.readyTimeout); err != nil {
		return err
	}

	if err := group.start("controller-manager", self, "controller-manager",
		"--kubeconfig="+kubeconfigs["controller-manager"],
		"--authentication-kubeconfig="+kubeconfigs["controller-manager"],
		"--authorization-kubeconfig="+kubeconfigs["controller-manager"],
		"--bind-address="+o.address, "--secure-port=0",
		"--leader-elect=false",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+o.saKey,
		"--root-ca-file="+o.caCert,
		"--cluster-signing-cert-file="+o.caCert,
		"--cluster-signing-key-file="+o.caKey,
		"--service-cluster-ip-range="+o.serviceCIDR,
	); err != nil {
		return err
	}
	if err := group.start("scheduler", self, "scheduler",
		"--kubeconfig="+kubeconfigs["scheduler"],
		"--authentication-kubeconfig="+kubeconfigs["scheduler"],
		"--authorization-kubeconfig="+kubeconfigs["scheduler"],
		"--bind-address="+o.address, "--secure-port=0",
		"--leader-elect=false",
	); err != nil {
		return err
	}
	if o.kwok != "none" {
		kwok := o.kwok
		if kwok == "" {
			kwok = filepath.Join(filepath.Dir(self), "kwok")
		}
		kwokConfig := o.kwokConfig
		if kwokConfig == "" {
			kwokConfig = filepath.Join(filepath.Dir(kwok), "kwok.yaml")
		}
		kwokPort, err := freePort(o.address)
		if err != nil {
			return err
		}
		if err := group.start("kwok", kwok,
			"--config="+kwokConfig,
			"--node-lease-duration-seconds=40",
			"--kubeconfig="+kubeconfigs["kwok"],
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector="+fakeNodeAnnotation+"=fake",
			"--node-ip="+o.address,
			"--server-address="+net.JoinHostPort(o.address, strconv.Itoa(kwokPort)),
		); err != nil {
			return err
		}
		if err := createNodes(ctx, kubeconfigs["admin"], o.nodes, o.address); err != nil {
			return fmt.Errorf("fake nodes: %w", err)
		}
	}

	line, _ := json.Marshal(readyLine{Ready: true, Server: server, Kubeconfig: kubeconfigs["admin"], Etcd: etcdURL, PID: os.Getpid()})
	fmt.Println(string(line))

	select {
	case <-ctx.Done():
		return nil
	case exited := <-group.exited:
		return fmt.Errorf("%s stopped: %s", exited.name, group.tail(exited.name))
	}
}

// waitReady polls /readyz (verifying the serving certificate against the cluster CA) until it answers
// 200, a process of the group stops, or the timeout passes.
func waitReady(ctx context.Context, group *processGroup, server string, ca *x509.CertPool, timeout time.Duration) error {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}},
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case exited := <-group.exited:
			return fmt.Errorf("%s stopped before the API server was ready: %s", exited.name, group.tail(exited.name))
		case <-deadline:
			return fmt.Errorf("/readyz of %s did not answer 200 within %s: %s", server, timeout, group.tail("apiserver"))
		case <-tick.C:
		}
	}
}

// freePort asks the kernel for a free TCP port on address.
func freePort(address string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(address, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type exit struct{ name string }

// processGroup runs the components as child processes, each logging to logs/<name>.log, and stops
// them all (SIGTERM, then SIGKILL after 10s) in reverse order.
type processGroup struct {
	logs   string
	procs  []process
	exited chan exit
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func newProcessGroup(logs string) *processGroup {
	return &processGroup{logs: logs, exited: make(chan exit, 8)}
}

func (g *processGroup) start(name, binary string, args ...string) error {
	log, err := os.Create(filepath.Join(g.logs, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Children die with us even if we are killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := process{name: name, cmd: cmd, done: make(chan struct{})}
	g.procs = append(g.procs, p)
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(p.done)
		g.exited <- exit{name}
	}()
	return nil
}

func (g *processGroup) stopAll() {
	for i := len(g.procs) - 1; i >= 0; i-- {
		p := g.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// tail is the end of a component's log, for an error message.
func (g *processGroup) tail(name string) string {
	data, _ := os.ReadFile(filepath.Join(g.logs, name+".log"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return fmt.Sprintf("last lines of %s:\n%s", filepath.Join(g.logs, name+".log"), strings.Join(lines, "\n"))
}
