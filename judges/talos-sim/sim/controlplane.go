package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"talos-proxmox-cdktf/judges/kubernetes/start"
)

// controlPlane is etcd and the Kubernetes API server a bootstrapped controller runs, started by Bootstrap (and
// again when the bootstrapped controller's process starts with its state).
type controlPlane interface {
	stop()
}

// controlPlaneSpec is where the control plane keeps its files (the cluster's own certificates from the
// machine configuration in pki/, see writePKI; the Kubernetes judge's data in kubernetes/) and where the API
// answers.
type controlPlaneSpec struct {
	dir         string // the control plane's folder
	apiHost     string // the host of cluster.controlPlane.endpoint (the API address, on loopback)
	apiPort     string
	nodeAddress string
	clusterName string
	serviceCIDR string
	kubernetes  string // the version of cluster.apiServer.image, e.g. v1.35.4
}

// startControlPlane starts the control plane of this (bootstrapped) controller, in the background as
// Talos does: Bootstrap returns once etcd is bootstrapped, the API comes up after.
func (n *node) startControlPlane() error {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.controlPlane != nil {
		return nil
	}

	_, clusterConfig := v1alpha1Of(n.provider)

	spec, err := n.writePKI(clusterConfig)
	if err != nil {
		return err
	}

	if n.opts.kubeJudge != "" {
		n.controlPlane, err = startKubeJudge(n.opts.kubeJudge, spec, clusterConfig, func(format string, args ...any) { logf(n, format, args...) }, n.recordEtcdEndpoint)
	} else {
		n.controlPlane, err = startReadyz(spec, clusterConfig)
	}

	return err
}

// resume restarts the control plane when this process starts as the cluster's bootstrapped controller.
func (n *node) resume() error {
	if !n.isController() {
		return nil
	}

	etcd, err := n.cluster.etcd()
	if err != nil || etcd.BootstrapNode != n.opts.address {
		return err
	}

	return n.startControlPlane()
}

// joinEtcd: a configured controller's etcd joins the cluster once it is bootstrapped (unless it left).
func (n *node) joinEtcd() {
	if !n.isController() || n.etcdLeft() {
		return
	}

	_ = n.cluster.update(func(etcd *etcdState) error { //nolint:errcheck
		if etcd.Bootstrapped {
			etcd.join(n.opts.address)
		}

		return nil
	})
}

func (n *node) etcdLeft() bool {
	_, err := os.Stat(filepath.Join(n.opts.stateDir, "etcd-left"))

	return err == nil
}

// leaveEtcd removes this controller from etcd, for good until its configuration is applied again (a reset).
func (n *node) leaveEtcd() error {
	if err := os.WriteFile(filepath.Join(n.opts.stateDir, "etcd-left"), nil, 0o600); err != nil {
		return err
	}

	err := n.cluster.update(func(etcd *etcdState) error {
		etcd.remove(n.opts.address)

		if etcd.BootstrapNode == n.opts.address {
			etcd.BootstrapNode = ""
		}

		return nil
	})
	if err == nil {
		logf(n, "left etcd")
	}

	return err
}

// writePKI writes the cluster's certificates for etcd and kube-apiserver (mu held):
//
//	pki/ca.crt, ca.key                          cluster.ca (signs the admin kubeconfig's certificate)
//	pki/apiserver.crt, apiserver.key            issued by cluster.ca for the API address, the node, kubernetes.default...
//	pki/service-account.key, service-account.pub  cluster.serviceAccount
//	pki/aggregator-ca.crt, aggregator-ca.key    cluster.aggregatorCA
//	pki/front-proxy-client.crt, .key            issued by cluster.aggregatorCA
//	pki/etcd/ca.crt, ca.key                     cluster.etcd.ca
//	pki/etcd/server.crt, server.key             issued by it for the node and 127.0.0.1
//	pki/etcd/apiserver-client.crt, .key         issued by it, kube-apiserver's etcd client
func (n *node) writePKI(c *v1alpha1.ClusterConfig) (controlPlaneSpec, error) {
	spec := controlPlaneSpec{dir: filepath.Join(n.opts.stateDir, "control-plane"), nodeAddress: n.opts.address}

	if c == nil || c.ControlPlane == nil || c.ControlPlane.Endpoint == nil || c.ControlPlane.Endpoint.URL == nil {
		return spec, errors.New("the configuration has no cluster.controlPlane.endpoint")
	}

	endpoint := c.ControlPlane.Endpoint.URL
	spec.apiHost, spec.apiPort = endpoint.Hostname(), endpoint.Port()

	if spec.apiPort == "" {
		spec.apiPort = "443"
	}

	spec.clusterName = c.ClusterName
	spec.serviceCIDR = "10.96.0.0/12"

	if c.ClusterNetwork != nil && len(c.ClusterNetwork.ServiceSubnet) > 0 {
		spec.serviceCIDR = c.ClusterNetwork.ServiceSubnet[0]
	}

	if c.APIServerConfig != nil {
		if _, tag, ok := strings.Cut(c.APIServerConfig.ContainerImage, ":"); ok {
			spec.kubernetes = tag
		}
	}

	if c.ClusterCA == nil || c.ClusterAggregatorCA == nil || c.ClusterServiceAccount == nil || c.EtcdConfig == nil || c.EtcdConfig.RootCA == nil {
		return spec, errors.New("a controller's configuration must hold cluster.ca, cluster.aggregatorCA, cluster.serviceAccount and cluster.etcd.ca")
	}

	clusterCA, err := parseAuthority(c.ClusterCA.Crt, c.ClusterCA.Key)
	if err != nil {
		return spec, fmt.Errorf("cluster.ca: %w", err)
	}

	aggregatorCA, err := parseAuthority(c.ClusterAggregatorCA.Crt, c.ClusterAggregatorCA.Key)
	if err != nil {
		return spec, fmt.Errorf("cluster.aggregatorCA: %w", err)
	}

	etcdCA, err := parseAuthority(c.EtcdConfig.RootCA.Crt, c.EtcdConfig.RootCA.Key)
	if err != nil {
		return spec, fmt.Errorf("cluster.etcd.ca: %w", err)
	}

	serviceIP, err := firstServiceIP(spec.serviceCIDR)
	if err != nil {
		return spec, err
	}

	apiIPs := []net.IP{net.ParseIP(n.opts.address), net.ParseIP("127.0.0.1"), serviceIP}
	apiNames := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}

	if ip := net.ParseIP(spec.apiHost); ip != nil {
		apiIPs = append(apiIPs, ip)
	} else {
		apiNames = append(apiNames, spec.apiHost)
	}

	apiserver, err := issue(clusterCA, leafSpec{commonName: "kube-apiserver", ips: apiIPs, dnsNames: apiNames, server: true, lifetime: 365 * 24 * time.Hour})
	if err != nil {
		return spec, err
	}

	frontProxy, err := issue(aggregatorCA, leafSpec{commonName: "front-proxy-client", client: true, lifetime: 365 * 24 * time.Hour})
	if err != nil {
		return spec, err
	}

	etcdServer, err := issue(etcdCA, leafSpec{
		commonName: n.opts.address, ips: []net.IP{net.ParseIP(n.opts.address), net.ParseIP("127.0.0.1")},
		dnsNames: []string{"localhost"}, server: true, client: true, lifetime: 365 * 24 * time.Hour,
	})
	if err != nil {
		return spec, err
	}

	etcdClient, err := issue(etcdCA, leafSpec{commonName: "kube-apiserver", client: true, lifetime: 365 * 24 * time.Hour})
	if err != nil {
		return spec, err
	}

	serviceAccountPub, err := publicKeyPEM(c.ClusterServiceAccount.Key)
	if err != nil {
		return spec, fmt.Errorf("cluster.serviceAccount: %w", err)
	}

	pki := filepath.Join(spec.dir, "pki")
	files := map[string][]byte{
		"ca.crt": c.ClusterCA.Crt, "ca.key": c.ClusterCA.Key,
		"apiserver.crt": apiserver.certPEM, "apiserver.key": apiserver.keyPEM,
		"service-account.key": c.ClusterServiceAccount.Key, "service-account.pub": serviceAccountPub,
		"aggregator-ca.crt": c.ClusterAggregatorCA.Crt, "aggregator-ca.key": c.ClusterAggregatorCA.Key,
		"front-proxy-client.crt": frontProxy.certPEM, "front-proxy-client.key": frontProxy.keyPEM,
		"etcd/ca.crt": c.EtcdConfig.RootCA.Crt, "etcd/ca.key": c.EtcdConfig.RootCA.Key,
		"etcd/server.crt": etcdServer.certPEM, "etcd/server.key": etcdServer.keyPEM,
		"etcd/apiserver-client.crt": etcdClient.certPEM, "etcd/apiserver-client.key": etcdClient.keyPEM,
	}

	for name, data := range files {
		path := filepath.Join(pki, name)
		if err = os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return spec, err
		}

		if err = os.WriteFile(path, data, 0o600); err != nil {
			return spec, err
		}
	}

	return spec, nil
}

func firstServiceIP(cidr string) (net.IP, error) {
	_, network, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("cluster.network.serviceSubnets: %w", err)
	}

	ip := append(net.IP(nil), network.IP.To16()...)
	ip[len(ip)-1]++

	return ip, nil
}

// kubeJudgePlane is the Kubernetes judge (judges/kubernetes: etcd, kube-apiserver, controller manager,
// scheduler, kwok) started with the cluster's own PKI on the API address.
type kubeJudgePlane struct {
	cancel context.CancelFunc
	server chan *start.Server
}

// recordEtcdEndpoint tells the cluster's controllers where the judge's etcd answers (for EtcdSnapshot).
func (n *node) recordEtcdEndpoint(url string) {
	_ = n.cluster.update(func(etcd *etcdState) error { //nolint:errcheck
		if etcd.BootstrapNode == n.opts.address {
			etcd.Endpoint = url
		}

		return nil
	})
}

func startKubeJudge(binary string, spec controlPlaneSpec, c *v1alpha1.ClusterConfig, log func(string, ...any), etcdReady func(url string)) (controlPlane, error) {
	pki := filepath.Join(spec.dir, "pki")

	servingCert, err := os.ReadFile(filepath.Join(pki, "apiserver.crt"))
	if err != nil {
		return nil, err
	}

	servingKey, err := os.ReadFile(filepath.Join(pki, "apiserver.key"))
	if err != nil {
		return nil, err
	}

	port, err := strconv.Atoi(spec.apiPort)
	if err != nil {
		return nil, fmt.Errorf("the API port %q: %w", spec.apiPort, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	p := &kubeJudgePlane{cancel: cancel, server: make(chan *start.Server, 1)}

	go func() {
		server, err := start.Start(ctx, start.Options{
			Binary:            binary,
			Address:           spec.apiHost,
			Port:              port,
			CACert:            c.ClusterCA.Crt,
			CAKey:             c.ClusterCA.Key,
			ServingCert:       servingCert,
			ServingKey:        servingKey,
			ServiceAccountKey: c.ClusterServiceAccount.Key,
			AggregatorCACert:  c.ClusterAggregatorCA.Crt,
			AggregatorCAKey:   c.ClusterAggregatorCA.Key,
			ServiceCIDR:       spec.serviceCIDR,
			DataDir:           filepath.Join(spec.dir, "kubernetes"),
		})
		if err != nil {
			log("the Kubernetes judge did not start: %v", err)
		} else {
			etcdReady(server.EtcdURL)
			log("the Kubernetes API answers at %s", server.URL)
		}

		p.server <- server
	}()

	return p, nil
}

func (p *kubeJudgePlane) stop() {
	p.cancel()

	if server := <-p.server; server != nil {
		_ = server.Stop() //nolint:errcheck
	}
}

// readyzPlane is what answers on the API address when no Kubernetes judge is given: an HTTPS server
// with the API server's certificate that asks for a client certificate of the cluster CA and answers /readyz,
// /livez, /healthz and /version only. It proves the kubeconfig's endpoint, CA and client certificate, nothing
// of the Kubernetes API itself (that is the Kubernetes judge's, started with -kube-judge).
type readyzPlane struct {
	server *http.Server
}

func startReadyz(spec controlPlaneSpec, c *v1alpha1.ClusterConfig) (controlPlane, error) {
	pki := filepath.Join(spec.dir, "pki")

	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "apiserver.crt"), filepath.Join(pki, "apiserver.key"))
	if err != nil {
		return nil, err
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ClusterCA.Crt)

	for _, accepted := range c.ClusterAcceptedCAs {
		pool.AppendCertsFromPEM(accepted.Crt)
	}

	listener, err := net.Listen("tcp", net.JoinHostPort(spec.apiHost, spec.apiPort))
	if err != nil {
		return nil, fmt.Errorf("the API address: %w", err)
	}

	major, minorVersion := "1", ""
	if parts := strings.SplitN(strings.TrimPrefix(spec.kubernetes, "v"), ".", 3); len(parts) >= 2 {
		major, minorVersion = parts[0], parts[1]
	}

	mux := http.NewServeMux()
	for _, path := range []string{"/readyz", "/livez", "/healthz"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	}

	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"major":%q,"minor":%q,"gitVersion":%q}`, major, minorVersion, spec.kubernetes)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "talos-sim: the built-in API stand-in answers /readyz, /livez, /healthz and /version only, not "+url.PathEscape(r.URL.Path)+"; the Kubernetes judge serves the API (-kube-judge)", http.StatusNotImplemented)
	})

	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
	}

	go server.ServeTLS(listener, "", "") //nolint:errcheck

	return &readyzPlane{server: server}, nil
}

func (p *readyzPlane) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_ = p.server.Shutdown(ctx) //nolint:errcheck
}
