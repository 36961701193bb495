module talos-proxmox-cdktf/tools/talos-config/checker

go 1.24.0

// The lowest supported minor: each tools/talos-config/<minor>/go.mod raises machinery to its own version
// (the build list takes the highest requirement).
require (
	github.com/hashicorp/go-multierror v1.1.1
	github.com/siderolabs/talos/pkg/machinery v1.10.9
)
