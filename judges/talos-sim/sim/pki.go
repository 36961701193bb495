package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// authority is a CA of the configuration (machine.ca, cluster.ca, ...): its certificate and, on a controller,
// its key.
type authority struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
}

func parseAuthority(certPEM, keyPEM []byte) (*authority, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}

	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}

	ca := &authority{cert: cert, certPEM: certPEM}

	if len(keyPEM) > 0 {
		if ca.key, err = parseKey(keyPEM); err != nil {
			return nil, fmt.Errorf("CA key: %w", err)
		}
	}

	return ca, nil
}

// parseKey reads a PEM private key whatever its block says (Talos writes Ed25519 keys as PKCS#8 under
// "ED25519 PRIVATE KEY", ECDSA as SEC 1, RSA as PKCS#1).
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM key")
	}

	if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if signer, ok := key.(crypto.Signer); ok {
			return signer, nil
		}
	}

	if key, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return key, nil
	}

	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}

	return nil, fmt.Errorf("unreadable %s", block.Type)
}

// leaf is a certificate issued for the simulator.
type leaf struct {
	certPEM []byte
	keyPEM  []byte
}

func (l leaf) tlsCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(l.certPEM, l.keyPEM)
}

type leafSpec struct {
	commonName   string
	organization []string
	ips          []net.IP
	dnsNames     []string
	server       bool
	client       bool
	lifetime     time.Duration
}

// issue makes an ECDSA P-256 key and a certificate for it signed by ca (self-signed when ca is nil).
func issue(ca *authority, spec leafSpec) (leaf, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return leaf{}, err
	}

	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return leaf{}, err
	}

	lifetime := spec.lifetime
	if lifetime == 0 {
		lifetime = 24 * time.Hour
	}

	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: spec.commonName, Organization: spec.organization},
		NotBefore:    time.Now().Add(-10 * time.Second),
		NotAfter:     time.Now().Add(lifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		IPAddresses:  spec.ips,
		DNSNames:     spec.dnsNames,
	}

	if spec.server {
		template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}

	if spec.client {
		template.ExtKeyUsage = append(template.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}

	parent, signer := template, crypto.Signer(key)
	if ca != nil {
		if ca.key == nil {
			return leaf{}, errors.New("the CA's key is not in this configuration")
		}

		parent, signer = ca.cert, ca.key
	}

	der, err := x509.CreateCertificate(rand.Reader, template, parent, key.Public(), signer)
	if err != nil {
		return leaf{}, err
	}

	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return leaf{}, err
	}

	return leaf{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// publicKeyPEM is the PKIX public key of a PEM private key (the service account key pair of kube-apiserver).
func publicKeyPEM(keyPEM []byte) ([]byte, error) {
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}

	switch key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}

	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}

	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}
