// Command talos-sim is one simulated Talos node: Talos' gRPC API (apid) on the node's address, as the talos
// Terraform provider and talosctl use it, built against github.com/siderolabs/talos/pkg/machinery of one Talos
// minor (judges/talos-sim/v<minor>/go.mod pins it; one binary per minor).
//
// The node boots into maintenance mode (TLS with a self-signed certificate, no client certificate asked) and
// stays there until a machine configuration is applied. ApplyConfiguration judges the configuration with this
// minor's machinery (loaded as a node loads it, validated for the metal runtime in strict mode) and refuses what
// fails with InvalidArgument, as Talos does; an accepted one is stored in the node's state folder and from then
// on the node serves mTLS with a certificate of the configuration's machine CA, asking for a client certificate
// of that CA and checking its roles (os:admin, os:reader, ...) as apid does.
//
// What is shared by the nodes of one cluster (etcd's membership, the bootstrap, the trustd that gives workers
// their certificate) lives in the cluster folder every node of the cluster is given.
//
// Usage:
//
//	talos-sim -address 127.0.1.10 -state DIR -cluster DIR -talos-version v1.12.7 [-port 50000]
//	          [-kube-judge KUBE_JUDGE] [-reboot-seconds 2]
//
// It prints "talos-sim <machinery version> listening on <address>:<port>" on stdout once it answers, and stops
// on SIGTERM or SIGINT, stopping what it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "talos-sim: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var opts nodeOptions

	flag.StringVar(&opts.address, "address", "", "the node's address (127.0.0.0/8), where its API listens")
	flag.IntVar(&opts.port, "port", 50000, "the API port (Talos: 50000)")
	flag.StringVar(&opts.stateDir, "state", "", "the node's state folder (its applied configuration survives a restart)")
	flag.StringVar(&opts.clusterDir, "cluster", "", "the folder shared by the nodes of one cluster")
	flag.StringVar(&opts.talosVersion, "talos-version", "", "the Talos version the node boots, e.g. v1.12.7")
	flag.StringVar(&opts.kubeJudge, "kube-judge", "",
		"the Kubernetes judge's kube-judge binary, started on bootstrap with the cluster's PKI (see README); default: the built-in /readyz responder")
	rebootSeconds := flag.Float64("reboot-seconds", 2, "how long a simulated reboot keeps the node from answering")
	flag.Parse()

	if opts.address == "" || opts.stateDir == "" || opts.clusterDir == "" || opts.talosVersion == "" {
		flag.Usage()

		return fmt.Errorf("-address, -state, -cluster and -talos-version are required")
	}

	if ip := net.ParseIP(opts.address); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-address %q is not a loopback address: the simulator listens on 127.0.0.0/8 only", opts.address)
	}

	if minor(opts.talosVersion) != minor(machineryVersion()) {
		return fmt.Errorf("-talos-version %s is not simulated by machinery %s; use the simulator of its minor", opts.talosVersion, machineryVersion())
	}

	opts.rebootDelay = time.Duration(*rebootSeconds * float64(time.Second))

	node, err := newNode(opts)
	if err != nil {
		return err
	}

	if err = node.resume(); err != nil {
		return err
	}

	listener, err := net.Listen("tcp", net.JoinHostPort(opts.address, strconv.Itoa(opts.port)))
	if err != nil {
		return err
	}

	server := newGRPCServer(node)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	served := make(chan error, 1)

	go func() { served <- server.Serve(listener) }()

	// A configured controller's etcd joins the cluster once it is bootstrapped, as Talos' etcd service does.
	go func() {
		for ctx.Err() == nil {
			node.joinEtcd()
			time.Sleep(time.Second)
		}
	}()

	fmt.Printf("talos-sim %s listening on %s\n", machineryVersion(), listener.Addr())

	select {
	case <-ctx.Done():
	case err = <-served:
	}

	server.Stop()
	node.shutdown()

	return err
}
