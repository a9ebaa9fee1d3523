package mutate

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"

	"github.com/peapod-dev/peapod/internal/registry"
)

// maxJSONPatchOperations is kube-apiserver's limit on the operations of one JSON patch.
const maxJSONPatchOperations = 10000

// PatchTypes returns the patch Content-Types served, in the order a 415 lists them.
func PatchTypes() []string {
	return []string{
		string(types.JSONPatchType), string(types.MergePatchType),
		string(types.StrategicMergePatchType), string(types.ApplyYAMLPatchType),
	}
}

// PatchOptions are the query parameters of a PATCH that shape the result.
type PatchOptions struct {
	FieldManager    string // required for apply (422 if missing, as Kubernetes)
	Force           bool
	FieldValidation string
	Subresource     string // "" or "status"

	// Name and Namespace are those of the request URL. When set, a patched object naming another name is a
	// 400, an object with no namespace gets Namespace, and a non-apply patch of a missing object is a 404
	// naming Name.
	Name      string
	Namespace string
}

// Patch applies a patch to current (nil when the object does not exist: only apply may create) and returns
// the patched object, of the same Go type as res.New(). patchType is one of PatchTypes() (else 415). Unknown
// and duplicate fields follow opts.FieldValidation as in Decode; a conflict between apply managers is a 409
// "Apply failed with N conflict(s): ...". Apply results carry metadata.managedFields; for the other types
// the caller records ownership with UpdateManagedFields, as for an update. Errors are *apierrors.StatusError.
func (m *Mutator) Patch(res *registry.Resource, current runtime.Object, patchType types.PatchType, patch []byte, opts PatchOptions) (obj runtime.Object, warnings []string, err error) {
	if !slices.Contains(PatchTypes(), string(patchType)) {
		return nil, nil, mediaTypeError(PatchTypes())
	}
	if err := validatePatchOptions(opts, patchType); err != nil {
		return nil, nil, err
	}
	directive, err := validationDirective(opts.FieldValidation)
	if err != nil {
		return nil, nil, err
	}
	if current != nil && !hasUID(current) {
		// The store never holds an object without uid: treat it as absent, as kube-apiserver does.
		current = nil
	}
	if current == nil && patchType != types.ApplyYAMLPatchType {
		return nil, nil, apierrors.NewNotFound(res.GroupVersionResource().GroupResource(), opts.Name)
	}

	switch patchType {
	case types.JSONPatchType, types.MergePatchType:
		obj, warnings, err = m.jsonPatch(res, current, patchType, patch, directive)
	case types.StrategicMergePatchType:
		obj, warnings, err = m.strategicPatch(res, current, patch, directive)
	case types.ApplyYAMLPatchType:
		obj, warnings, err = m.apply(res, current, patch, opts, directive)
	}
	if err != nil {
		return nil, nil, asStatusError(err)
	}
	if err := checkIdentity(res, current, obj, opts); err != nil {
		return nil, nil, err
	}
	return obj, warnings, nil
}

// validatePatchOptions is metav1validation.ValidatePatchOptions: Kubernetes answers 422 on PatchOptions.
func validatePatchOptions(opts PatchOptions, patchType types.PatchType) error {
	options := &metav1.PatchOptions{FieldManager: opts.FieldManager, FieldValidation: opts.FieldValidation}
	if opts.Force {
		options.Force = &opts.Force
	}
	errs := metav1validation.ValidatePatchOptions(options, patchType)
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", errs)
}

// jsonPatch applies an RFC 6902 JSON patch or an RFC 7386 merge patch to the JSON of current.
func (m *Mutator) jsonPatch(res *registry.Resource, current runtime.Object, patchType types.PatchType, patch []byte, directive string) (runtime.Object, []string, error) {
	info, err := m.serializerFor(runtime.ContentTypeJSON)
	if err != nil {
		return nil, nil, err
	}
	currentJSON, err := runtime.Encode(m.codecs.EncoderForVersion(info.Serializer, res.GroupVersion), current)
	if err != nil {
		return nil, nil, fmt.Errorf("encode current %s: %w", res.Kind, err)
	}
	checkStrict := directive != metav1.FieldValidationIgnore

	var patchedJSON []byte
	var strictErrs []error
	switch patchType {
	case types.JSONPatchType:
		if checkStrict {
			var ops []jsonPatchOperation
			if strictErrs, err = kjson.UnmarshalStrict(patch, &ops); err != nil {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
			}
			for i, e := range strictErrs {
				strictErrs[i] = fmt.Errorf("json patch %w", e)
			}
		}
		ops, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		if len(ops) > maxJSONPatchOperations {
			return nil, nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
				"The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(ops)))
		}
		if patchedJSON, err = ops.Apply(currentJSON); err != nil {
			return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
	case types.MergePatchType:
		if checkStrict {
			if strictErrs, err = kjson.UnmarshalStrict(patch, &map[string]interface{}{}); err != nil {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
			}
		}
		if patchedJSON, err = jsonpatch.MergePatch(currentJSON, patch); err != nil {
			if errors.Is(err, jsonpatch.ErrBadJSONPatch) {
				return nil, nil, apierrors.NewBadRequest(err.Error())
			}
			return nil, nil, fmt.Errorf("merge patch: %w", err)
		}
	}

	decodeSerializer := info.Serializer
	if checkStrict {
		decodeSerializer = info.StrictSerializer
	}
	obj := res.New()
	err = runtime.DecodeInto(m.codecs.DecoderToVersion(decodeSerializer, res.GroupVersion), patchedJSON, obj)
	if err != nil {
		strictErr, isStrict := runtime.AsStrictDecodingError(err)
		if !isStrict {
			// The strict errors of the patch alone are incomplete here: the decoding error wins.
			return nil, nil, invalidPatch(string(patchedJSON), err)
		}
		strictErrs = append(strictErrs, strictErr.Errors()...)
	}
	warnings, err := strictOutcome(directive, strictErrs, string(patchedJSON))
	return obj, warnings, err
}

// jsonPatchOperation is one RFC 6902 operation, for strict decoding of the patch itself.
type jsonPatchOperation struct {
	Op    string      `json:"op"`
	Path  string      `json:"path"`
	From  string      `json:"from"`
	Value interface{} `json:"value"`
}

// strategicPatch applies a strategic merge patch using the typed struct of res for merge keys, patch
// strategies and the $setElementOrder, $patch, $retainKeys and $deleteFromPrimitiveList directives.
func (m *Mutator) strategicPatch(res *registry.Resource, current runtime.Object, patch []byte, directive string) (runtime.Object, []string, error) {
	currentMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
	if err != nil {
		return nil, nil, fmt.Errorf("convert current %s: %w", res.Kind, err)
	}
	checkStrict := directive != metav1.FieldValidationIgnore
	patchMap := map[string]interface{}{}
	var strictErrs []error
	if checkStrict {
		strictErrs, err = kjson.UnmarshalStrict(patch, &patchMap)
	} else {
		err = kjson.UnmarshalCaseSensitivePreserveInts(patch, &patchMap)
	}
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}

	patchedMap, err := strategicpatch.StrategicMergeMapPatch(currentMap, patchMap, res.New())
	if err != nil {
		return nil, nil, strategicPatchError(err)
	}
	obj := res.New()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(patchedMap, obj, checkStrict); err != nil {
		strictErr, isStrict := runtime.AsStrictDecodingError(err)
		if !isStrict {
			return nil, nil, invalidPatch(fmt.Sprintf("%+v", patchMap), err)
		}
		strictErrs = append(strictErrs, strictErr.Errors()...)
	}
	warnings, err := strictOutcome(directive, strictErrs, fmt.Sprintf("%+v", patchMap))
	if err != nil {
		return nil, nil, err
	}
	// Decoding JSON defaults the object; going through a map must too.
	strategyDefaulter{res}.Default(obj)
	return obj, warnings, nil
}

// strategicPatchError gives strategic merge patch format errors kube-apiserver's status codes.
func strategicPatchError(err error) error {
	switch {
	case errors.Is(err, mergepatch.ErrBadJSONDoc), errors.Is(err, mergepatch.ErrBadPatchFormatForPrimitiveList),
		errors.Is(err, mergepatch.ErrBadPatchFormatForRetainKeys), errors.Is(err, mergepatch.ErrBadPatchFormatForSetElementOrderList),
		errors.Is(err, mergepatch.ErrUnsupportedStrategicMergePatchFormat):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, mergepatch.ErrNoListOfLists), errors.Is(err, mergepatch.ErrPatchContentNotMatchRetainKeys):
		return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
	}
	return err
}

// strictOutcome decides what unknown or duplicate fields in a patch mean: warnings under Warn, a 422 on
// the "patch" field under Strict (patchText is the value kube-apiserver shows), nothing under Ignore.
func strictOutcome(directive string, strictErrs []error, patchText string) ([]string, error) {
	if len(strictErrs) == 0 || directive == metav1.FieldValidationIgnore {
		return nil, nil
	}
	if directive == metav1.FieldValidationWarn {
		return strictWarnings(strictErrs), nil
	}
	return nil, invalidPatch(patchText, runtime.NewStrictDecodingError(strictErrs))
}

func invalidPatch(patchText string, err error) error {
	return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{
		field.Invalid(field.NewPath("patch"), patchText, err.Error()),
	})
}

// apply runs server-side apply: the patch is a partial object merged into current (or into a new empty
// object) under structured-merge-diff rules, with field ownership recorded per manager.
func (m *Mutator) apply(res *registry.Resource, current runtime.Object, patch []byte, opts PatchOptions, directive string) (runtime.Object, []string, error) {
	fm, err := m.fieldManager(res, opts.Subresource)
	if err != nil {
		return nil, nil, err
	}
	patchObj := &unstructured.Unstructured{Object: map[string]interface{}{}}
	if err := yaml.Unmarshal(patch, &patchObj.Object); err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	live := current
	if live == nil {
		if live, err = m.scheme.New(res.GroupVersionKind()); err != nil {
			return nil, nil, fmt.Errorf("new %s: %w", res.Kind, err)
		}
	}
	obj, err := fm.Apply(live, patchObj, opts.FieldManager, opts.Force)
	if err != nil {
		return nil, nil, err
	}

	// Unknown fields already failed the typed conversion inside Apply; only duplicate keys are left.
	var warnings []string
	if directive != metav1.FieldValidationIgnore {
		if err := yaml.UnmarshalStrict(patch, &map[string]interface{}{}); err != nil {
			if directive == metav1.FieldValidationStrict {
				return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error strict decoding YAML: %v", err))
			}
			warnings = strictWarnings([]error{err})
		}
	}
	typed, err := m.typed(res, obj)
	if err != nil {
		return nil, nil, err
	}
	return typed, warnings, nil
}

// typed returns obj as the Go type of res.New(), converting through the scheme when the field manager
// handed back another representation.
func (m *Mutator) typed(res *registry.Resource, obj runtime.Object) (runtime.Object, error) {
	want := res.New()
	if reflect.TypeOf(obj) == reflect.TypeOf(want) {
		return obj, nil
	}
	if err := m.scheme.Convert(obj, want, nil); err != nil {
		return nil, fmt.Errorf("convert %T to %T: %w", obj, want, err)
	}
	return want, nil
}

// checkIdentity applies kube-apiserver's checks on the patched object: an apply that creates may not
// claim a uid, the object's namespace must be the request's (filled in when missing), and its name must be
// the URL's.
func checkIdentity(res *registry.Resource, current, obj runtime.Object, opts PatchOptions) error {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("patched %s has no metadata: %w", res.Kind, err))
	}
	if current == nil && accessor.GetUID() != "" {
		return apierrors.NewConflict(res.GroupVersionResource().GroupResource(), opts.Name, fmt.Errorf(
			"uid mismatch: the provided object specified uid %s, and no existing object was found", accessor.GetUID()))
	}
	requestNamespace := opts.Namespace
	if !res.Namespaced {
		requestNamespace = ""
	}
	switch objNamespace := accessor.GetNamespace(); {
	case objNamespace == requestNamespace:
	case objNamespace == "":
		accessor.SetNamespace(requestNamespace)
	case requestNamespace == "" && !res.Namespaced:
		accessor.SetNamespace("")
	case requestNamespace == "":
		// The caller did not say which namespace the URL named: nothing to compare against.
	default:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if opts.Name != "" && accessor.GetName() != opts.Name {
		return apierrors.NewBadRequest(fmt.Sprintf(
			"the name of the object (%s) does not match the name on the URL (%s)", accessor.GetName(), opts.Name))
	}
	return nil
}

func hasUID(obj runtime.Object) bool {
	accessor, err := meta.Accessor(obj)
	return err == nil && accessor.GetUID() != ""
}
