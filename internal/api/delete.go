package api

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/storage"
)

// deleteOptions reads DeleteOptions from the body if there is one, else from the query, as
// kube-apiserver's delete handler does.
func (h *handler) deleteOptions(r *http.Request, query map[string][]string) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		if err := h.params.DecodeParameters(query, optionsVersion, opts); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return opts, nil
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mediaType {
	case "application/vnd.kubernetes.protobuf":
		_, _, err = h.codec.serializer.Decode(body, nil, opts)
	case "application/yaml":
		var data []byte
		if data, err = yaml.YAMLToJSON(body); err == nil {
			err = utiljson.Unmarshal(data, opts)
		}
	case "", "application/json":
		err = utiljson.Unmarshal(body, opts)
	default:
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", fmt.Sprintf(
			"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"), 0, false)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decode DeleteOptions: %v", err))
	}
	return opts, nil
}

// delete serves DELETE of one object.
func (h *handler) delete(w http.ResponseWriter, r *http.Request, rq *request) {
	out, err := negotiateOutput(r, targetObject)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := h.deleteOptions(r, rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	result, err := h.deleteObject(r.Context(), rq.res, rq.namespace, rq.name, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if status, ok := result.(*metav1.Status); ok {
		writeJSON(w, r, http.StatusOK, status)
		return
	}
	h.writeObject(w, r, rq.res, http.StatusOK, result, out)
}

// deleteObject runs Kubernetes' delete path: preconditions, then graceful deletion (deletionTimestamp and
// grace period set, object kept), finalizers (object kept until they are gone), or removal. It returns the
// object as it now is, the removed object (pods), or a Success Status naming it.
func (h *handler) deleteObject(ctx context.Context, res *registry.Resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, error) {
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
	}
	dryRun := len(opts.DryRun) > 0
	key := objectKey(res, namespace, name)
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		obj, kv, err := h.getObject(ctx, res, namespace, name)
		if err != nil {
			return nil, err
		}
		accessor, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		alreadyDeleting := accessor.GetDeletionTimestamp() != nil
		attemptOpts := opts.DeepCopy()
		graceful, pending, err := beforeDelete(ctx, res, obj, attemptOpts)
		if err != nil {
			return nil, err
		}
		if pending {
			return deleteResult(res, obj), nil
		}
		if !graceful && alreadyDeleting && !res.Strategy.ReadyToRemove(obj) {
			return nil, stillTerminating(res, obj, name)
		}
		if graceful || len(accessor.GetFinalizers()) > 0 {
			if !graceful && !alreadyDeleting {
				now := metav1.Now()
				zero := int64(0)
				accessor.SetDeletionTimestamp(&now)
				accessor.SetDeletionGracePeriodSeconds(&zero)
			}
			if !alreadyDeleting {
				res.Strategy.PrepareForDelete(ctx, obj)
			}
			if dryRun {
				return obj, nil
			}
			data, err := h.codec.encode(res, obj)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			rev, err := h.cfg.Store.Update(ctx, key, data, kv.ModRevision)
			if errors.Is(err, storage.ErrConflict) {
				continue
			}
			if err != nil {
				return nil, storageError(err, res, name)
			}
			if err := setResourceVersion(obj, rev); err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			if h.removeIfFinished(ctx, res, key, obj, rev) {
				return deleteResult(res, obj), nil
			}
			return obj, nil
		}
		if dryRun {
			return deleteResult(res, obj), nil
		}
		_, _, err = h.cfg.Store.Delete(ctx, key, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, storageError(err, res, name)
		}
		return deleteResult(res, obj), nil
	}
	return nil, apierrors.NewConflict(res.GroupVersionResource().GroupResource(), name, errors.New(optimisticLockErrorMsg))
}

// stillTerminating answers a repeated delete of an object whose deletion waits for its strategy (a
// namespace being emptied), as Kubernetes' namespace registry does.
func stillTerminating(res *registry.Resource, obj runtime.Object, name string) error {
	gr := res.GroupVersionResource().GroupResource()
	if gr == (schema.GroupResource{Resource: "namespaces"}) {
		return apierrors.NewConflict(gr, name, errors.New(
			"The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."))
	}
	return apierrors.NewConflict(gr, name, errors.New("the object is being deleted"))
}

// returnsDeletedObject lists the resources whose immediate delete answers with the object rather than a
// Status, as their Kubernetes registries declare (ReturnDeletedObject).
var returnsDeletedObject = map[schema.GroupResource]bool{{Resource: "pods"}: true}

func deleteResult(res *registry.Resource, obj runtime.Object) runtime.Object {
	gr := res.GroupVersionResource().GroupResource()
	if returnsDeletedObject[gr] {
		return obj
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	}
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: accessor.GetName(), Group: gr.Group, Kind: gr.Resource, UID: accessor.GetUID()},
	}
}

// beforeDelete is kube-apiserver's rest.BeforeDelete: it checks preconditions and decides whether the
// delete is graceful (obj updated with deletionTimestamp and deletionGracePeriodSeconds) or already
// pending with an equal or shorter grace period (nothing to do).
func beforeDelete(ctx context.Context, res *registry.Resource, obj runtime.Object, opts *metav1.DeleteOptions) (graceful, pending bool, err error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return false, false, apierrors.NewInternalError(err)
	}
	gr := schema.GroupResource{Group: res.GroupVersion.Group, Resource: res.Kind}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != accessor.GetUID() {
			return false, false, apierrors.NewConflict(gr, accessor.GetName(), fmt.Errorf(
				"the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, accessor.GetUID()))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != accessor.GetResourceVersion() {
			return false, false, apierrors.NewConflict(gr, accessor.GetName(), fmt.Errorf(
				"the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, accessor.GetResourceVersion()))
		}
	}
	if grace := opts.GracePeriodSeconds; grace != nil && *grace < 0 {
		one := int64(1)
		opts.GracePeriodSeconds = &one
	}
	if grace := accessor.GetDeletionGracePeriodSeconds(); grace != nil && *grace < 0 {
		one := int64(1)
		accessor.SetDeletionGracePeriodSeconds(&one)
	}

	if deletion := accessor.GetDeletionTimestamp(); deletion != nil {
		current := accessor.GetDeletionGracePeriodSeconds()
		if current == nil || *current == 0 {
			return false, false, nil
		}
		if opts.GracePeriodSeconds == nil {
			opts.GracePeriodSeconds = current
			return false, true, nil
		}
		period := *opts.GracePeriodSeconds
		if period >= *current {
			return false, true, nil
		}
		// Only a shorter grace period may be given: move the deadline back accordingly, never into the past.
		deadline := metav1.NewTime(deletion.Add(-time.Duration(*current) * time.Second).Add(time.Duration(period) * time.Second))
		if now := metav1.Now(); deadline.Before(&now) {
			deadline = now
			if period != 0 {
				period = 1
			}
		}
		accessor.SetDeletionTimestamp(&deadline)
		accessor.SetDeletionGracePeriodSeconds(&period)
		return true, false, nil
	}

	if !res.Strategy.CheckGracefulDelete(ctx, obj, opts) {
		return false, false, nil
	}
	if opts.GracePeriodSeconds == nil {
		return false, false, apierrors.NewInternalError(errors.New("options.GracePeriodSeconds should not be nil"))
	}
	deadline := metav1.NewTime(time.Now().Add(time.Duration(*opts.GracePeriodSeconds) * time.Second))
	accessor.SetDeletionTimestamp(&deadline)
	accessor.SetDeletionGracePeriodSeconds(opts.GracePeriodSeconds)
	if generation := accessor.GetGeneration(); generation > 0 {
		accessor.SetGeneration(generation + 1)
	}
	return true, false, nil
}

// deleteCollection serves DELETE of a collection: one list, then a delete of each object with the same
// options. It answers with the list of what was deleted.
func (h *handler) deleteCollection(w http.ResponseWriter, r *http.Request, rq *request) {
	opts, err := h.deleteOptions(r, rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	listOpts, err := h.listOptions(rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sel, err := h.selectionFor(rq.res, listOpts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	listOpts.Limit, listOpts.Continue = 0, ""
	list, err := h.listObjects(r.Context(), rq.res, rq.namespace, listOpts, sel)
	if err != nil {
		writeError(w, r, err)
		return
	}
	deleted := listResult{meta: list.meta, items: make([]runtime.Object, 0, len(list.items))}
	for _, item := range list.items {
		accessor, err := meta.Accessor(item)
		if err != nil {
			writeError(w, r, apierrors.NewInternalError(err))
			return
		}
		result, err := h.deleteObject(r.Context(), rq.res, accessor.GetNamespace(), accessor.GetName(), opts.DeepCopy())
		if apierrors.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		if _, isStatus := result.(*metav1.Status); isStatus {
			result = item
		}
		deleted.items = append(deleted.items, result)
	}
	h.writeList(w, r, rq.res, deleted, output{})
}
