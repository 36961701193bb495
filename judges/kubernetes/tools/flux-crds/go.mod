module talos-proxmox-cdktf/judges/kubernetes/flux-crds

go 1.25.0

// Flux's CRDs at the versions of the flux2 chart 2.15.0 (Flux v2.5.1: source-controller v1.5.0,
// kustomize-controller v1.5.1, helm-controller v1.2.0, notification-controller v1.5.0,
// image-reflector-controller v0.34.0, image-automation-controller v0.40.0), generated from each
// controller's published api module by controller-gen, as the controllers' own builds generate them:
// the Go module proxy here serves neither the chart (github.com/fluxcd-community/helm-charts) nor the
// controllers' main modules that hold the generated YAML. See ../../README.md.

tool sigs.k8s.io/controller-tools/cmd/controller-gen

require (
	github.com/fluxcd/helm-controller/api v1.2.0
	github.com/fluxcd/image-automation-controller/api v0.40.0
	github.com/fluxcd/image-reflector-controller/api v0.34.0
	github.com/fluxcd/kustomize-controller/api v1.5.0
	github.com/fluxcd/notification-controller/api v1.5.0
	github.com/fluxcd/source-controller/api v1.5.0
)

require (
	github.com/fatih/color v1.17.0 // indirect
	github.com/fluxcd/pkg/apis/acl v0.6.0 // indirect
	github.com/fluxcd/pkg/apis/kustomize v1.9.0 // indirect
	github.com/fluxcd/pkg/apis/meta v1.10.0 // indirect
	github.com/fxamacker/cbor/v2 v2.7.0 // indirect
	github.com/go-logr/logr v1.4.2 // indirect
	github.com/gobuffalo/flect v1.0.2 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/google/gofuzz v1.2.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/mattn/go-colorable v0.1.13 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.2 // indirect
	github.com/spf13/cobra v1.8.1 // indirect
	github.com/spf13/pflag v1.0.5 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/mod v0.21.0 // indirect
	golang.org/x/net v0.34.0 // indirect
	golang.org/x/sync v0.11.0 // indirect
	golang.org/x/sys v0.29.0 // indirect
	golang.org/x/text v0.22.0 // indirect
	golang.org/x/tools v0.26.0 // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	k8s.io/api v0.32.1 // indirect
	k8s.io/apiextensions-apiserver v0.32.1 // indirect
	k8s.io/apimachinery v0.32.1 // indirect
	k8s.io/klog/v2 v2.130.1 // indirect
	k8s.io/utils v0.0.0-20241104100929-3ea5e8cea738 // indirect
	sigs.k8s.io/controller-runtime v0.20.1 // indirect
	sigs.k8s.io/controller-tools v0.16.1 // indirect
	sigs.k8s.io/json v0.0.0-20241010143419-9aa6b5e7a4b3 // indirect
	sigs.k8s.io/structured-merge-diff/v4 v4.4.2 // indirect
	sigs.k8s.io/yaml v1.4.0 // indirect
)
