package mutate

import (
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Prefixes of the strict errors of the YAML decoder, which lists several problems in one error.
const (
	yamlErrorsShortPrefix = "yaml: unmarshal errors:\n"
	yamlErrorsLongPrefix  = "error converting YAML to JSON: yaml: unmarshal errors:\n"
)

// Decode decodes a request body of the given Content-Type (application/json, application/yaml,
// application/vnd.kubernetes.protobuf; empty means JSON) into into, a typed object from Resource.New().
// fieldValidation is the query value: "Strict", "Warn", "Ignore" or "" (Warn, kube-apiserver's default).
// Unknown and duplicate fields are an error under Strict (400 `Pod in version "v1" cannot be handled as a
// Pod: strict decoding error: unknown field "spec.foo"`), warnings under Warn and nothing under Ignore.
// Protobuf bodies have no unknown fields. Errors are *apierrors.StatusError.
func (m *Mutator) Decode(contentType string, body []byte, into runtime.Object, fieldValidation string) (warnings []string, err error) {
	directive, err := validationDirective(fieldValidation)
	if err != nil {
		return nil, err
	}
	info, err := m.serializerFor(contentType)
	if err != nil {
		return nil, err
	}
	expected, err := m.kindOf(into)
	if err != nil {
		return nil, err
	}
	decodeSerializer := info.Serializer
	if directive != metav1.FieldValidationIgnore {
		decodeSerializer = info.StrictSerializer
	}
	decoder := m.codecs.DecoderToVersion(decodeSerializer, expected.GroupVersion())
	obj, gvk, err := decoder.Decode(body, &expected, into)
	if err != nil {
		strictErr, isStrict := runtime.AsStrictDecodingError(err)
		if !isStrict || obj == nil || directive != metav1.FieldValidationWarn {
			return nil, decodeError(err, expected, gvk, body)
		}
		warnings = strictWarnings(strictErr.Errors())
	}
	if gv := gvk.GroupVersion(); gv != expected.GroupVersion() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf(
			"the API version in the data (%s) does not match the expected API version (%v)", gv, expected.GroupVersion()))
	}
	if obj != into {
		// The versioning decoder always converts into into; anything else is a bug worth a 500.
		return nil, apierrors.NewInternalError(fmt.Errorf("decoded %T, expected %T", obj, into))
	}
	return warnings, nil
}

// serializerFor finds the serializer of a request Content-Type, or a 415 listing the accepted ones.
func (m *Mutator) serializerFor(contentType string) (runtime.SerializerInfo, error) {
	supported := m.codecs.SupportedMediaTypes()
	mediaType := runtime.ContentTypeJSON
	if contentType != "" {
		parsed, _, err := mime.ParseMediaType(contentType)
		if err != nil {
			return runtime.SerializerInfo{}, unsupportedMediaType(supported)
		}
		mediaType = parsed
	}
	info, ok := runtime.SerializerInfoForMediaType(supported, mediaType)
	if !ok {
		return runtime.SerializerInfo{}, unsupportedMediaType(supported)
	}
	return info, nil
}

// unsupportedMediaType is kube-apiserver's 415 for a body it cannot read.
func unsupportedMediaType(supported []runtime.SerializerInfo) error {
	accepted := make([]string, 0, len(supported))
	for _, s := range supported {
		accepted = append(accepted, s.MediaType)
	}
	return mediaTypeError(accepted)
}

func mediaTypeError(accepted []string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure,
		Code:   http.StatusUnsupportedMediaType,
		Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %v",
			strings.Join(accepted, ", ")),
	}}
}

// kindOf returns the GroupVersionKind the scheme registers for obj's Go type.
func (m *Mutator) kindOf(obj runtime.Object) (schema.GroupVersionKind, error) {
	kinds, _, err := m.scheme.ObjectKinds(obj)
	if err != nil {
		return schema.GroupVersionKind{}, apierrors.NewInternalError(fmt.Errorf("kind of %T: %w", obj, err))
	}
	return kinds[0], nil
}

// decodeError words a decoding failure as kube-apiserver does.
func decodeError(err error, expected schema.GroupVersionKind, gvk *schema.GroupVersionKind, body []byte) error {
	if gvk != nil && gvk.Kind != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v",
			gvk.Kind, gvk.Version, expected.Kind, err))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v (%s)",
		expected.Kind, err, summarize(body, 30)))
}

// summarize shortens a body for an error message, as kube-apiserver's summarizeData.
func summarize(data []byte, maxLength int) string {
	switch {
	case len(data) == 0:
		return "<empty>"
	case data[0] == 0:
		return fmt.Sprintf("%x", data[:min(len(data), maxLength/2)])
	case len(data) > maxLength:
		return string(data[:maxLength]) + " ..."
	default:
		return string(data)
	}
}

// strictWarnings turns strict decoding errors into warning texts. The YAML decoder reports several
// problems in one multi-line error; each line becomes its own warning, as in kube-apiserver.
func strictWarnings(errs []error) []string {
	var warnings []string
	for _, e := range errs {
		text := e.Error()
		rest, ok := strings.CutPrefix(text, yamlErrorsShortPrefix)
		if !ok {
			rest, ok = strings.CutPrefix(text, yamlErrorsLongPrefix)
		}
		if !ok {
			warnings = append(warnings, text)
			continue
		}
		for _, line := range strings.Split(rest, "\n") {
			warnings = append(warnings, strings.TrimSpace(line))
		}
	}
	return warnings
}
