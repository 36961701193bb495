package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
)

// runEtcdSnapshot writes a snapshot of the judge's etcd to stdout, as etcd's Maintenance API streams it (what
// Talos' EtcdSnapshot reads from its local etcd).
func runEtcdSnapshot(args []string) int {
	flags := flag.NewFlagSet("etcd-snapshot", flag.ContinueOnError)
	endpoint := flags.String("endpoint", "", "etcd's client URL (the ready line's \"etcd\")")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *endpoint == "" {
		fmt.Fprintln(os.Stderr, "etcd-snapshot: --endpoint is required")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err := clientv3.New(clientv3.Config{Endpoints: []string{*endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return failAs("etcd-snapshot", err)
	}
	defer client.Close()
	stream, err := client.Snapshot(ctx)
	if err != nil {
		return failAs("etcd-snapshot", err)
	}
	defer stream.Close()
	if _, err := io.Copy(os.Stdout, stream); err != nil {
		return failAs("etcd-snapshot", err)
	}
	return 0
}

// runEtcdRestore restores a snapshot into a new etcd data folder with etcdutl's restore, as Talos' etcd service
// does when bootstrapped with recover_etcd: `up` then starts etcd on it.
func runEtcdRestore(args []string) int {
	flags := flag.NewFlagSet("etcd-restore", flag.ContinueOnError)
	from := flags.String("snapshot", "", "the snapshot file")
	dataDir := flags.String("data-dir", "", "etcd's data folder to create (`up`'s <data-dir>/etcd); must not exist")
	skipHashCheck := flags.Bool("skip-hash-check", false, "accept a snapshot without its integrity hash (a copy of a member's db file)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *from == "" || *dataDir == "" {
		fmt.Fprintln(os.Stderr, "etcd-restore: --snapshot and --data-dir are required")
		return 2
	}
	manager := snapshot.NewV3(zap.NewNop())
	status, err := manager.Status(*from)
	if err != nil {
		return failAs("etcd-restore", fmt.Errorf("verifying the snapshot: %w", err))
	}
	// The member `up` starts: named as runEtcd names it; its peer URL is replaced by the one `up` picks.
	peer := "http://127.0.0.1:2380"
	if err := manager.Restore(snapshot.RestoreConfig{
		SnapshotPath:   *from,
		Name:           "judge",
		OutputDataDir:  *dataDir,
		PeerURLs:       []string{peer},
		InitialCluster: "judge=" + peer,
		SkipHashCheck:  *skipHashCheck,
	}); err != nil {
		return failAs("etcd-restore", err)
	}
	fmt.Printf("restored revision %d, %d keys, hash %08x\n", status.Revision, status.TotalKey, status.Hash)
	return 0
}

func failAs(command string, err error) int {
	fmt.Fprintf(os.Stderr, "%s: %v\n", command, err)
	return 1
}
