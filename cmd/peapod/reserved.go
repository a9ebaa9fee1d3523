package main

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// reservedFlag is a kubelet reserve flag (--system-reserved, --kube-reserved):
// cpu=100m,memory=256Mi,ephemeral-storage=1Gi,pid=1000.
type reservedFlag struct{ list *corev1.ResourceList }

// reservable reports whether the kubelet accepts name in a reserve.
func reservable(name corev1.ResourceName) bool {
	switch name {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, "pid":
		return true
	}
	return false
}

func (f reservedFlag) Set(value string) error {
	list := corev1.ResourceList{}
	for _, pair := range strings.Split(value, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("%q is not name=quantity", pair)
		}
		name := corev1.ResourceName(strings.TrimSpace(k))
		if !reservable(name) {
			return fmt.Errorf("cannot reserve %q: only cpu, memory, ephemeral-storage and pid", name)
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s=%s: %w", name, v, err)
		}
		if q.Sign() < 0 {
			return fmt.Errorf("%s=%s: a reserve cannot be negative", name, v)
		}
		list[name] = q
	}
	*f.list = list
	return nil
}

func (f reservedFlag) String() string {
	if f.list == nil {
		return ""
	}
	var pairs []string
	for name, q := range *f.list {
		pairs = append(pairs, string(name)+"="+q.String())
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

func (reservedFlag) Type() string { return "name=quantity,..." }
