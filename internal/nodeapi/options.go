package nodeapi

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ParseLogOptions decodes PodLogOptions from a query as Kubernetes' url.Values conversion does: a bool is
// true unless absent, "0" or "false"; numbers are base-10 int64; sinceTime is RFC 3339.
func ParseLogOptions(query url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{
		Container:                    first(query, "container"),
		Follow:                       queryBool(query, "follow"),
		Previous:                     queryBool(query, "previous"),
		Timestamps:                   queryBool(query, "timestamps"),
		InsecureSkipTLSVerifyBackend: queryBool(query, "insecureSkipTLSVerifyBackend"),
	}
	for name, into := range map[string]**int64{"sinceSeconds": &opts.SinceSeconds, "tailLines": &opts.TailLines, "limitBytes": &opts.LimitBytes} {
		values, ok := query[name]
		if !ok || len(values) == 0 {
			continue
		}
		n, err := strconv.ParseInt(values[0], 10, 64)
		if err != nil {
			return nil, err
		}
		*into = &n
	}
	if values, ok := query["sinceTime"]; ok && len(values) > 0 {
		t := &metav1.Time{}
		if err := t.UnmarshalQueryParameter(values[0]); err != nil {
			return nil, err
		}
		opts.SinceTime = t
	}
	return opts, nil
}

func first(query url.Values, name string) string {
	if values := query[name]; len(values) > 0 {
		return values[0]
	}
	return ""
}

func queryBool(query url.Values, name string) bool {
	values, ok := query[name]
	if !ok || len(values) == 0 {
		return false
	}
	return values[0] != "0" && !strings.EqualFold(values[0], "false")
}

// ValidateLogOptions is Kubernetes' ValidatePodLogOptions, with its field paths and messages.
func ValidateLogOptions(opts *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if opts.TailLines != nil && *opts.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *opts.TailLines, "must be greater than or equal to 0"))
	}
	if opts.LimitBytes != nil && *opts.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *opts.LimitBytes, "must be greater than 0"))
	}
	switch {
	case opts.SinceSeconds != nil && opts.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case opts.SinceSeconds != nil && *opts.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *opts.SinceSeconds, "must be greater than 0"))
	}
	return errs
}

// LogQuery is the query the API server sends a node for opts, as kube-apiserver's LogLocation builds it.
func LogQuery(opts *corev1.PodLogOptions) url.Values {
	params := url.Values{}
	if opts.Follow {
		params.Add("follow", "true")
	}
	if opts.Previous {
		params.Add("previous", "true")
	}
	if opts.Timestamps {
		params.Add("timestamps", "true")
	}
	if opts.SinceSeconds != nil {
		params.Add("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil {
		params.Add("sinceTime", opts.SinceTime.Format(time.RFC3339))
	}
	if opts.TailLines != nil {
		params.Add("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes != nil {
		params.Add("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	return params
}
