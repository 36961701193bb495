package main

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/hashicorp/go-multierror"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/types/v1alpha1"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"
)

const machineryModule = "github.com/siderolabs/talos/pkg/machinery"

// metalMode is the runtime mode of Talos on bare metal and on VMs booted from its ISO, such as Proxmox nocloud
// VMs: installed to disk, not in a container (the same mode judges/talos-config/checker validates for).
type metalMode struct{}

func (metalMode) String() string        { return "metal" }
func (metalMode) RequiresInstall() bool { return true }
func (metalMode) InContainer() bool     { return false }

// judge loads a machine configuration as a node does (unknown keys are errors) and validates it for the metal
// runtime in strict mode. A node validates without strict mode; strict is the project's bar (warnings are
// refusals too), the one judges/talos-config holds every generated configuration to.
func judge(data []byte) (config.Provider, []string, error) {
	provider, err := configloader.NewFromBytes(data)
	if err != nil {
		return nil, nil, err
	}

	if provider.RawV1Alpha1() == nil {
		return nil, nil, errors.New("the machine configuration has no v1alpha1 document")
	}

	warnings, err := provider.Validate(metalMode{}, validation.WithStrict())
	if err != nil {
		return nil, warnings, fmt.Errorf("%s", strings.Join(flatten(err), "; "))
	}

	return provider, warnings, nil
}

// v1alpha1Of is the configuration's v1alpha1 document, nil-safe in its machine and cluster parts.
func v1alpha1Of(provider config.Provider) (*v1alpha1.MachineConfig, *v1alpha1.ClusterConfig) {
	if provider == nil {
		return nil, nil
	}

	raw := provider.RawV1Alpha1()
	if raw == nil {
		return nil, nil
	}

	return raw.MachineConfig, raw.ClusterConfig
}

// flatten turns a (multi)error into one line per problem.
func flatten(err error) []string {
	var multi *multierror.Error
	if errors.As(err, &multi) && len(multi.Errors) > 0 {
		lines := []string{}
		for _, e := range multi.Errors {
			lines = append(lines, flatten(e)...)
		}

		return lines
	}

	return []string{strings.Join(strings.Fields(err.Error()), " ")}
}

func machineryVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == machineryModule {
				return dep.Version
			}
		}
	}

	return "unknown"
}

// minor returns "v1.12" for "v1.12.1".
func minor(version string) string {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) < 2 {
		return version
	}

	return "v" + parts[0] + "." + parts[1]
}
