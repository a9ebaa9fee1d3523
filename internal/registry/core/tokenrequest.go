package core

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// DefaultTokenExpirationSeconds is the lifetime of a requested token that names none (authentication/v1 defaults).
	DefaultTokenExpirationSeconds = 60 * 60
	// MinTokenExpirationSeconds is the shortest lifetime a TokenRequest may ask for.
	MinTokenExpirationSeconds = 10 * 60
	maxTokenExpirationSeconds = 1 << 32
)

// DefaultTokenRequest fills what Kubernetes' authentication/v1 defaulter fills: the expiration.
func DefaultTokenRequest(tr *authenticationv1.TokenRequest) {
	if tr.Spec.ExpirationSeconds == nil {
		seconds := int64(DefaultTokenExpirationSeconds)
		tr.Spec.ExpirationSeconds = &seconds
	}
}

// ValidateTokenRequest is Kubernetes' static validation of a defaulted TokenRequest, with its field paths
// and messages. What needs other objects (the bound object's kind and uid) is the API layer's.
func ValidateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("spec", "expirationSeconds")
	var seconds int64
	if tr.Spec.ExpirationSeconds != nil {
		seconds = *tr.Spec.ExpirationSeconds
	}
	if seconds < MinTokenExpirationSeconds {
		errs = append(errs, field.Invalid(path, seconds, "may not specify a duration less than 10 minutes"))
	}
	if seconds > maxTokenExpirationSeconds {
		errs = append(errs, field.Invalid(path, seconds, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}
