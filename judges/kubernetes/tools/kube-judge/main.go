// kube-judge is one binary for the Kubernetes judge's control plane: the first argument names the
// component, the rest are that component's own flags, parsed by its own command.
//
//	kube-judge apiserver ...            kube-apiserver
//	kube-judge controller-manager ...   kube-controller-manager
//	kube-judge scheduler ...            kube-scheduler
//	kube-judge etcd ...                 etcd (see etcd.go)
//	kube-judge up ...                   all of them, started and watched (see up.go)
//	kube-judge etcd-snapshot ...        a snapshot of a running etcd, on stdout (see snapshot.go)
//	kube-judge etcd-restore ...         a snapshot restored into a new etcd data folder (see snapshot.go)
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube-judge apiserver|controller-manager|scheduler|etcd|up|etcd-snapshot|etcd-restore [flags]")
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	var command *cobra.Command
	switch name {
	case "apiserver":
		command = apiserver.NewAPIServerCommand()
	case "controller-manager":
		command = controllermanager.NewControllerManagerCommand()
	case "scheduler":
		command = scheduler.NewSchedulerCommand()
	case "etcd":
		os.Exit(runEtcd(args))
	case "up":
		os.Exit(runUp(args))
	case "etcd-snapshot":
		os.Exit(runEtcdSnapshot(args))
	case "etcd-restore":
		os.Exit(runEtcdRestore(args))
	default:
		fmt.Fprintf(os.Stderr, "kube-judge: unknown component %q\n", name)
		os.Exit(2)
	}
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
