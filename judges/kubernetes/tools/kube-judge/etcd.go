package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"
)

// runEtcd serves one etcd member over plain HTTP on a loopback client URL; only the API server
// (started beside it) talks to it.
func runEtcd(args []string) int {
	flags := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dataDir := flags.String("data-dir", "", "etcd data directory")
	clientURL := flags.String("listen-client-url", "", "client URL, http://127.x.y.z:port")
	peerURL := flags.String("listen-peer-url", "", "peer URL, http://127.x.y.z:port")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" || *clientURL == "" || *peerURL == "" {
		fmt.Fprintln(os.Stderr, "etcd: --data-dir, --listen-client-url and --listen-peer-url are required")
		return 2
	}
	cfg := embed.NewConfig()
	cfg.Dir = *dataDir
	cfg.Name = "judge"
	client, err := url.Parse(*clientURL)
	if err != nil {
		return fail(err)
	}
	peer, err := url.Parse(*peerURL)
	if err != nil {
		return fail(err)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fail(err)
	}
	defer e.Close()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fail(err)
	}
	select {
	case <-stop:
		return 0
	case err := <-e.Err():
		return fail(err)
	}
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "etcd:", err)
	return 1
}
