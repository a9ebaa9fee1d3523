package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/storage"
)

// optimisticLockErrorMsg is kube-apiserver's message for a write based on a stale resourceVersion.
const optimisticLockErrorMsg = "the object has been modified; please apply your changes to the latest version and try again"

// get serves GET of one object (and of its status subresource).
func (h *handler) get(w http.ResponseWriter, r *http.Request, rq *request) {
	out, err := negotiateOutput(r, targetObject)
	if err != nil {
		writeError(w, r, err)
		return
	}
	obj, _, err := h.getObject(r.Context(), rq.res, rq.namespace, rq.name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeObject(w, r, rq.res, http.StatusOK, obj, out)
}

// getObject reads and decodes one object; a missing key is the resource's NotFound.
func (h *handler) getObject(ctx context.Context, res *registry.Resource, namespace, name string) (runtime.Object, storage.KeyValue, error) {
	kv, err := h.cfg.Store.Get(ctx, objectKey(res, namespace, name))
	if err != nil {
		return nil, kv, storageError(err, res, name)
	}
	obj, err := h.codec.decode(res, kv)
	if err != nil {
		return nil, kv, apierrors.NewInternalError(err)
	}
	return obj, kv, nil
}

// storageError turns a storage error into the API error kube-apiserver gives for it.
func storageError(err error, res *registry.Resource, name string) error {
	gr := res.GroupVersionResource().GroupResource()
	var compacted *storage.CompactedError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(optimisticLockErrorMsg))
	case errors.As(err, &compacted):
		return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", compacted.Requested, compacted.Oldest))
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError(err.Error(), 0)
	}
	return apierrors.NewInternalError(err)
}

// listOptions decodes the list and watch query parameters with apimachinery's parameter codec.
func (h *handler) listOptions(query url.Values) (*metav1.ListOptions, error) {
	opts := &metav1.ListOptions{}
	if err := h.params.DecodeParameters(query, optionsVersion, opts); err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return opts, nil
}

// selection is a parsed label and field selector.
type selection struct {
	labels labels.Selector
	fields fields.Selector
}

// selectionFor parses the selectors of opts; a field label res does not support is a 400 as in Kubernetes.
func (h *handler) selectionFor(res *registry.Resource, opts *metav1.ListOptions) (selection, error) {
	sel := selection{labels: labels.Everything(), fields: fields.Everything()}
	var err error
	if opts.LabelSelector != "" {
		if sel.labels, err = labels.Parse(opts.LabelSelector); err != nil {
			return sel, apierrors.NewBadRequest(err.Error())
		}
	}
	if opts.FieldSelector != "" {
		if sel.fields, err = fields.ParseSelector(opts.FieldSelector); err != nil {
			return sel, apierrors.NewBadRequest(err.Error())
		}
		supported := h.versions[res.GroupVersion].selectableFields[res.Name]
		for _, req := range sel.fields.Requirements() {
			if !supported.Has(req.Field) {
				return sel, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
	}
	return sel, nil
}

func (s selection) everything() bool { return s.labels.Empty() && s.fields.Empty() }

// matches says whether obj satisfies both selectors.
func (s selection) matches(res *registry.Resource, obj runtime.Object) bool {
	if s.everything() {
		return true
	}
	if !s.labels.Empty() {
		accessor, err := meta.Accessor(obj)
		if err != nil || !s.labels.Matches(labels.Set(accessor.GetLabels())) {
			return false
		}
	}
	return s.fields.Empty() || s.fields.Matches(res.Strategy.SelectableFields(obj))
}

// continueToken is the opaque ?continue value: the snapshot's revision and the first key of the next page.
type continueToken struct {
	Revision int64  `json:"rv"`
	Start    string `json:"start"`
}

func encodeContinue(t continueToken) string {
	data, _ := json.Marshal(t) // a struct of an int and a string always marshals
	return base64.RawURLEncoding.EncodeToString(data)
}

func decodeContinue(s, prefix string) (continueToken, error) {
	var t continueToken
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(data, &t)
	}
	if err == nil && (len(t.Start) <= len(prefix) || t.Start[:len(prefix)] != prefix || t.Revision <= 0) {
		err = errors.New("continue key does not belong to this list")
	}
	if err != nil {
		return t, apierrors.NewBadRequest(fmt.Sprintf("continue key is not valid: %v", err))
	}
	return t, nil
}

// listResult is one page of a list.
type listResult struct {
	items []runtime.Object
	meta  metav1.ListMeta
}

// listObjects reads the matching objects of a collection, honouring limit and continue.
func (h *handler) listObjects(ctx context.Context, res *registry.Resource, namespace string, opts *metav1.ListOptions, sel selection) (listResult, error) {
	prefix := collectionPrefix(res, namespace)
	var token continueToken
	if opts.Continue != "" {
		var err error
		if token, err = decodeContinue(opts.Continue, prefix); err != nil {
			return listResult{}, err
		}
	}
	kvs, rev, err := h.cfg.Store.List(ctx, prefix)
	if err != nil {
		return listResult{}, apierrors.NewInternalError(fmt.Errorf("list %s: %w", prefix, err))
	}
	if token.Revision != 0 {
		// Later pages report the first page's revision: a watch from it then misses nothing (it may replay
		// changes the later pages already show, which clients treat as updates).
		rev = token.Revision
		kvs = kvs[sort.Search(len(kvs), func(i int) bool { return kvs[i].Key >= token.Start }):]
	}
	result := listResult{meta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10)}}
	capacity := len(kvs)
	if opts.Limit > 0 && opts.Limit < int64(capacity) {
		capacity = int(opts.Limit)
	}
	result.items = make([]runtime.Object, 0, capacity)
	// Objects are decoded a window at a time, each window on every core; a limited list stops after the
	// window that filled its page rather than decoding the whole collection.
	window := len(kvs)
	if opts.Limit > 0 {
		window = max(int(opts.Limit), 2*minItemsPerWorker)
	}
	decoded := make([]runtime.Object, min(window, len(kvs)))
	for start := 0; start < len(kvs); start += window {
		batch := kvs[start:min(start+window, len(kvs))]
		err := inParallel(len(batch), func(_, lo, hi int) error {
			for i := lo; i < hi; i++ {
				obj, err := h.codec.decode(res, batch[i])
				if err != nil {
					return err
				}
				decoded[i] = obj
			}
			return nil
		})
		if err != nil {
			return listResult{}, apierrors.NewInternalError(err)
		}
		for i, obj := range decoded[:len(batch)] {
			if !sel.matches(res, obj) {
				continue
			}
			if opts.Limit > 0 && int64(len(result.items)) == opts.Limit {
				result.meta.Continue = encodeContinue(continueToken{Revision: rev, Start: batch[i].Key})
				if sel.everything() {
					remaining := int64(len(kvs) - start - i)
					result.meta.RemainingItemCount = &remaining
				}
				return result, nil
			}
			result.items = append(result.items, obj)
		}
	}
	return result, nil
}

// list serves GET of a collection.
func (h *handler) list(w http.ResponseWriter, r *http.Request, rq *request) {
	out, err := negotiateOutput(r, targetList)
	if err != nil {
		writeError(w, r, err)
		return
	}
	opts, err := h.listOptions(rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	sel, err := h.selectionFor(rq.res, opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	result, err := h.listObjects(r.Context(), rq.res, rq.namespace, opts, sel)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeList(w, r, rq.res, result, out)
}
