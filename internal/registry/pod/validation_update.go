package pod

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// updatablePodSpecFields are the spec fields a pod update may change, as Kubernetes lists them in its error.
var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// validatePodUpdate is Kubernetes' ValidatePodUpdate: the new pod must be valid, and of its spec only the
// container images, activeDeadlineSeconds (lowered), tolerations (added) and a negative grace period
// (raised to 1) may change. metaErrs are the metadata errors of the new pod and of the update.
func validatePodUpdate(newPod, oldPod *v1.Pod, metaErrs field.ErrorList) field.ErrorList {
	allErrs := validatePodMetadataAndSpec(newPod, metaErrs)
	allErrs = append(allErrs, validateMirrorAnnotationUpdate(newPod, oldPod)...)
	specPath := field.NewPath("spec")

	for _, list := range []struct {
		name     string
		new, old []v1.Container
	}{{"containers", newPod.Spec.Containers, oldPod.Spec.Containers}, {"initContainers", newPod.Spec.InitContainers, oldPod.Spec.InitContainers}} {
		errs, stop := validateContainerUpdates(list.new, list.old, specPath.Child(list.name))
		allErrs = append(allErrs, errs...)
		if stop {
			return allErrs
		}
	}

	// activeDeadlineSeconds may be set from nil, or lowered.
	deadlinePath := specPath.Child("activeDeadlineSeconds")
	if newDeadline := newPod.Spec.ActiveDeadlineSeconds; newDeadline != nil {
		if *newDeadline < 0 || *newDeadline > math.MaxInt32 {
			return append(allErrs, field.Invalid(deadlinePath, *newDeadline, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if old := oldPod.Spec.ActiveDeadlineSeconds; old != nil && *old < *newDeadline {
			return append(allErrs, field.Invalid(deadlinePath, *newDeadline, "must be less than or equal to previous value"))
		}
	} else if oldPod.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Invalid(deadlinePath, newPod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	allErrs = append(allErrs, validateOnlyAddedTolerations(newPod.Spec.Tolerations, oldPod.Spec.Tolerations, specPath.Child("tolerations"))...)

	if apiequality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		return allErrs
	}
	// Put the old values back into the fields that may change; any remaining difference is forbidden.
	munged := *newPod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldPod.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldPod.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = oldPod.Spec.ActiveDeadlineSeconds
	munged.Tolerations = oldPod.Spec.Tolerations
	if old := oldPod.Spec.TerminationGracePeriodSeconds; old != nil && *old < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = old
	}
	if !apiequality.Semantic.DeepEqual(munged, oldPod.Spec) {
		specDiff := cmp.Diff(oldPod.Spec, munged)
		allErrs = append(allErrs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%v",
			strings.Join(updatablePodSpecFields, ","), specDiff)))
	}
	return allErrs
}

func validateContainerUpdates(newContainers, oldContainers []v1.Container, fldPath *field.Path) (field.ErrorList, bool) {
	if len(newContainers) != len(oldContainers) {
		return field.ErrorList{field.Forbidden(fldPath, "pod updates may not add or remove containers")}, true
	}
	allErrs := field.ErrorList{}
	for i, c := range newContainers {
		if len(c.Image) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Index(i).Child("image"), ""))
		}
		if len(strings.TrimSpace(c.Image)) != len(c.Image) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	return allErrs, false
}

// validateOnlyAddedTolerations lets an update add tolerations and change tolerationSeconds, nothing else.
func validateOnlyAddedTolerations(newTolerations, oldTolerations []v1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, old := range oldTolerations {
		found := false
		for _, t := range newTolerations {
			candidate := old
			candidate.TolerationSeconds = t.TolerationSeconds
			if reflect.DeepEqual(candidate, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return validateTolerations(newTolerations, fldPath)
}

func validateMirrorAnnotationUpdate(newPod, oldPod *v1.Pod) field.ErrorList {
	fldPath := field.NewPath("metadata", "annotations").Key(v1.MirrorPodAnnotationKey)
	oldValue, hadMirror := oldPod.Annotations[v1.MirrorPodAnnotationKey]
	newValue, hasMirror := newPod.Annotations[v1.MirrorPodAnnotationKey]
	switch {
	case hadMirror && (!hasMirror || newValue != oldValue):
		return field.ErrorList{field.Forbidden(fldPath, "may not remove or update mirror pod annotation")}
	case !hadMirror && hasMirror:
		return field.ErrorList{field.Forbidden(fldPath, "may not add mirror pod annotation")}
	}
	return nil
}

var podPhases = []v1.PodPhase{v1.PodPending, v1.PodRunning, v1.PodSucceeded, v1.PodFailed, v1.PodUnknown}

// validatePodStatusUpdate is Kubernetes' ValidatePodStatusUpdate, plus a check that the phase is one of
// the five Kubernetes defines. metaErrs are the metadata errors of the update.
func validatePodStatusUpdate(newPod, oldPod *v1.Pod, metaErrs field.ErrorList) field.ErrorList {
	allErrs := append(field.ErrorList{}, metaErrs...)
	allErrs = append(allErrs, validateMirrorAnnotationUpdate(newPod, oldPod)...)
	allErrs = append(allErrs, validatePodAnnotations(newPod.Annotations, &newPod.Spec, field.NewPath("metadata", "annotations"))...)
	// Kubernetes reports condition types under metadata, with a capital T.
	conditionsPath := field.NewPath("metadata", "conditions")
	for i, c := range newPod.Status.Conditions {
		switch c.Type {
		case v1.PodScheduled, v1.PodReady, v1.PodInitialized:
			continue
		}
		allErrs = append(allErrs, validateQualifiedName(string(c.Type), conditionsPath.Index(i).Child("Type"))...)
	}

	statusPath := field.NewPath("status")
	if newPod.Spec.NodeName != oldPod.Spec.NodeName {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := newPod.Status.NominatedNodeName; n != oldPod.Status.NominatedNodeName && len(n) > 0 {
		for _, msg := range apivalidation.NameIsDNSSubdomain(n, false) {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("nominatedNodeName"), n, msg))
		}
	}
	allErrs = append(allErrs, apivalidation.ValidateImmutableField(newPod.Status.QOSClass, oldPod.Status.QOSClass, statusPath.Child("qosClass"))...)
	if phase := newPod.Status.Phase; phase != "" {
		allErrs = append(allErrs, validateEnum(phase, statusPath.Child("phase"), podPhases)...)
	}
	allErrs = append(allErrs, validateContainerStateTransition(newPod.Status.ContainerStatuses, oldPod.Status.ContainerStatuses,
		statusPath.Child("containerStatuses"), oldPod.Spec.RestartPolicy, nil)...)
	allErrs = append(allErrs, validateContainerStateTransition(newPod.Status.InitContainerStatuses, oldPod.Status.InitContainerStatuses,
		statusPath.Child("initContainerStatuses"), oldPod.Spec.RestartPolicy, sidecarNames(oldPod.Spec.InitContainers))...)
	allErrs = append(allErrs, validateStatusIPs(newPod)...)
	return allErrs
}

func sidecarNames(initContainers []v1.Container) sets.Set[string] {
	names := sets.New[string]()
	for _, c := range initContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			names.Insert(c.Name)
		}
	}
	return names
}

// validateContainerStateTransition forbids bringing back a terminated container that its restart policy
// does not restart (sidecars always restart).
func validateContainerStateTransition(newStatuses, oldStatuses []v1.ContainerStatus, fldPath *field.Path, policy v1.RestartPolicy, restartable sets.Set[string]) field.ErrorList {
	if policy == v1.RestartPolicyAlways {
		return nil
	}
	allErrs := field.ErrorList{}
	for i, old := range oldStatuses {
		if old.State.Terminated == nil || restartable.Has(old.Name) {
			continue
		}
		if old.State.Terminated.ExitCode != 0 && policy == v1.RestartPolicyOnFailure {
			continue
		}
		for _, s := range newStatuses {
			if s.Name == old.Name && s.State.Terminated == nil {
				allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return allErrs
}

func validateStatusIPs(pod *v1.Pod) field.ErrorList {
	allErrs := field.ErrorList{}
	podIPsPath := field.NewPath("status", "podIPs")
	for i, ip := range pod.Status.PodIPs {
		allErrs = append(allErrs, validation.IsValidIP(podIPsPath.Index(i), ip.IP)...)
	}
	allErrs = append(allErrs, validateIPFamilies(podIPsPath, ipStrings(pod.Status.PodIPs, func(ip v1.PodIP) string { return ip.IP }))...)

	if len(pod.Status.HostIPs) == 0 {
		return allErrs
	}
	hostIPsPath := field.NewPath("status", "hostIPs")
	if pod.Status.HostIP != pod.Status.HostIPs[0].IP {
		allErrs = append(allErrs, field.Invalid(hostIPsPath.Index(0).Child("ip"), pod.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
	}
	for i, ip := range pod.Status.HostIPs {
		allErrs = append(allErrs, validation.IsValidIP(hostIPsPath.Index(i), ip.IP)...)
	}
	return append(allErrs, validateIPFamilies(hostIPsPath, ipStrings(pod.Status.HostIPs, func(ip v1.HostIP) string { return ip.IP }))...)
}

func ipStrings[T any](ips []T, ip func(T) string) []string {
	out := make([]string, len(ips))
	for i := range ips {
		out[i] = ip(ips[i])
	}
	return out
}

// validateIPFamilies allows at most one address per IP family, without duplicates.
func validateIPFamilies(fldPath *field.Path, ips []string) field.ErrorList {
	if len(ips) < 2 {
		return nil
	}
	allErrs := field.ErrorList{}
	seen := sets.New[string]()
	v4 := 0
	for i, ip := range ips {
		if seen.Has(ip) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), ip))
		}
		seen.Insert(ip)
		if !strings.Contains(ip, ":") {
			v4++
		}
	}
	if len(ips) > 2 || v4 != 1 {
		allErrs = append(allErrs, field.Invalid(fldPath, ips, "may specify no more than one IP for each IP family"))
	}
	return allErrs
}
