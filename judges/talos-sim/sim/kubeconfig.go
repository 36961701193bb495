package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

// adminKubeconfig is the kubeconfig Talos generates for its Kubeconfig API: a client certificate issued by
// cluster.ca (CN admin, O system:masters, cluster.adminKubeconfig.certLifetime), the server at
// cluster.controlPlane.endpoint trusted through cluster.acceptedCAs and cluster.ca, cluster "<name>", user
// "admin@<name>", context "admin@<name>" with namespace default.
func adminKubeconfig(c *v1alpha1.ClusterConfig) ([]byte, error) {
	if c == nil || c.ClusterCA == nil || c.ControlPlane == nil || c.ControlPlane.Endpoint == nil || c.ControlPlane.Endpoint.URL == nil {
		return nil, errors.New("the configuration has no cluster.ca or cluster.controlPlane.endpoint")
	}

	ca, err := parseAuthority(c.ClusterCA.Crt, c.ClusterCA.Key)
	if err != nil {
		return nil, fmt.Errorf("cluster.ca: %w", err)
	}

	lifetime := constants.KubernetesAdminCertDefaultLifetime
	if c.AdminKubeconfigConfig != nil && c.AdminKubeconfigConfig.AdminKubeconfigCertLifetime > 0 {
		lifetime = c.AdminKubeconfigConfig.AdminKubeconfigCertLifetime
	}

	client, err := issue(ca, leafSpec{
		commonName:   constants.KubernetesAdminCertCommonName,
		organization: []string{constants.KubernetesAdminCertOrganization},
		client:       true,
		lifetime:     lifetime,
	})
	if err != nil {
		return nil, err
	}

	var trusted [][]byte
	for _, accepted := range c.ClusterAcceptedCAs {
		trusted = append(trusted, accepted.Crt)
	}

	trusted = append(trusted, c.ClusterCA.Crt)

	name, user := c.ClusterName, "admin@"+c.ClusterName
	b64 := base64.StdEncoding.EncodeToString

	var out bytes.Buffer

	fmt.Fprintf(&out, "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: %s\n  name: %s\n",
		b64(bytes.Join(trusted, nil)), c.ControlPlane.Endpoint.URL.String(), name)
	fmt.Fprintf(&out, "contexts:\n- context:\n    cluster: %s\n    namespace: default\n    user: %s\n  name: %s\n", name, user, user)
	fmt.Fprintf(&out, "current-context: %s\nkind: Config\npreferences: {}\n", user)
	fmt.Fprintf(&out, "users:\n- name: %s\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n",
		user, b64(client.certPEM), b64(client.keyPEM))

	return out.Bytes(), nil
}
