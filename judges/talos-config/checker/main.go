// Command talos-config-check judges Talos machine configurations with Talos' own machinery, at the version
// this binary is built with (one binary per Talos minor: tools/talos-config/<minor>/go.mod pins it).
//
// It reads one JSON document on stdin, {"cases": [{"id", "clusterName", "endpoint", "kubernetesVersion",
// "talosVersion", "contract", "machineType", "patches"}]}, and for each case does what the siderolabs/talos
// Terraform provider's talos_machine_configuration data source does: generate the configuration (version
// contract from contract, the data source's talos_version, which is talosVersion when absent; the provider's
// generate options, throwaway secrets), apply the patches for the machine type. talosVersion is the Talos
// the node runs: it picks the checker and the Kubernetes versions allowed. It then loads the result as a node does and validates it for the metal runtime (Proxmox nocloud
// VMs run the metal mode) in strict mode, every document included. The Kubernetes version must be one
// this Talos version supports (the check talosctl makes). It writes {"machinery": <version>,
// "results": [{"id", "errors", "warnings", "config"}]} on stdout. The exit code is 0 when every case was
// judged (accepted or not), 1 on bad input.
//
// A case with "config" (a rendered configuration, such as npm run machine-config writes) is judged as it is,
// without generating one; its result then also carries "redacted": the configuration as Talos' own
// RedactSecrets leaves it, so that a test can see which values this machinery counts as secrets.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"
	machineapi "github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/compatibility"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/bundle"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/validation"
	"github.com/siderolabs/talos/pkg/machinery/constants"
)

const machineryModule = "github.com/siderolabs/talos/pkg/machinery"

type input struct {
	Cases []checkCase `json:"cases"`
}

type checkCase struct {
	ID                string   `json:"id"`
	ClusterName       string   `json:"clusterName"`
	Endpoint          string   `json:"endpoint"`
	KubernetesVersion string   `json:"kubernetesVersion"`
	TalosVersion      string   `json:"talosVersion"`
	Contract          string   `json:"contract"`
	MachineType       string   `json:"machineType"`
	Patches           []string `json:"patches"`
	// A rendered configuration to judge as it is, instead of generating one (contract, machineType and
	// patches are then unused).
	Config string `json:"config,omitempty"`
}

type result struct {
	ID       string   `json:"id"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	// The configuration as the node would receive it, when it could be generated (throwaway secrets).
	Config string `json:"config,omitempty"`
	// The configuration with every secret replaced by Talos' own redaction (RedactSecrets), when it loaded.
	Redacted string `json:"redacted,omitempty"`
}

type output struct {
	Machinery string   `json:"machinery"`
	Results   []result `json:"results"`
}

// metalMode is the runtime mode of Talos on bare metal and on VMs booted from its ISO, such as Proxmox
// nocloud VMs: installed to disk, not in a container.
type metalMode struct{}

func (metalMode) String() string        { return "metal" }
func (metalMode) RequiresInstall() bool { return true }
func (metalMode) InContainer() bool     { return false }

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "talos-config-check: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	machinery := machineryVersion()

	var in input
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()

	if err := decoder.Decode(&in); err != nil {
		return fmt.Errorf("reading the cases from stdin: %w", err)
	}

	out := output{Machinery: machinery, Results: make([]result, 0, len(in.Cases))}
	secretsByContract := map[string]*secrets.Bundle{}

	for _, c := range in.Cases {
		if minor(c.TalosVersion) != minor(machinery) {
			return fmt.Errorf("case %q: talosVersion %s is not judged by machinery %s; use the checker of its minor", c.ID, c.TalosVersion, machinery)
		}

		out.Results = append(out.Results, check(c, secretsByContract))
	}

	encoded := json.NewEncoder(os.Stdout)
	encoded.SetIndent("", "  ")

	return encoded.Encode(out)
}

func check(c checkCase, secretsByContract map[string]*secrets.Bundle) result {
	res := result{ID: c.ID, Errors: []string{}, Warnings: []string{}}
	fail := func(stage string, err error) result {
		res.Errors = append(res.Errors, flatten(stage, err)...)

		return res
	}

	contractVersion := c.Contract
	if contractVersion == "" {
		contractVersion = c.TalosVersion
	}

	contract, err := config.ParseContractFromVersion(contractVersion)
	if err != nil {
		return fail("contract", err)
	}

	// What talosctl checks before it installs or upgrades Kubernetes on this Talos version.
	talos, err := compatibility.ParseTalosVersion(&machineapi.VersionInfo{Tag: c.TalosVersion})
	if err != nil {
		return fail("talosVersion", err)
	}

	kubernetes, err := compatibility.ParseKubernetesVersion(c.KubernetesVersion)
	if err != nil {
		return fail("kubernetesVersion", err)
	}

	if err = kubernetes.SupportedWith(talos); err != nil {
		return fail("kubernetesVersion", err)
	}

	var rendered []byte

	if c.Config != "" {
		rendered = []byte(c.Config)
	} else {
		var failed *stageError
		if rendered, failed = render(c, contract, secretsByContract); failed != nil {
			return fail(failed.stage, failed.err)
		}
	}

	res.Config = string(rendered)

	// What the node does with a configuration it is given: load it (unknown keys are errors), validate it.
	loaded, err := configloader.NewFromBytes(rendered)
	if err != nil {
		return fail("load", err)
	}

	if redacted, err := loaded.RedactSecrets(redactedMarker).EncodeBytes(encoder.WithComments(encoder.CommentsDisabled)); err == nil {
		res.Redacted = string(redacted)
	}

	warnings, err := loaded.Validate(metalMode{}, validation.WithStrict())
	res.Warnings = append(res.Warnings, warnings...)

	if err != nil {
		return fail("validate", err)
	}

	return res
}

// redactedMarker is what RedactSecrets puts in place of each secret.
const redactedMarker = "<redacted by machinery>"

// stageError is a failure of one stage of generating a configuration.
type stageError struct {
	stage string
	err   error
}

// render generates the configuration as the provider's data source does, with throwaway secrets.
func render(c checkCase, contract *config.VersionContract, secretsByContract map[string]*secrets.Bundle) ([]byte, *stageError) {
	var err error

	// Secrets only need to be well-formed; generating keys is the slow part, so one bundle per contract.
	secretsBundle := secretsByContract[contract.String()]
	if secretsBundle == nil {
		if secretsBundle, err = secrets.NewBundle(secrets.NewFixedClock(time.Now()), contract); err != nil {
			return nil, &stageError{"secrets", err}
		}

		secretsByContract[contract.String()] = secretsBundle
	}

	var machineType machine.Type

	var patchOption func([]configpatcher.Patch) bundle.Option

	switch c.MachineType {
	case "controlplane":
		machineType, patchOption = machine.TypeControlPlane, bundle.WithPatchControlPlane
	case "worker":
		machineType, patchOption = machine.TypeWorker, bundle.WithPatchWorker
	default:
		return nil, &stageError{"machineType", fmt.Errorf("%q is neither controlplane nor worker", c.MachineType)}
	}

	patches, err := configpatcher.LoadPatches(c.Patches)
	if err != nil {
		return nil, &stageError{"patches", err}
	}

	// The generate options of the provider's data source (terraform-provider-talos pkg/talos/util.go);
	// persistence is on by default in every supported minor, the option itself is gone from v1.13.
	configBundle, err := bundle.NewBundle(
		bundle.WithInputOptions(&bundle.InputOptions{
			ClusterName: c.ClusterName,
			Endpoint:    c.Endpoint,
			KubeVersion: strings.TrimPrefix(c.KubernetesVersion, "v"),
			GenOptions: []generate.Option{
				generate.WithClusterDiscovery(true),
				generate.WithDNSDomain(constants.DefaultDNSDomain),
				generate.WithInstallDisk("/dev/sda"),
				generate.WithSecretsBundle(secretsBundle),
				generate.WithVersionContract(contract),
			},
		}),
		patchOption(patches),
		bundle.WithVerbose(false),
	)
	if err != nil {
		return nil, &stageError{"generate", err}
	}

	rendered, err := configBundle.Serialize(encoder.CommentsDisabled, machineType)
	if err != nil {
		return nil, &stageError{"encode", err}
	}

	return rendered, nil
}

// flatten turns an error into one line per problem, each prefixed by the stage that found it (Validate
// returns a multierror of documents, each possibly a multierror of its own problems).
func flatten(stage string, err error) []string {
	var multi *multierror.Error
	if errors.As(err, &multi) && len(multi.Errors) > 0 {
		if prefix, _, _ := strings.Cut(err.Error(), multi.Error()); prefix != "" {
			stage += ": " + strings.TrimSuffix(prefix, ": ")
		}

		messages := []string{}
		for _, e := range multi.Errors {
			messages = append(messages, flatten(stage, e)...)
		}

		return messages
	}

	return []string{fmt.Sprintf("%s: %s", stage, strings.Join(strings.Fields(err.Error()), " "))}
}

func machineryVersion() string {
	info, ok := debug.ReadBuildInfo()
	if ok {
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
