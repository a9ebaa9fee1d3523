package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod-dev/peapod/internal/pki/serviceaccount"
	"github.com/peapod-dev/peapod/internal/registry"
	"github.com/peapod-dev/peapod/internal/registry/core"
)

const (
	// warnOnlyTokenExpirationSeconds is what kubelet asks for a pod's projected token; with
	// --service-account-extend-token-expiration (on by default) kube-apiserver issues such a token for
	// extendedTokenExpiration instead and marks when clients should have refreshed it.
	warnOnlyTokenExpirationSeconds = 60*60 + 7
	extendedTokenExpiration        = 365 * 24 * time.Hour
	// deletedObjectGrace is how long a token bound to a deleted pod or secret still authenticates, as
	// Kubernetes' validator allows.
	deletedObjectGrace = time.Minute
)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// coreResource is the served core/v1 resource called name, or nil.
func (h *handler) coreResource(name string) *registry.Resource {
	if agv, ok := h.versions[schema.GroupVersion{Version: "v1"}]; ok {
		return agv.resources[name]
	}
	return nil
}

// getCore reads a core/v1 object by resource name; a resource the registry does not serve is NotFound.
func (h *handler) getCore(ctx context.Context, resource, namespace, name string) (any, error) {
	res := h.coreResource(resource)
	if res == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
	}
	obj, _, err := h.getObject(ctx, res, namespace, name)
	return obj, err
}

// createToken serves POST serviceaccounts/<name>/token as kube-apiserver's TokenREST does: it checks the
// body against the URL, finds the service account, defaults and validates the request, resolves the
// bound object and signs a token for them.
func (h *handler) createToken(w http.ResponseWriter, r *http.Request, rq *request) {
	if h.cfg.ServiceAccountTokens == nil {
		writeError(w, r, notFoundPath())
		return
	}
	opts, err := parseWriteOptions(r, rq.query)
	if err != nil {
		writeError(w, r, err)
		return
	}
	req := &authenticationv1.TokenRequest{}
	warnings, err := h.decodeBody(r, req, opts.fieldValidation)
	addWarnings(w, warnings)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := h.issueToken(r.Context(), rq.namespace, rq.name, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out.TypeMeta = metav1.TypeMeta{APIVersion: tokenRequestKind.GroupVersion().String(), Kind: tokenRequestKind.Kind}
	writeJSON(w, r, http.StatusCreated, out)
}

func (h *handler) issueToken(ctx context.Context, namespace, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	gk := tokenRequestKind.GroupKind()
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(gk, name, field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(gk, name, field.ErrorList{field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	obj, err := h.getCore(ctx, "serviceaccounts", namespace, name)
	if err != nil {
		return nil, err
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("serviceaccounts holds %T", obj))
	}
	apiAudiences := h.apiAudiences()
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = apiAudiences
	}
	req.Name, req.Namespace = sa.Name, sa.Namespace
	now := time.Now()
	req.CreationTimestamp = metav1.NewTime(now)
	req.Status = authenticationv1.TokenRequestStatus{}
	core.DefaultTokenRequest(req)
	if errs := core.ValidateTokenRequest(req); len(errs) > 0 {
		// Kubernetes validates before naming the request, so its message says TokenRequest "".
		return nil, apierrors.NewInvalid(gk, "", errs)
	}

	claims := serviceaccount.Claims{
		Namespace:      namespace,
		ServiceAccount: serviceaccount.Ref{Name: sa.Name, UID: string(sa.UID)},
		Audiences:      req.Spec.Audiences,
		IssuedAt:       now,
		NotBefore:      now,
	}
	var pod *corev1.Pod
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if pod, err = h.bindToken(ctx, namespace, name, ref, &claims); err != nil {
			return nil, err
		}
	}
	lifetime := time.Duration(*req.Spec.ExpirationSeconds) * time.Second
	claims.Expiry = now.Add(lifetime)
	if pod != nil && *req.Spec.ExpirationSeconds == warnOnlyTokenExpirationSeconds && slices.Equal(req.Spec.Audiences, apiAudiences) {
		claims.WarnAfter, claims.Expiry = claims.Expiry, now.Add(extendedTokenExpiration)
	}
	token, err := h.cfg.ServiceAccountTokens.Issue(claims)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	out := req.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(now.Add(lifetime))}
	return out, nil
}

// bindToken resolves the bound object reference into claims, with kube-apiserver's errors; it returns the
// pod when the token is bound to one.
func (h *handler) bindToken(ctx context.Context, namespace, saName string, ref *authenticationv1.BoundObjectReference, claims *serviceaccount.Claims) (*corev1.Pod, error) {
	gvk := schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind)
	var uid types.UID
	var pod *corev1.Pod
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		obj, err := h.getCore(ctx, "pods", namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		pod = obj.(*corev1.Pod)
		if saName != pod.Spec.ServiceAccountName {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", saName))
		}
		uid = pod.UID
		claims.Pod = &serviceaccount.Ref{Name: pod.Name, UID: string(pod.UID)}
		if pod.Spec.NodeName != "" {
			// A pod's node is informative only: a node not (or no longer) registered leaves it out.
			if obj, err := h.getCore(ctx, "nodes", "", pod.Spec.NodeName); err == nil {
				node := obj.(*corev1.Node)
				claims.Node = &serviceaccount.Ref{Name: node.Name, UID: string(node.UID)}
			}
		}
	case gvk.Group == "" && gvk.Kind == "Secret":
		obj, err := h.getCore(ctx, "secrets", namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		secret := obj.(*corev1.Secret)
		uid = secret.UID
		claims.Secret = &serviceaccount.Ref{Name: secret.Name, UID: string(secret.UID)}
	case gvk.Group == "" && gvk.Kind == "Node":
		obj, err := h.getCore(ctx, "nodes", "", ref.Name)
		if err != nil {
			return nil, err
		}
		node := obj.(*corev1.Node)
		uid = node.UID
		claims.Node = &serviceaccount.Ref{Name: node.Name, UID: string(node.UID)}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
	}
	if ref.UID != "" && uid != ref.UID {
		return nil, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
			fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return pod, nil
}

// apiAudiences are the audiences the API server accepts, and the default of a TokenRequest.
func (h *handler) apiAudiences() []string {
	if len(h.cfg.APIAudiences) > 0 {
		return h.cfg.APIAudiences
	}
	return []string{h.cfg.ServiceAccountTokens.Name()}
}

// authenticate accepts what cfg.Authenticate accepts, then valid service-account tokens.
func (h *handler) authenticate(r *http.Request) bool {
	if h.cfg.Authenticate == nil {
		return true
	}
	if _, ok := h.cfg.Authenticate(r); ok {
		return true
	}
	if h.cfg.ServiceAccountTokens == nil {
		return false
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	_, err := h.authenticateServiceAccount(r.Context(), strings.TrimSpace(token), time.Now())
	return err == nil
}

// errTokenInvalidated is why a well-signed token is refused: what it names is gone or was replaced.
var errTokenInvalidated = errors.New("service-account token invalidated")

// authenticateServiceAccount verifies a service-account token as Kubernetes' validator does: signature,
// issuer, times and audience, then that the service account and the objects the token is bound to still
// exist with the same uid. It returns the user name.
func (h *handler) authenticateServiceAccount(ctx context.Context, token string, now time.Time) (string, error) {
	claims, err := h.cfg.ServiceAccountTokens.Verify(token, h.apiAudiences(), now)
	if err != nil {
		return "", err
	}
	check := func(resource, namespace string, ref *serviceaccount.Ref, deletable bool) error {
		if ref == nil {
			return nil
		}
		obj, err := h.getCore(ctx, resource, namespace, ref.Name)
		if err != nil {
			return fmt.Errorf("%w: %s %s: %v", errTokenInvalidated, resource, ref.Name, err)
		}
		m, ok := obj.(metav1.Object)
		if !ok || string(m.GetUID()) != ref.UID {
			return fmt.Errorf("%w: %s %s was recreated", errTokenInvalidated, resource, ref.Name)
		}
		if deleted := m.GetDeletionTimestamp(); deletable && deleted != nil && deleted.Time.Before(now.Add(-deletedObjectGrace)) {
			return fmt.Errorf("%w: %s %s has been deleted", errTokenInvalidated, resource, ref.Name)
		}
		return nil
	}
	if err := check("serviceaccounts", claims.Namespace, &claims.ServiceAccount, true); err != nil {
		return "", err
	}
	if err := check("pods", claims.Namespace, claims.Pod, true); err != nil {
		return "", err
	}
	if err := check("secrets", claims.Namespace, claims.Secret, true); err != nil {
		return "", err
	}
	// A pod-bound token names the pod's node only for information; a node-bound one depends on it.
	if claims.Pod == nil {
		if err := check("nodes", "", claims.Node, false); err != nil {
			return "", err
		}
	}
	return claims.Subject(), nil
}
