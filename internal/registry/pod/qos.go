package pod

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// qosClass computes a pod's QoS class as Kubernetes does (pkg/apis/core/helper/qos.ComputePodQOS, without
// pod-level resources): BestEffort with no cpu or memory requests or limits; Guaranteed when every
// container (init containers included) has cpu and memory limits and the summed requests equal the summed
// limits; Burstable otherwise.
func qosClass(pod *v1.Pod) v1.PodQOSClass {
	requests, limits := v1.ResourceList{}, v1.ResourceList{}
	guaranteed := true
	for _, containers := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range containers {
			addPositive(requests, c.Resources.Requests)
			limited := addPositive(limits, c.Resources.Limits)
			if !limited[v1.ResourceCPU] || !limited[v1.ResourceMemory] {
				guaranteed = false
			}
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return v1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return v1.PodQOSGuaranteed
	}
	return v1.PodQOSBurstable
}

// addPositive adds the positive cpu and memory quantities of list into sum and says which it found.
func addPositive(sum, list v1.ResourceList) map[v1.ResourceName]bool {
	found := map[v1.ResourceName]bool{}
	zero := resource.Quantity{}
	for name, q := range list {
		if name != v1.ResourceCPU && name != v1.ResourceMemory || q.Cmp(zero) <= 0 {
			continue
		}
		found[name] = true
		total := q.DeepCopy()
		if prev, ok := sum[name]; ok {
			total.Add(prev)
		}
		sum[name] = total
	}
	return found
}
