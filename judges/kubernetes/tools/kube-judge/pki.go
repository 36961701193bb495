package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The identities the judge mints client certificates for, from the cluster CA, each with its
// kubeconfig in <data-dir>/pki/<name>.kubeconfig. The API server's bootstrap RBAC policy binds
// system:kube-controller-manager and system:kube-scheduler to their roles.
var componentIdentities = []struct{ name, commonName, organization string }{
	{"admin", "kube-judge-admin", "system:masters"},
	{"controller-manager", "system:kube-controller-manager", ""},
	{"scheduler", "system:kube-scheduler", ""},
	{"kwok", "kwok", "system:masters"},
}

type judgePKI struct {
	ca                              *x509.Certificate
	caKey                           crypto.Signer
	caPEM                           []byte
	caPool                          *x509.CertPool
	servingCert, servingKey         string
	proxyClientCert, proxyClientKey string
}

func preparePKI(o *upOptions) (*judgePKI, error) {
	ca, caKey, caPEM, err := loadCA(o.caCert, o.caKey)
	if err != nil {
		return nil, err
	}
	p := &judgePKI{ca: ca, caKey: caKey, caPEM: caPEM, caPool: x509.NewCertPool()}
	p.caPool.AddCert(ca)
	dir := filepath.Join(o.dataDir, "pki")
	if o.servingCert != "" {
		p.servingCert, p.servingKey = o.servingCert, o.servingKey
		if _, err := tls.LoadX509KeyPair(o.servingCert, o.servingKey); err != nil {
			return nil, fmt.Errorf("--serving-cert/--serving-key: %w", err)
		}
	} else {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local"},
			IPAddresses: []net.IP{net.ParseIP(o.address), net.ParseIP("127.0.0.1")},
		}
		for _, san := range o.sans {
			if ip := net.ParseIP(san); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, san)
			}
		}
		p.servingCert, p.servingKey = filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")
		if err := mint(tmpl, ca, caKey, p.servingCert, p.servingKey); err != nil {
			return nil, err
		}
	}
	if o.aggCert != "" {
		agg, aggKey, _, err := loadCA(o.aggCert, o.aggKey)
		if err != nil {
			return nil, err
		}
		p.proxyClientCert, p.proxyClientKey = filepath.Join(dir, "front-proxy-client.crt"), filepath.Join(dir, "front-proxy-client.key")
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "front-proxy-client"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := mint(tmpl, agg, aggKey, p.proxyClientCert, p.proxyClientKey); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func loadCA(certFile, keyFile string) (*x509.Certificate, crypto.Signer, []byte, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, nil, err
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s with %s: %w", certFile, keyFile, err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, nil, err
	}
	if !cert.IsCA {
		return nil, nil, nil, fmt.Errorf("%s is not a CA certificate", certFile)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, nil, fmt.Errorf("%s: not a signing key", keyFile)
	}
	return cert, signer, certPEM, nil
}

// mint issues a certificate for tmpl (a fresh ECDSA P-256 key, valid for a year) from the CA and
// writes it and its key as PEM.
func mint(tmpl, ca *x509.Certificate, caKey crypto.Signer, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// writeKubeconfig mints a client certificate for commonName (in organization, when given) and writes
// a kubeconfig with it embedded.
func (p *judgePKI) writeKubeconfig(path, server, commonName, organization string) error {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if organization != "" {
		tmpl.Subject.Organization = []string{organization}
	}
	certFile, keyFile := path+".crt", path+".key"
	if err := mint(tmpl, p.ca, p.caKey, certFile, keyFile); err != nil {
		return err
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: judge
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: judge
  context:
    cluster: judge
    user: %s
current-context: judge
`, server, b64(p.caPEM), commonName, b64(cert), b64(key), commonName)
	return os.WriteFile(path, []byte(config), 0o600)
}
