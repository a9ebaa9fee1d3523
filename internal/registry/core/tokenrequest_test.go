package core

import (
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/utils/ptr"
)

func TestTokenRequestDefaultAndValidate(t *testing.T) {
	tests := []struct {
		name    string
		seconds *int64
		want    string // the aggregated error, "" for valid
	}{
		{name: "defaulted to an hour", seconds: nil},
		{name: "the minimum", seconds: ptr.To[int64](600)},
		{name: "the maximum", seconds: ptr.To[int64](1 << 32)},
		{name: "too short", seconds: ptr.To[int64](599), want: "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes"},
		{name: "zero", seconds: ptr.To[int64](0), want: "spec.expirationSeconds: Invalid value: 0: may not specify a duration less than 10 minutes"},
		{name: "too long", seconds: ptr.To[int64](1<<32 + 1), want: "spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: tc.seconds}}
			DefaultTokenRequest(tr)
			if tc.seconds == nil && *tr.Spec.ExpirationSeconds != 3600 {
				t.Errorf("defaulted to %d, want 3600", *tr.Spec.ExpirationSeconds)
			}
			got := ""
			if errs := ValidateTokenRequest(tr); len(errs) > 0 {
				got = errs.ToAggregate().Error()
			}
			if got != tc.want {
				t.Errorf("errors %q, want %q", got, tc.want)
			}
		})
	}
}
