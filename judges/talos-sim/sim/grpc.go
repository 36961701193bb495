package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"

	clusterapi "github.com/siderolabs/talos/pkg/machinery/api/cluster"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/api/storage"
	"github.com/siderolabs/talos/pkg/machinery/role"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// rules are the roles apid lets call each method the simulator serves (Talos' machined authorization rules);
// a method not listed is refused, as apid refuses it.
var rules = map[string]role.Set{
	"/cluster.ClusterService/HealthCheck":           role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/ApplyConfiguration":    role.MakeSet(role.Admin),
	"/machine.MachineService/Bootstrap":             role.MakeSet(role.Admin),
	"/machine.MachineService/EtcdLeaveCluster":      role.MakeSet(role.Admin),
	"/machine.MachineService/EtcdMemberList":        role.MakeSet(role.Admin, role.Operator, role.Reader, role.EtcdBackup),
	"/machine.MachineService/EtcdRecover":           role.MakeSet(role.Admin),
	"/machine.MachineService/EtcdSnapshot":          role.MakeSet(role.Admin, role.Operator, role.EtcdBackup),
	"/machine.MachineService/EtcdRemoveMemberByID":  role.MakeSet(role.Admin),
	"/machine.MachineService/EtcdForfeitLeadership": role.MakeSet(role.Admin, role.Operator),
	"/machine.MachineService/Events":                role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Kubeconfig":            role.MakeSet(role.Admin),
	"/machine.MachineService/Read":                  role.MakeSet(role.Admin),
	"/machine.MachineService/Reboot":                role.MakeSet(role.Admin, role.Operator),
	"/machine.MachineService/Reset":                 role.MakeSet(role.Admin),
	"/machine.MachineService/ServiceList":           role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/machine.MachineService/Upgrade":               role.MakeSet(role.Admin),
	"/machine.MachineService/Version":               role.MakeSet(role.Admin, role.Operator, role.Reader),
	"/storage.StorageService/Disks":                 role.MakeSet(role.Admin, role.Operator, role.Reader),
}

// maintenanceMethods are what a node in maintenance mode answers (anyone may call them: no client certificate).
var maintenanceMethods = map[string]bool{
	"/machine.MachineService/ApplyConfiguration": true,
	"/machine.MachineService/Version":            true,
	"/storage.StorageService/Disks":              true,
}

func newGRPCServer(n *node) *grpc.Server {
	server := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{GetConfigForClient: n.tlsConfig, MinVersion: tls.VersionTLS12})),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if err := n.admit(ctx, info.FullMethod); err != nil {
				return nil, err
			}

			return handler(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if err := n.admit(ss.Context(), info.FullMethod); err != nil {
				return err
			}

			return handler(srv, ss)
		}),
	)

	machine.RegisterMachineServiceServer(server, &machineService{node: n})
	storage.RegisterStorageServiceServer(server, &storageService{node: n})
	clusterapi.RegisterClusterServiceServer(server, &clusterService{node: n})

	return server
}

// admit decides a call as apid and machined would: nothing while the node reboots; in maintenance mode only the
// maintenance API; once configured, the roles of the client certificate (os:admin, os:reader, ...).
func (n *node) admit(ctx context.Context, method string) error {
	if n.rebooting() {
		return status.Error(codes.Unavailable, "the node is rebooting")
	}

	if target := routedTo(ctx); target != "" && target != n.opts.address {
		return status.Errorf(codes.Unimplemented, "the simulator answers for its own node %s only, not for %s (no apid proxying)", n.opts.address, target)
	}

	if !n.configured() {
		if !maintenanceMethods[method] {
			return status.Errorf(codes.Unimplemented, "%s is not available in maintenance mode", method)
		}

		return nil
	}

	allowed, ok := rules[method]
	if !ok {
		logf(n, "refused %s: not simulated", method)

		return status.Errorf(codes.Unimplemented, "%s is not simulated", method)
	}

	roles := rolesOf(ctx)
	if !roles.IncludesAny(allowed) {
		return status.Error(codes.PermissionDenied, "not authorized")
	}

	return nil
}

// routedTo is the node a client asked apid to route the call to ("node" or a single "nodes" metadata entry).
func routedTo(ctx context.Context) string {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ""
	}

	if nodes := md.Get("node"); len(nodes) == 1 {
		return nodes[0]
	}

	if nodes := md.Get("nodes"); len(nodes) == 1 {
		return nodes[0]
	}

	return ""
}

func rolesOf(ctx context.Context) role.Set {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return role.MakeSet()
	}

	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return role.MakeSet()
	}

	roles, _ := role.Parse(info.State.VerifiedChains[0][0].Subject.Organization)

	return roles
}

func logf(n *node, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "talos-sim %s: %s\n", n.opts.address, fmt.Sprintf(format, args...))
}
