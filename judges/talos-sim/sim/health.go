package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	clusterapi "github.com/siderolabs/talos/pkg/machinery/api/cluster"
	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type clusterService struct {
	clusterapi.UnimplementedClusterServiceServer

	node *node
}

// HealthCheck is the server-side check `talosctl health` asks for, as far as the simulator can tell: etcd is
// bootstrapped with exactly the given controllers as members, every node's API answers, and the Kubernetes API
// answers /readyz with the cluster's credentials. What needs a kubelet (nodes Ready, static pods, kube-proxy,
// CoreDNS) it cannot tell, and does not claim.
func (s *clusterService) HealthCheck(in *clusterapi.HealthCheckRequest, out clusterapi.ClusterService_HealthCheckServer) error {
	n := s.node
	if !n.isController() {
		return status.Error(codes.Unimplemented, "health check is only available on control plane nodes")
	}

	timeout := in.GetWaitTimeout().AsDuration()
	if timeout <= 0 {
		timeout = 20 * time.Minute
	}

	ctx, cancel := context.WithTimeout(out.Context(), timeout)
	defer cancel()

	controllers := in.GetClusterInfo().GetControlPlaneNodes()
	if len(controllers) == 0 {
		controllers = []string{n.opts.address}
	}

	nodes := append(append([]string{}, controllers...), in.GetClusterInfo().GetWorkerNodes()...)

	logf(n, "health check of controllers %v, workers %v", controllers, in.GetClusterInfo().GetWorkerNodes())

	checks := []struct {
		what  string
		check func(context.Context) error
	}{
		{"etcd to be healthy", func(context.Context) error { return n.etcdHealthy(controllers) }},
		{"etcd members to be control plane nodes", func(context.Context) error { return n.etcdHealthy(controllers) }},
		{"apid to be ready", func(ctx context.Context) error { return apidAnswers(ctx, nodes, n.opts.port) }},
		{"kube-apiserver to report ready", n.apiReady},
	}

	for _, c := range checks {
		if err := out.Send(&clusterapi.HealthCheckProgress{Metadata: &common.Metadata{Hostname: n.opts.address}, Message: "waiting for " + c.what}); err != nil {
			return err
		}

		for {
			err := c.check(ctx)
			if err == nil {
				break
			}

			select {
			case <-ctx.Done():
				logf(n, "health check failed: waiting for %s: %v", c.what, err)

				return status.Errorf(codes.DeadlineExceeded, "waiting for %s: %v", c.what, err)
			case <-time.After(time.Second):
			}
		}

		if err := out.Send(&clusterapi.HealthCheckProgress{Metadata: &common.Metadata{Hostname: n.opts.address}, Message: c.what + ": OK"}); err != nil {
			return err
		}
	}

	logf(n, "health check passed")

	return nil
}

func (n *node) etcdHealthy(controllers []string) error {
	n.joinEtcd()

	etcd, err := n.cluster.etcd()
	if err != nil {
		return err
	}

	if !etcd.Bootstrapped {
		return errors.New("etcd is not bootstrapped")
	}

	members := map[string]bool{}
	for _, m := range etcd.Members {
		members[m.Address] = true
	}

	for _, c := range controllers {
		if !members[c] {
			return fmt.Errorf("%s is not an etcd member", c)
		}
	}

	if len(members) != len(controllers) {
		return fmt.Errorf("etcd has %d members, expected the %d control plane nodes", len(members), len(controllers))
	}

	return nil
}

func apidAnswers(ctx context.Context, nodes []string, port int) error {
	for _, address := range nodes {
		conn, err := (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, "tcp", net.JoinHostPort(address, strconv.Itoa(port)))
		if err != nil {
			return err
		}

		conn.Close() //nolint:errcheck
	}

	return nil
}

// apiReady asks the API at cluster.controlPlane.endpoint for /readyz with an admin certificate of the cluster
// CA, as a client of the kubeconfig would.
func (n *node) apiReady(ctx context.Context) error {
	n.mu.Lock()
	_, c := v1alpha1Of(n.provider)
	n.mu.Unlock()

	if c == nil || c.ClusterCA == nil {
		return errors.New("no cluster.ca")
	}

	ca, err := parseAuthority(c.ClusterCA.Crt, c.ClusterCA.Key)
	if err != nil {
		return err
	}

	admin, err := issue(ca, leafSpec{commonName: "talos:admin", organization: []string{"system:masters"}, client: true})
	if err != nil {
		return err
	}

	cert, err := admin.tlsCertificate()
	if err != nil {
		return err
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ClusterCA.Crt)

	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}},
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.ControlPlane.Endpoint.URL.String()+"/readyz", nil)
	if err != nil {
		return err
	}

	resp, err := client.Do(req)
	if err != nil {
		return err
	}

	resp.Body.Close() //nolint:errcheck

	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %d", resp.StatusCode)
	}

	return nil
}
