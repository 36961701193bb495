package main

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// kwok manages (heartbeats, marks Ready, runs the pods of) the nodes carrying this annotation.
const fakeNodeAnnotation = "kwok.x-k8s.io/node"

const controlPlane = "node-role.kubernetes.io/control-plane"

// createNodes registers the fake nodes ("name[=IP][,control-plane]") that kwok then keeps Ready; pods
// the scheduler binds to them become Running and Ready without a kubelet. A control-plane node is
// labelled and tainted as Talos does (node-role.kubernetes.io/control-plane, NoSchedule). Existing
// nodes are kept.
func createNodes(ctx context.Context, kubeconfig string, nodes []string, defaultIP string) error {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	for _, spec := range nodes {
		spec, role, _ := strings.Cut(spec, ",")
		name, ip, found := strings.Cut(spec, "=")
		if !found {
			ip = defaultIP
		}
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("32"),
			corev1.ResourceMemory: resource.MustParse("256Gi"),
			corev1.ResourcePods:   resource.MustParse("250"),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{fakeNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
			},
			Status: corev1.NodeStatus{
				Capacity:    capacity,
				Allocatable: capacity,
				Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}},
			},
		}
		if role == "control-plane" {
			node.Labels[controlPlane] = ""
			node.Spec.Taints = []corev1.Taint{{Key: controlPlane, Effect: corev1.TaintEffectNoSchedule}}
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}
