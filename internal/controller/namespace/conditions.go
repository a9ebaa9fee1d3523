package namespace

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod-dev/peapod/internal/kube"
)

// conditionTypes are the conditions this controller maintains on a terminating namespace.
func conditionTypes() []corev1.NamespaceConditionType {
	return []corev1.NamespaceConditionType{
		corev1.NamespaceDeletionDiscoveryFailure,
		corev1.NamespaceDeletionGVParsingFailure,
		corev1.NamespaceDeletionContentFailure,
		corev1.NamespaceContentRemaining,
		corev1.NamespaceFinalizersRemaining,
	}
}

// okCondition is a condition as Kubernetes reports it when it is not failing.
func okCondition(conditionType corev1.NamespaceConditionType) corev1.NamespaceCondition {
	c := corev1.NamespaceCondition{Type: conditionType, Status: corev1.ConditionFalse}
	switch conditionType {
	case corev1.NamespaceDeletionDiscoveryFailure:
		c.Reason, c.Message = "ResourcesDiscovered", "All resources successfully discovered"
	case corev1.NamespaceDeletionGVParsingFailure:
		c.Reason, c.Message = "ParsedGroupVersions", "All legacy kube types successfully parsed"
	case corev1.NamespaceDeletionContentFailure:
		c.Reason, c.Message = "ContentDeleted", "All content successfully deleted, may be waiting on finalization"
	case corev1.NamespaceContentRemaining:
		c.Reason, c.Message = "ContentRemoved", "All content successfully removed"
	case corev1.NamespaceFinalizersRemaining:
		c.Reason, c.Message = "ContentHasNoFinalizers", "All content-preserving finalizers finished"
	}
	return c
}

// conditionUpdater collects what went wrong during one deletion pass and turns it into conditions.
type conditionUpdater struct {
	failing             []corev1.NamespaceCondition
	deleteContentErrors []string
}

func (u *conditionUpdater) discoveryFailed(err error) {
	message := err.Error()
	var groupErr *kube.ErrGroupDiscoveryFailed
	if errors.As(err, &groupErr) {
		message = fmt.Sprintf("Discovery failed for some groups, %d failing: %v", len(groupErr.Groups), err)
	}
	u.fail(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", message)
}

func (u *conditionUpdater) groupVersionParsingFailed(err error) {
	u.fail(corev1.NamespaceDeletionGVParsingFailure, "GroupVersionParsingFailed", err.Error())
}

func (u *conditionUpdater) deleteContentFailed(err error) {
	u.deleteContentErrors = append(u.deleteContentErrors, err.Error())
}

func (u *conditionUpdater) contentRemaining(totals remainingTotals) {
	if len(totals.byResource) > 0 {
		var parts []string
		for gvr, n := range totals.byResource {
			parts = append(parts, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
		slices.Sort(parts)
		u.fail(corev1.NamespaceContentRemaining, "SomeResourcesRemain",
			"Some resources are remaining: "+strings.Join(parts, ", "))
	}
	if len(totals.byFinalizer) > 0 {
		var parts []string
		for finalizer, n := range totals.byFinalizer {
			parts = append(parts, fmt.Sprintf("%s in %d resource instances", finalizer, n))
		}
		slices.Sort(parts)
		u.fail(corev1.NamespaceFinalizersRemaining, "SomeFinalizersRemain",
			"Some content in the namespace has finalizers remaining: "+strings.Join(parts, ", "))
	}
}

func (u *conditionUpdater) fail(conditionType corev1.NamespaceConditionType, reason, message string) {
	u.failing = append(u.failing, corev1.NamespaceCondition{
		Type: conditionType, Status: corev1.ConditionTrue, Reason: reason, Message: message,
	})
}

// apply writes every maintained condition into status (True with the failure, or False with the
// ok reason) and reports whether anything changed. The transition time moves only when the status does.
func (u *conditionUpdater) apply(status *corev1.NamespaceStatus, now metav1.Time) bool {
	if len(u.deleteContentErrors) > 0 {
		messages := slices.Sorted(slices.Values(u.deleteContentErrors))
		u.fail(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(messages), strings.Join(messages, ", ")))
	}
	changed := false
	for _, conditionType := range conditionTypes() {
		want := okCondition(conditionType)
		if i := slices.IndexFunc(u.failing, func(c corev1.NamespaceCondition) bool { return c.Type == conditionType }); i >= 0 {
			want = u.failing[i]
		}
		i := slices.IndexFunc(status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == conditionType })
		if i < 0 {
			want.LastTransitionTime = now
			status.Conditions = append(status.Conditions, want)
			changed = true
			continue
		}
		have := &status.Conditions[i]
		if have.Status == want.Status && have.Reason == want.Reason && have.Message == want.Message {
			continue
		}
		if have.Status != want.Status {
			have.LastTransitionTime = now
		}
		have.Status, have.Reason, have.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	return changed
}
