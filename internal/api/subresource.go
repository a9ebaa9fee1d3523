package api

import (
	"errors"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// bind serves POST pods/<name>/binding: it assigns the pod to the binding's node, as kube-apiserver's
// BindingREST does.
func (h *handler) bind(w http.ResponseWriter, r *http.Request, rq *request) {
	opts, err := parseWriteOptions(r, rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	binding := &corev1.Binding{}
	warnings, err := h.decodeBody(r, binding, opts.fieldValidation)
	addWarnings(w, warnings)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if binding.Name != "" && binding.Name != rq.name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf(
			"the name of the object (%s) does not match the name on the URL (%s)", binding.Name, rq.name)))
		return
	}
	if binding.Namespace != "" && binding.Namespace != rq.namespace {
		writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	if binding.Target.Kind != "" && binding.Target.Kind != "Node" {
		writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, rq.name, fieldErrors("target.kind", binding.Target.Kind, "must be empty or 'Node'")))
		return
	}
	if binding.Target.Name == "" {
		writeError(w, r, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, rq.name, fieldErrors("target.name", "", "must be non-empty")))
		return
	}
	conflict := func(reason string) error {
		return apierrors.NewConflict(schema.GroupResource{Resource: "pods/binding"}, rq.name, errors.New(reason))
	}
	podRequest := *rq
	podRequest.subresource = ""
	_, _, err = h.guaranteedUpdate(r.Context(), &podRequest, opts.dryRun, func(current runtime.Object) (runtime.Object, []string, error) {
		pod, ok := current.DeepCopyObject().(*corev1.Pod)
		if !ok {
			return nil, nil, apierrors.NewMethodNotSupported(rq.groupResource(), "binding")
		}
		switch {
		case binding.UID != "" && binding.UID != pod.UID:
			return nil, nil, conflict(fmt.Sprintf("the UID in the binding (%s) does not match the UID in record (%s)", binding.UID, pod.UID))
		case binding.ResourceVersion != "" && binding.ResourceVersion != pod.ResourceVersion:
			return nil, nil, conflict(optimisticLockErrorMsg)
		case pod.DeletionTimestamp != nil:
			return nil, nil, conflict(fmt.Sprintf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		case pod.Spec.NodeName != "":
			return nil, nil, conflict(fmt.Sprintf("pod %v is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		case len(pod.Spec.SchedulingGates) != 0:
			return nil, nil, conflict(fmt.Sprintf("pod %v has non-empty .spec.schedulingGates", pod.Name))
		}
		pod.Spec.NodeName = binding.Target.Name
		for k, v := range binding.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodScheduled(&pod.Status)
		return pod, nil, nil
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusCreated, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Code:     http.StatusCreated,
	})
}

// setPodScheduled sets the PodScheduled condition to True, as Kubernetes' UpdatePodCondition does.
func setPodScheduled(status *corev1.PodStatus) {
	now := metav1.Now()
	for i := range status.Conditions {
		c := &status.Conditions[i]
		if c.Type != corev1.PodScheduled {
			continue
		}
		if c.Status != corev1.ConditionTrue {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		c.LastProbeTime = metav1.Time{}
		return
	}
	status.Conditions = append(status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now})
}

func fieldErrors(path string, value any, detail string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, detail)}
}
