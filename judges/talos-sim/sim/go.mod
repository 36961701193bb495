module talos-proxmox-cdktf/judges/talos-sim/sim

go 1.24.0

// The lowest supported minor: each judges/talos-sim/v<minor>/go.mod raises machinery to its own version (the
// build list takes the highest requirement).
require (
	github.com/hashicorp/go-multierror v1.1.1
	github.com/siderolabs/talos/pkg/machinery v1.10.9
	google.golang.org/grpc v1.71.3
	google.golang.org/protobuf v1.36.6
	talos-proxmox-cdktf/judges/kubernetes/start v0.0.0
)

// The Kubernetes judge's starter (no dependencies of its own).
replace talos-proxmox-cdktf/judges/kubernetes/start => ../../kubernetes/start
