package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/registry"
)

// Limits Kubernetes puts on events that carry an eventTime (the events.k8s.io style).
const (
	eventReportingInstanceLimit = 128
	eventActionLimit            = 128
	eventReasonLimit            = 128
	eventMessageLimit           = 1024
)

// Events is the core/v1 events resource.
func Events() *registry.Resource {
	return &registry.Resource{
		GroupVersion: groupVersion(),
		Kind:         "Event",
		Name:         "events",
		SingularName: "event",
		ShortNames:   []string{"ev"},
		Namespaced:   true,
		Verbs:        allVerbs(),
		New:          func() runtime.Object { return &corev1.Event{} },
		NewList:      func() runtime.Object { return &corev1.EventList{} },
		// Core v1 events only get the generic metadata check, whose name rule is "a valid path segment":
		// event names such as "pod.17a3b1c2d3e4f5a6" would pass a DNS check anyway.
		Strategy: EventStrategy{registry.DefaultStrategy{Namespaced: true, NameValidator: path.ValidatePathSegmentName}},
	}
}

// EventStrategy is Kubernetes' event strategy (pkg/registry/core/event) with the validation the core/v1
// API applies (legacy validation only).
type EventStrategy struct{ registry.DefaultStrategy }

// PrepareForCreate does nothing: Kubernetes keeps an event as sent and tracks no generation for it.
func (EventStrategy) PrepareForCreate(context.Context, runtime.Object) {}

func (s EventStrategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return typeError("Event", obj)
	}
	return append(s.ValidateMeta(ev), validateEvent(ev)...)
}

func (s EventStrategy) ValidateUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return typeError("Event", obj)
	}
	return append(s.ValidateMetaUpdate(obj, old), validateEvent(ev)...)
}

// validateEvent is Kubernetes' legacy event validation as the core/v1 API applies it: the namespace must
// match the involved object's, and an event with an eventTime must name its reporter, action and reason.
func validateEvent(ev *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	involvedNS := field.NewPath("involvedObject", "namespace")
	if ev.EventTime.IsZero() {
		if ev.InvolvedObject.Namespace == "" {
			// Old clients put events about cluster-scoped objects in "default".
			if ev.Namespace != metav1.NamespaceNone && ev.Namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if ev.Namespace != ev.InvolvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
	} else {
		if ev.InvolvedObject.Namespace == "" && ev.Namespace != metav1.NamespaceDefault && ev.Namespace != metav1.NamespaceSystem {
			allErrs = append(allErrs, field.Invalid(involvedNS, ev.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		// The core/v1 field is called reportingComponent.
		reporter := field.NewPath("reportingComponent")
		if ev.ReportingController == "" {
			allErrs = append(allErrs, field.Required(reporter, ""))
		}
		for _, msg := range validation.IsQualifiedName(ev.ReportingController) {
			allErrs = append(allErrs, field.Invalid(reporter, ev.ReportingController, msg))
		}
		allErrs = append(allErrs, requiredWithLimit(field.NewPath("reportingInstance"), ev.ReportingInstance, eventReportingInstanceLimit)...)
		allErrs = append(allErrs, requiredWithLimit(field.NewPath("action"), ev.Action, eventActionLimit)...)
		allErrs = append(allErrs, requiredWithLimit(field.NewPath("reason"), ev.Reason, eventReasonLimit)...)
		if len(ev.Message) > eventMessageLimit {
			allErrs = append(allErrs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", eventMessageLimit)))
		}
	}
	for _, msg := range validation.IsDNS1123Subdomain(ev.Namespace) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("namespace"), ev.Namespace, msg))
	}
	return allErrs
}

func requiredWithLimit(fldPath *field.Path, value string, limit int) field.ErrorList {
	if value == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	if len(value) > limit {
		return field.ErrorList{field.Invalid(fldPath, "", fmt.Sprintf("can have at most %v characters", limit))}
	}
	return nil
}

func (EventStrategy) TableColumns() []metav1.TableColumnDefinition {
	ev := corev1.Event{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Last Seen", Type: "string", Description: ev["lastTimestamp"]},
		{Name: "Type", Type: "string", Description: ev["type"]},
		{Name: "Reason", Type: "string", Description: ev["reason"]},
		{Name: "Object", Type: "string", Description: ev["involvedObject"]},
		{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
		{Name: "Source", Type: "string", Priority: 1, Description: ev["source"]},
		{Name: "Message", Type: "string", Description: ev["message"]},
		{Name: "First Seen", Type: "string", Priority: 1, Description: ev["firstTimestamp"]},
		{Name: "Count", Type: "string", Priority: 1, Description: ev["count"]},
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	}
}

func (EventStrategy) TableRow(obj runtime.Object) ([]interface{}, error) {
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return nil, unexpectedType("Event", obj)
	}
	return eventCells(ev, time.Now()), nil
}

// eventCells computes the row as Kubernetes' printEvent does: first/last seen fall back to eventTime and
// the series for events.k8s.io-style events, a count of 0 means a singleton, OBJECT is "kind/name".
func eventCells(ev *corev1.Event, now time.Time) []interface{} {
	firstSeen := sinceString(ev.FirstTimestamp.Time, now)
	if ev.FirstTimestamp.IsZero() {
		firstSeen = sinceString(ev.EventTime.Time, now)
	}
	lastSeen := sinceString(ev.LastTimestamp.Time, now)
	if ev.LastTimestamp.IsZero() {
		lastSeen = firstSeen
	}
	count := ev.Count
	if ev.Series != nil {
		lastSeen = sinceString(ev.Series.LastObservedTime.Time, now)
		count = ev.Series.Count
	} else if count == 0 {
		count = 1
	}
	object := strings.ToLower(ev.InvolvedObject.Kind)
	if ev.InvolvedObject.Name != "" {
		object += "/" + ev.InvolvedObject.Name
	}
	return []interface{}{
		lastSeen,
		ev.Type,
		ev.Reason,
		object,
		ev.InvolvedObject.FieldPath,
		eventSource(ev),
		strings.TrimSpace(ev.Message),
		firstSeen,
		int64(count),
		ev.Name,
	}
}

// eventSource is "component, host", falling back to the events.k8s.io reporting fields.
func eventSource(ev *corev1.Event) string {
	component := ev.Source.Component
	if component == "" {
		component = ev.ReportingController
	}
	host := ev.Source.Host
	if host == "" {
		host = ev.ReportingInstance
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}

// sinceString is kubectl's age of t: "<unknown>" for the zero time.
func sinceString(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// SelectableFields are Kubernetes' event field selectors: involvedObject.*, reason, reportingComponent,
// source (component, or the reporting controller) and type.
func (EventStrategy) SelectableFields(obj runtime.Object) fields.Set {
	set := registry.MetaFields(obj)
	ev, ok := obj.(*corev1.Event)
	if !ok {
		return set
	}
	source := ev.Source.Component
	if source == "" {
		source = ev.ReportingController
	}
	set["involvedObject.kind"] = ev.InvolvedObject.Kind
	set["involvedObject.namespace"] = ev.InvolvedObject.Namespace
	set["involvedObject.name"] = ev.InvolvedObject.Name
	set["involvedObject.uid"] = string(ev.InvolvedObject.UID)
	set["involvedObject.apiVersion"] = ev.InvolvedObject.APIVersion
	set["involvedObject.resourceVersion"] = ev.InvolvedObject.ResourceVersion
	set["involvedObject.fieldPath"] = ev.InvolvedObject.FieldPath
	set["reason"] = ev.Reason
	set["reportingComponent"] = ev.ReportingController
	set["source"] = source
	set["type"] = ev.Type
	return set
}
