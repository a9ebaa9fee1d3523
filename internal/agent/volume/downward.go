package volume

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DownwardAPIPayload builds a downwardAPI volume's files. Like the kubelet it collects every item's error
// and returns them together; an item with neither fieldRef nor resourceFieldRef is an empty file.
func DownwardAPIPayload(pod *v1.Pod, items []v1.DownwardAPIVolumeFile, defaultMode int32, allocatable v1.ResourceList) (map[string]File, error) {
	files := make(map[string]File, len(items))
	var errs []error
	for _, item := range items {
		f := File{Mode: modeOr(item.Mode, defaultMode)}
		switch {
		case item.FieldRef != nil:
			value, err := FieldValue(pod, item.FieldRef.FieldPath)
			if err != nil {
				errs = append(errs, err)
			} else {
				f.Data = []byte(sortLines(value))
			}
		case item.ResourceFieldRef != nil:
			value, err := ResourceValue(pod, item.ResourceFieldRef, item.ResourceFieldRef.ContainerName, allocatable)
			if err != nil {
				errs = append(errs, err)
			} else {
				f.Data = []byte(sortLines(value))
			}
		}
		files[filepath.Clean(item.Path)] = f
	}
	return files, utilerrors.NewAggregate(errs)
}

// sortLines sorts a value's lines, as the kubelet does to every downward API file: labels and annotations
// come out in line order (which is not quite key order), and so do the lines of a multi-line value.
func sortLines(value string) string {
	lines := strings.Split(value, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// FormatMap renders labels or annotations as the kubelet does: `key="value"` lines sorted by key, values
// quoted with %q, no trailing newline.
func FormatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// FieldValue resolves a downward API fieldRef path against pod: metadata.name, metadata.namespace,
// metadata.uid, metadata.labels, metadata.annotations, metadata.labels['k'], metadata.annotations['k'],
// spec.nodeName, spec.serviceAccountName, status.hostIP(s), status.podIP(s). A subscripted key the pod
// lacks resolves to "", as in the kubelet.
func FieldValue(pod *v1.Pod, fieldPath string) (string, error) {
	if path, key, ok := splitSubscript(fieldPath); ok {
		switch path {
		case "metadata.annotations":
			// Annotation keys may be upper case; the qualified-name check is on the lowered key.
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		}
		return "", fmt.Errorf("fieldPath %q does not support subscript", fieldPath)
	}
	switch fieldPath {
	case "metadata.annotations":
		return FormatMap(pod.Annotations), nil
	case "metadata.labels":
		return FormatMap(pod.Labels), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.hostIPs":
		ips := make([]string, len(pod.Status.HostIPs))
		for i, ip := range pod.Status.HostIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		ips := make([]string, len(pod.Status.PodIPs))
		for i, ip := range pod.Status.PodIPs {
			ips[i] = ip.IP
		}
		return strings.Join(ips, ","), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", fieldPath)
}

// splitSubscript splits "metadata.labels['k']" into ("metadata.labels", "k", true).
func splitSubscript(fieldPath string) (string, string, bool) {
	s, ok := strings.CutSuffix(fieldPath, "']")
	if !ok {
		return fieldPath, "", false
	}
	path, key, ok := strings.Cut(s, "['")
	if !ok || path == "" {
		return fieldPath, "", false
	}
	return path, key, true
}

// ResourceValue resolves a resourceFieldRef for the named container (app or init) of pod: the quantity
// divided by the divisor (default 1) and rounded up. A missing or zero cpu, memory or ephemeral-storage
// limit reads as the node's allocatable amount, as the kubelet does.
func ResourceValue(pod *v1.Pod, fs *v1.ResourceFieldSelector, containerName string, allocatable v1.ResourceList) (string, error) {
	c := findContainer(pod, containerName)
	if c == nil {
		return "", fmt.Errorf("container %s not found", containerName)
	}
	limits := make(v1.ResourceList, len(c.Resources.Limits)+3)
	for name, q := range c.Resources.Limits {
		limits[name] = q
	}
	for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage} {
		if q, ok := limits[name]; ok && !q.IsZero() {
			continue
		}
		if q, ok := allocatable[name]; ok {
			limits[name] = q.DeepCopy()
		}
	}
	requests := c.Resources.Requests

	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	switch fs.Resource {
	case "limits.cpu":
		return ceilMilli(limits.Cpu(), divisor), nil
	case "limits.memory":
		return ceilUnits(limits.Memory(), divisor), nil
	case "limits.ephemeral-storage":
		return ceilUnits(limits.StorageEphemeral(), divisor), nil
	case "requests.cpu":
		return ceilMilli(requests.Cpu(), divisor), nil
	case "requests.memory":
		return ceilUnits(requests.Memory(), divisor), nil
	case "requests.ephemeral-storage":
		return ceilUnits(requests.StorageEphemeral(), divisor), nil
	}
	return "", fmt.Errorf("Unsupported container resource : %v", fs.Resource) // the kubelet's wording, capital and space included
}

func findContainer(pod *v1.Pod, name string) *v1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

// ceilMilli divides in milli-units, so a 250m limit with divisor 1 reads "1" and with divisor 1m "250".
func ceilMilli(q *resource.Quantity, divisor resource.Quantity) string {
	return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10)
}

// ceilUnits divides in whole units (bytes).
func ceilUnits(q *resource.Quantity, divisor resource.Quantity) string {
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10)
}
