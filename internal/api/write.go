package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/api/mutate"
	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/storage"
)

const (
	// maxRequestBodyBytes is kube-apiserver's limit on a request body (3 MiB).
	maxRequestBodyBytes = 3 << 20
	// maxUpdateAttempts bounds read-modify-write retries on storage conflicts.
	maxUpdateAttempts = 16
	// maxGenerateNameAttempts is how often a create with generateName retries a taken name (Kubernetes: 8).
	maxGenerateNameAttempts = 8
	// maxGeneratedNameLength leaves room for the 5 random characters within 63.
	maxGeneratedNameLength = 63 - 5
)

// writeOptions are the query parameters every write takes.
type writeOptions struct {
	dryRun          bool
	fieldManager    string
	fieldValidation string
}

func parseWriteOptions(r *http.Request, query map[string][]string) (writeOptions, error) {
	opts := writeOptions{fieldValidation: first(query["fieldValidation"])}
	for _, v := range query["dryRun"] {
		if v != metav1.DryRunAll {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun value %q: supported values: %q", v, metav1.DryRunAll))
		}
		opts.dryRun = true
	}
	opts.fieldManager = mutate.ManagerName(first(query["fieldManager"]), r.UserAgent())
	return opts, nil
}

func first(values []string) string {
	if len(values) == 0 {
		return ""
	}
	return values[0]
}

// readBody reads a request body up to kube-apiserver's limit.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if len(body) > maxRequestBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxRequestBodyBytes))
	}
	return body, nil
}

// decodeBody decodes the request body into into under the fieldValidation directive.
func (h *handler) decodeBody(r *http.Request, into runtime.Object, fieldValidation string) ([]string, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return h.mutator.Decode(r.Header.Get("Content-Type"), body, into, fieldValidation)
}

// readWriteRequest reads what create and update share: the response format, the write options and the
// body, decoded into into. It returns the decoding warnings.
func (h *handler) readWriteRequest(r *http.Request, rq *request, into runtime.Object) (output, writeOptions, []string, error) {
	out, err := negotiateOutput(r, targetObject)
	if err != nil {
		return out, writeOptions{}, nil, err
	}
	opts, err := parseWriteOptions(r, rq.query)
	if err != nil {
		return out, opts, nil, err
	}
	warnings, err := h.decodeBody(r, into, opts.fieldValidation)
	return out, opts, warnings, err
}

// create serves POST of a new object.
func (h *handler) create(w http.ResponseWriter, r *http.Request, rq *request) {
	obj := rq.res.New()
	out, opts, warnings, err := h.readWriteRequest(r, rq, obj)
	if err != nil {
		writeError(w, r, err)
		return
	}
	created, moreWarnings, err := h.createObject(r.Context(), rq, obj, opts, true)
	addWarnings(w, append(warnings, moreWarnings...))
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeObject(w, r, rq.res, http.StatusCreated, created, out)
}

// createObject runs Kubernetes' create path on a decoded object: namespace checks, generateName,
// defaulting, system fields, validation, managedFields, then the store.
//
// recordManager=false skips the managedFields record for objects a server-side apply already stamped.
func (h *handler) createObject(ctx context.Context, rq *request, obj runtime.Object, opts writeOptions, recordManager bool) (runtime.Object, []string, error) {
	res := rq.res
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("%s has no metadata: %v", res.Kind, err))
	}
	if err := ensureNamespace(res, rq.namespace, accessor); err != nil {
		return nil, nil, err
	}
	if accessor.GetResourceVersion() != "" {
		return nil, nil, apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	generated := accessor.GetName() == "" && accessor.GetGenerateName() != ""
	if generated {
		accessor.SetName(generateName(accessor.GetGenerateName()))
	}
	if res.Namespaced {
		if err := h.admitNamespace(ctx, res, accessor.GetNamespace(), accessor.GetName()); err != nil {
			return nil, nil, err
		}
	}

	res.Strategy.Default(obj)
	// As in kube-apiserver, ownership is recorded for what the client sent plus defaults, before the
	// server's own additions (admission-like changes in PrepareForCreate), so that those stay unowned and
	// a later server-side apply does not remove them.
	if recordManager {
		if obj, err = h.mutator.UpdateManagedFields(res, obj, nil, opts.fieldManager, ""); err != nil {
			return nil, nil, err
		}
		if accessor, err = meta.Accessor(obj); err != nil {
			return nil, nil, apierrors.NewInternalError(err)
		}
	}
	accessor.SetDeletionTimestamp(nil)
	accessor.SetDeletionGracePeriodSeconds(nil)
	res.Strategy.PrepareForCreate(ctx, obj)
	accessor.SetUID(uuid.NewUUID())
	accessor.SetCreationTimestamp(metav1.Now())
	if errs := res.Strategy.Validate(ctx, obj); len(errs) > 0 {
		return nil, nil, apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), accessor.GetName(), errs)
	}
	warnings := res.Strategy.Warnings(ctx, obj, nil)
	if opts.dryRun {
		return obj, warnings, nil
	}

	for attempt := 1; ; attempt++ {
		data, err := h.codec.encode(res, obj)
		if err != nil {
			return nil, warnings, apierrors.NewInternalError(err)
		}
		rev, err := h.cfg.Store.Create(ctx, objectKey(res, accessor.GetNamespace(), accessor.GetName()), data)
		if errors.Is(err, storage.ErrExists) && generated && attempt < maxGenerateNameAttempts {
			accessor.SetName(generateName(accessor.GetGenerateName()))
			continue
		}
		if err != nil {
			return nil, warnings, storageError(err, res, accessor.GetName())
		}
		if err := setResourceVersion(obj, rev); err != nil {
			return nil, warnings, apierrors.NewInternalError(err)
		}
		return obj, warnings, nil
	}
}

// generateName is Kubernetes' SimpleNameGenerator: the base, truncated, plus 5 random characters.
func generateName(base string) string {
	if len(base) > maxGeneratedNameLength {
		base = base[:maxGeneratedNameLength]
	}
	return base + utilrand.String(5)
}

// ensureNamespace fills or checks metadata.namespace against the request's, as kube-apiserver's
// EnsureObjectNamespaceMatchesRequestNamespace.
func ensureNamespace(res *registry.Resource, requestNamespace string, accessor metav1.Object) error {
	if !res.Namespaced {
		requestNamespace = ""
	}
	switch ns := accessor.GetNamespace(); {
	case ns == requestNamespace:
	case ns == "":
		accessor.SetNamespace(requestNamespace)
	case requestNamespace == "":
		accessor.SetNamespace("")
	default:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

// admitNamespace is Kubernetes' NamespaceLifecycle admission for creates: the namespace must exist and
// must not be terminating.
func (h *handler) admitNamespace(ctx context.Context, res *registry.Resource, namespace, name string) error {
	if h.namespaces == nil {
		return nil
	}
	obj, _, err := h.getObject(ctx, h.namespaces, "", namespace)
	if err != nil {
		return err
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if accessor.GetDeletionTimestamp() == nil && !namespaceTerminating(obj) {
		return nil
	}
	forbidden := apierrors.NewForbidden(res.GroupVersionResource().GroupResource(), name,
		fmt.Errorf("unable to create new content in namespace %s because it is being terminated", namespace))
	forbidden.ErrStatus.Details.Causes = append(forbidden.ErrStatus.Details.Causes, metav1.StatusCause{
		Type:    "NamespaceTerminating",
		Message: fmt.Sprintf("namespace %s is being terminated", namespace),
		Field:   "metadata.namespace",
	})
	return forbidden
}

// update serves PUT of an object or of its status.
func (h *handler) update(w http.ResponseWriter, r *http.Request, rq *request) {
	decoded := rq.res.New()
	out, opts, warnings, err := h.readWriteRequest(r, rq, decoded)
	if err != nil {
		writeError(w, r, err)
		return
	}
	accessor, err := meta.Accessor(decoded)
	if err != nil {
		writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if accessor.GetName() != rq.name {
		writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf(
			"the name of the object (%s) does not match the name on the URL (%s)", accessor.GetName(), rq.name)))
		return
	}
	if err := ensureNamespace(rq.res, rq.namespace, accessor); err != nil {
		writeError(w, r, err)
		return
	}
	result, moreWarnings, err := h.guaranteedUpdate(r.Context(), rq, opts.dryRun, func(current runtime.Object) (runtime.Object, []string, error) {
		obj := decoded.DeepCopyObject()
		return h.prepareUpdate(r.Context(), rq, obj, current, opts, true)
	})
	addWarnings(w, append(warnings, moreWarnings...))
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeObject(w, r, rq.res, http.StatusOK, result, out)
}

// prepareUpdate turns a client's new version of an object into what is stored, as kube-apiserver's
// BeforeUpdate does: resourceVersion precondition, defaulting, metadata the client may not change, the
// strategy's update rules, validation, warnings and managedFields.
func (h *handler) prepareUpdate(ctx context.Context, rq *request, obj, old runtime.Object, opts writeOptions, recordManager bool) (runtime.Object, []string, error) {
	res := rq.res
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	oldAccessor, err := meta.Accessor(old)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	switch rv := accessor.GetResourceVersion(); {
	case rv == "":
		// An unconditional update: it applies to the latest version, as in Kubernetes.
		accessor.SetResourceVersion(oldAccessor.GetResourceVersion())
	case rv != oldAccessor.GetResourceVersion():
		return nil, nil, apierrors.NewConflict(rq.groupResource(), rq.name, errors.New(optimisticLockErrorMsg))
	}
	prepare, validate, err := updateRules(rq)
	if err != nil {
		return nil, nil, err
	}
	res.Strategy.Default(obj)
	if recordManager { // before the server's own changes, as on create
		if obj, err = h.mutator.UpdateManagedFields(res, obj, old, opts.fieldManager, rq.subresource); err != nil {
			return nil, nil, err
		}
		if accessor, err = meta.Accessor(obj); err != nil {
			return nil, nil, apierrors.NewInternalError(err)
		}
	}
	accessor.SetGeneration(oldAccessor.GetGeneration())
	prepare(ctx, obj, old)
	if accessor.GetUID() == "" {
		accessor.SetUID(oldAccessor.GetUID())
	}
	if created := oldAccessor.GetCreationTimestamp(); !created.IsZero() {
		accessor.SetCreationTimestamp(created)
	}
	if deleted := oldAccessor.GetDeletionTimestamp(); deleted != nil {
		accessor.SetDeletionTimestamp(deleted)
	}
	if grace := oldAccessor.GetDeletionGracePeriodSeconds(); grace != nil && accessor.GetDeletionGracePeriodSeconds() == nil {
		accessor.SetDeletionGracePeriodSeconds(grace)
	}
	if errs := validate(ctx, obj, old); len(errs) > 0 {
		return nil, nil, apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), accessor.GetName(), errs)
	}
	warnings := res.Strategy.Warnings(ctx, obj, old)
	return obj, warnings, nil
}

// finalizeStrategy is implemented by strategies of resources with a finalize subresource (namespaces).
type finalizeStrategy interface {
	PrepareForFinalizeUpdate(ctx context.Context, obj, old runtime.Object)
	ValidateFinalizeUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// updateRules picks the strategy methods of an update of the main resource or of a subresource.
func updateRules(rq *request) (prepare func(context.Context, runtime.Object, runtime.Object), validate func(context.Context, runtime.Object, runtime.Object) field.ErrorList, err error) {
	strategy := rq.res.Strategy
	switch rq.subresource {
	case "":
		return strategy.PrepareForUpdate, strategy.ValidateUpdate, nil
	case "status":
		return strategy.PrepareForStatusUpdate, strategy.ValidateStatusUpdate, nil
	case "finalize":
		if fs, ok := strategy.(finalizeStrategy); ok {
			return fs.PrepareForFinalizeUpdate, fs.ValidateFinalizeUpdate, nil
		}
	}
	return nil, nil, apierrors.NewMethodNotSupported(schema.GroupResource{Group: rq.res.GroupVersion.Group, Resource: rq.res.Name + "/" + rq.subresource}, "update")
}

// guaranteedUpdate is a bounded read-modify-write loop: it reads the object, lets tryUpdate compute the new
// state and writes it only if the object is unchanged since the read, retrying otherwise. A write that
// changes nothing is skipped, as in Kubernetes (no new resourceVersion). After the write, an object whose
// deletion is complete is removed.
func (h *handler) guaranteedUpdate(ctx context.Context, rq *request, dryRun bool, tryUpdate func(current runtime.Object) (runtime.Object, []string, error)) (runtime.Object, []string, error) {
	res, key := rq.res, rq.key()
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		current, kv, err := h.getObject(ctx, res, rq.namespace, rq.name)
		if err != nil {
			return nil, nil, err
		}
		obj, warnings, err := tryUpdate(current)
		if err != nil {
			return nil, warnings, err
		}
		data, err := h.codec.encode(res, obj)
		if err != nil {
			return nil, warnings, apierrors.NewInternalError(err)
		}
		if bytes.Equal(data, kv.Value) {
			return current, warnings, nil
		}
		if dryRun {
			return obj, warnings, nil
		}
		rev, err := h.cfg.Store.Update(ctx, key, data, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, warnings, storageError(err, res, rq.name)
		}
		if err := setResourceVersion(obj, rev); err != nil {
			return nil, warnings, apierrors.NewInternalError(err)
		}
		h.removeIfFinished(ctx, res, key, obj, rev)
		return obj, warnings, nil
	}
	return nil, nil, apierrors.NewConflict(rq.groupResource(), rq.name, errors.New(optimisticLockErrorMsg))
}

// removeIfFinished removes an object whose deletion has started, whose finalizers are all gone and which
// its strategy says may go (pods: grace period 0; namespaces: spec.finalizers empty). A concurrent write
// makes the conditional delete fail; that writer then runs the same check.
func (h *handler) removeIfFinished(ctx context.Context, res *registry.Resource, key string, obj runtime.Object, rev int64) bool {
	accessor, err := meta.Accessor(obj)
	if err != nil || accessor.GetDeletionTimestamp() == nil || len(accessor.GetFinalizers()) > 0 || !res.Strategy.ReadyToRemove(obj) {
		return false
	}
	_, _, err = h.cfg.Store.Delete(ctx, key, rev)
	return err == nil
}

// patch serves PATCH of an object or of its status: read, patch, then the update path, retried as a
// whole on a storage conflict. An apply patch of a missing object creates it.
func (h *handler) patch(w http.ResponseWriter, r *http.Request, rq *request) {
	out, err := negotiateOutput(r, targetObject)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := parseWriteOptions(r, rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mediaType = r.Header.Get("Content-Type")
	}
	patchType := types.PatchType(mediaType)
	force := false
	if v := rq.query.Get("force"); v != "" {
		if force, err = strconv.ParseBool(v); err != nil {
			writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid force value %q", v)))
			return
		}
	}
	patchOpts := mutate.PatchOptions{
		FieldManager:    rq.query.Get("fieldManager"),
		Force:           force,
		FieldValidation: opts.fieldValidation,
		Subresource:     rq.subresource,
		Name:            rq.name,
		Namespace:       rq.namespace,
	}
	if patchType != types.ApplyYAMLPatchType {
		patchOpts.FieldManager = opts.fieldManager
	}

	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		var patchWarnings []string
		result, warnings, err := h.guaranteedUpdate(r.Context(), rq, opts.dryRun, func(current runtime.Object) (runtime.Object, []string, error) {
			obj, warnings, err := h.mutator.Patch(rq.res, current, patchType, body, patchOpts)
			patchWarnings = warnings
			if err != nil {
				return nil, nil, err
			}
			return h.prepareUpdate(r.Context(), rq, obj, current, opts, patchType != types.ApplyYAMLPatchType)
		})
		if apierrors.IsNotFound(err) && patchType == types.ApplyYAMLPatchType && rq.subresource == "" {
			created, createWarnings, err := h.applyCreate(r.Context(), rq, body, patchOpts, opts)
			if apierrors.IsAlreadyExists(err) {
				continue // created meanwhile: patch it instead
			}
			addWarnings(w, createWarnings)
			if err != nil {
				writeError(w, r, err)
				return
			}
			h.writeObject(w, r, rq.res, http.StatusCreated, created, out)
			return
		}
		addWarnings(w, append(patchWarnings, warnings...))
		if err != nil {
			writeError(w, r, err)
			return
		}
		h.writeObject(w, r, rq.res, http.StatusOK, result, out)
		return
	}
	writeError(w, r, apierrors.NewConflict(rq.groupResource(), rq.name, errors.New(optimisticLockErrorMsg)))
}

// applyCreate creates an object from a server-side apply patch on a missing object.
func (h *handler) applyCreate(ctx context.Context, rq *request, body []byte, patchOpts mutate.PatchOptions, opts writeOptions) (runtime.Object, []string, error) {
	obj, warnings, err := h.mutator.Patch(rq.res, nil, types.ApplyYAMLPatchType, body, patchOpts)
	if err != nil {
		return nil, warnings, err
	}
	created, moreWarnings, err := h.createObject(ctx, rq, obj, opts, false)
	return created, append(warnings, moreWarnings...), err
}

// namespaceTerminating reports whether a namespace is in phase Terminating.
func namespaceTerminating(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && ns.Status.Phase == corev1.NamespaceTerminating
}
