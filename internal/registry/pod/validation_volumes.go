package pod

import (
	"fmt"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// validateVolumes validates spec.volumes and returns the valid volumes by name for the mount checks.
func validateVolumes(volumes []v1.Volume, fldPath *field.Path) (map[string]v1.VolumeSource, field.ErrorList) {
	allErrs := field.ErrorList{}
	names := sets.New[string]()
	vols := make(map[string]v1.VolumeSource, len(volumes))
	for i, vol := range volumes {
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, idxPath)
		if len(vol.Name) == 0 {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNS1123Label(vol.Name, namePath)...)
		}
		if names.Has(vol.Name) {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			names.Insert(vol.Name)
			vols[vol.Name] = vol.VolumeSource
		} else {
			allErrs = append(allErrs, el...)
		}
	}
	return vols, allErrs
}

// volumeType is one source of a VolumeSource, in the order Kubernetes checks them. pathName is the path
// element Kubernetes reports for a second source: it differs from the JSON name for cephfs ("cephFS")
// and downwardAPI ("downwarAPI", sic).
type volumeType struct {
	pathName string
	set      bool
	validate func(*field.Path) field.ErrorList // nil for sources peapod refuses (fields.Unsupported)
	jsonName string
}

func validateVolumeSource(src *v1.VolumeSource, fldPath *field.Path) field.ErrorList {
	types := []volumeType{
		{pathName: "emptyDir", set: src.EmptyDir != nil, validate: func(p *field.Path) field.ErrorList {
			if src.EmptyDir.SizeLimit != nil && src.EmptyDir.SizeLimit.Cmp(resource.Quantity{}) < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{pathName: "hostPath", set: src.HostPath != nil, validate: func(p *field.Path) field.ErrorList {
			return validateHostPathVolumeSource(src.HostPath, p)
		}},
		{pathName: "gitRepo", set: src.GitRepo != nil},
		{pathName: "gcePersistentDisk", set: src.GCEPersistentDisk != nil},
		{pathName: "awsElasticBlockStore", set: src.AWSElasticBlockStore != nil},
		{pathName: "secret", set: src.Secret != nil, validate: func(p *field.Path) field.ErrorList {
			return validateSecretVolumeSource(src.Secret, p)
		}},
		{pathName: "nfs", set: src.NFS != nil},
		{pathName: "iscsi", set: src.ISCSI != nil},
		{pathName: "glusterfs", set: src.Glusterfs != nil},
		{pathName: "flocker", set: src.Flocker != nil},
		{pathName: "persistentVolumeClaim", set: src.PersistentVolumeClaim != nil},
		{pathName: "rbd", set: src.RBD != nil},
		{pathName: "cinder", set: src.Cinder != nil},
		{pathName: "cephFS", set: src.CephFS != nil},
		{pathName: "quobyte", set: src.Quobyte != nil},
		{pathName: "downwarAPI", jsonName: "downwardAPI", set: src.DownwardAPI != nil, validate: func(p *field.Path) field.ErrorList {
			return validateDownwardAPIVolumeSource(src.DownwardAPI, p)
		}},
		{pathName: "fc", set: src.FC != nil},
		{pathName: "flexVolume", set: src.FlexVolume != nil},
		{pathName: "configMap", set: src.ConfigMap != nil, validate: func(p *field.Path) field.ErrorList {
			return validateConfigMapVolumeSource(src.ConfigMap, p)
		}},
		{pathName: "azureFile", set: src.AzureFile != nil},
		{pathName: "vsphereVolume", set: src.VsphereVolume != nil},
		{pathName: "photonPersistentDisk", set: src.PhotonPersistentDisk != nil},
		{pathName: "portworxVolume", set: src.PortworxVolume != nil},
		{pathName: "azureDisk", set: src.AzureDisk != nil},
		{pathName: "storageos", set: src.StorageOS != nil},
		{pathName: "projected", set: src.Projected != nil, validate: func(p *field.Path) field.ErrorList {
			return validateProjectedVolumeSource(src.Projected, p)
		}},
		{pathName: "scaleIO", set: src.ScaleIO != nil},
		{pathName: "csi", set: src.CSI != nil},
		{pathName: "ephemeral", set: src.Ephemeral != nil},
		{pathName: "image", set: src.Image != nil},
	}
	allErrs := field.ErrorList{}
	numVolumes := 0
	for _, t := range types {
		if !t.set {
			continue
		}
		if numVolumes > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(t.pathName), "may not specify more than 1 volume type"))
			continue
		}
		numVolumes++
		if t.validate != nil {
			name := t.pathName
			if t.jsonName != "" {
				name = t.jsonName
			}
			allErrs = append(allErrs, t.validate(fldPath.Child(name))...)
		}
	}
	if numVolumes == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

var supportedHostPathTypes = sets.New(
	v1.HostPathUnset, v1.HostPathDirectoryOrCreate, v1.HostPathDirectory, v1.HostPathFileOrCreate,
	v1.HostPathFile, v1.HostPathSocket, v1.HostPathCharDev, v1.HostPathBlockDev)

func validateHostPathVolumeSource(hostPath *v1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if len(hostPath.Path) == 0 {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	allErrs := validatePathNoBacksteps(hostPath.Path, fldPath.Child("path"))
	if t := hostPath.Type; t != nil && !supportedHostPathTypes.Has(*t) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), *t, sets.List(supportedHostPathTypes)))
	}
	return allErrs
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateSecretVolumeSource(src *v1.SecretVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(src.SecretName) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("secretName"), ""))
	}
	allErrs = append(allErrs, validateFileMode(src.DefaultMode, fldPath.Child("defaultMode"))...)
	for i := range src.Items {
		allErrs = append(allErrs, validateKeyToPath(&src.Items[i], fldPath.Child("items").Index(i))...)
	}
	return allErrs
}

func validateConfigMapVolumeSource(src *v1.ConfigMapVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(src.Name) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	}
	allErrs = append(allErrs, validateFileMode(src.DefaultMode, fldPath.Child("defaultMode"))...)
	for i := range src.Items {
		allErrs = append(allErrs, validateKeyToPath(&src.Items[i], fldPath.Child("items").Index(i))...)
	}
	return allErrs
}

func validateKeyToPath(kp *v1.KeyToPath, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(kp.Key) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("key"), ""))
	}
	if len(kp.Path) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	allErrs = append(allErrs, validateFileMode(kp.Mode, fldPath.Child("mode"))...)
	return allErrs
}

var validVolumeDownwardAPIFieldPaths = sets.New(
	"metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations", "metadata.uid")

func validateDownwardAPIVolumeFile(file *v1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if len(file.Path) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(file.Path, fldPath.Child("path"))...)
	switch {
	case file.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(file.FieldRef, validVolumeDownwardAPIFieldPaths, fldPath.Child("fieldRef"))...)
		if file.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case file.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateContainerResourceFieldSelector(file.ResourceFieldRef, fldPath.Child("resourceFieldRef"), true)...)
	default:
		allErrs = append(allErrs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	allErrs = append(allErrs, validateFileMode(file.Mode, fldPath.Child("mode"))...)
	return allErrs
}

func validateDownwardAPIVolumeSource(src *v1.DownwardAPIVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateFileMode(src.DefaultMode, fldPath.Child("defaultMode"))
	for i := range src.Items {
		// Kubernetes reports item errors under the volume's path, without the item index.
		allErrs = append(allErrs, validateDownwardAPIVolumeFile(&src.Items[i], fldPath)...)
	}
	return allErrs
}

func validateProjectedVolumeSource(projection *v1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateFileMode(projection.DefaultMode, fldPath.Child("defaultMode"))
	allPaths := sets.New[string]()
	addPath := func(p, badValue string) {
		if allPaths.Has(p) {
			allErrs = append(allErrs, field.Invalid(fldPath, badValue, "conflicting duplicate paths"))
		}
		allPaths.Insert(p)
	}
	for i, source := range projection.Sources {
		numSources := 0
		srcPath := fldPath.Child("sources").Index(i)
		if source.Secret != nil {
			numSources++
			projPath := srcPath.Child("secret")
			if len(source.Secret.Name) == 0 {
				allErrs = append(allErrs, field.Required(projPath.Child("name"), ""))
			}
			for j := range source.Secret.Items {
				kp := &source.Secret.Items[j]
				allErrs = append(allErrs, validateKeyToPath(kp, projPath.Child("items").Index(j))...)
				if len(kp.Path) > 0 {
					addPath(kp.Path, source.Secret.Name)
				}
			}
		}
		if source.ConfigMap != nil {
			numSources++
			projPath := srcPath.Child("configMap")
			if len(source.ConfigMap.Name) == 0 {
				allErrs = append(allErrs, field.Required(projPath.Child("name"), ""))
			}
			for j := range source.ConfigMap.Items {
				kp := &source.ConfigMap.Items[j]
				allErrs = append(allErrs, validateKeyToPath(kp, projPath.Child("items").Index(j))...)
				if len(kp.Path) > 0 {
					addPath(kp.Path, source.ConfigMap.Name)
				}
			}
		}
		if source.DownwardAPI != nil {
			numSources++
			projPath := srcPath.Child("downwardAPI")
			for j := range source.DownwardAPI.Items {
				file := &source.DownwardAPI.Items[j]
				allErrs = append(allErrs, validateDownwardAPIVolumeFile(file, projPath)...)
				if len(file.Path) > 0 {
					addPath(file.Path, file.Path)
				}
			}
		}
		if tok := source.ServiceAccountToken; tok != nil {
			numSources++
			projPath := srcPath.Child("serviceAccountToken")
			if tok.ExpirationSeconds != nil {
				if *tok.ExpirationSeconds < 10*60 {
					allErrs = append(allErrs, field.Invalid(projPath.Child("expirationSeconds"), *tok.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				}
				if *tok.ExpirationSeconds > 1<<32 {
					allErrs = append(allErrs, field.Invalid(projPath.Child("expirationSeconds"), *tok.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			// Kubernetes reports the token path under the projected volume's path, not the source's.
			if tok.Path == "" {
				allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validateLocalNonReservedPath(tok.Path, fldPath.Child("path"))...)
			}
		}
		if source.ClusterTrustBundle != nil {
			numSources++
		}
		if numSources > 1 {
			allErrs = append(allErrs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}

// validateLocalDescendingPath requires a relative path without ".." elements.
func validateLocalDescendingPath(targetPath string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	if filepath.IsAbs(targetPath) {
		allErrs = append(allErrs, field.Invalid(fldPath, targetPath, "must be a relative path"))
	}
	return append(allErrs, validatePathNoBacksteps(targetPath, fldPath)...)
}

func validatePathNoBacksteps(targetPath string, fldPath *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(targetPath), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fldPath, targetPath, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalNonReservedPath(targetPath string, fldPath *field.Path) field.ErrorList {
	allErrs := validateLocalDescendingPath(targetPath, fldPath)
	// The ".." element check above already caught "../x".
	if strings.HasPrefix(targetPath, "..") && !strings.HasPrefix(targetPath, "../") {
		allErrs = append(allErrs, field.Invalid(fldPath, targetPath, "must not start with '..'"))
	}
	return allErrs
}

// Downward API fields a pod may expose, as Kubernetes' ConvertDownwardAPIFieldLabel accepts them for v1.
var downwardAPIFieldLabels = sets.New(
	"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
	"status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")

func validateObjectFieldSelector(fs *v1.ObjectFieldSelector, expressions sets.Set[string], fldPath *field.Path) field.ErrorList {
	if len(fs.APIVersion) == 0 {
		return field.ErrorList{field.Required(fldPath.Child("apiVersion"), "")}
	}
	if len(fs.FieldPath) == 0 {
		return field.ErrorList{field.Required(fldPath.Child("fieldPath"), "")}
	}
	if err := convertDownwardAPIFieldLabel(fs.APIVersion, fs.FieldPath); err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath, fmt.Sprintf("error converting fieldPath: %v", err))}
	}
	if path, subscript, ok := splitSubscriptedPath(fs.FieldPath); ok {
		switch path {
		case "metadata.annotations":
			return validateQualifiedName(strings.ToLower(subscript), fldPath)
		case "metadata.labels":
			return validateQualifiedName(subscript, fldPath)
		default:
			return field.ErrorList{field.Invalid(fldPath, path, "does not support subscript")}
		}
	}
	if !expressions.Has(fs.FieldPath) {
		return field.ErrorList{field.NotSupported(fldPath.Child("fieldPath"), fs.FieldPath, sets.List(expressions))}
	}
	return nil
}

func convertDownwardAPIFieldLabel(version, label string) error {
	if version != "v1" {
		return fmt.Errorf("unsupported pod version: %s", version)
	}
	if path, _, ok := splitSubscriptedPath(label); ok {
		if path == "metadata.annotations" || path == "metadata.labels" {
			return nil
		}
		return fmt.Errorf("field label does not support subscript: %s", label)
	}
	if !downwardAPIFieldLabels.Has(label) {
		return fmt.Errorf("field label not supported: %s", label)
	}
	return nil
}

// splitSubscriptedPath splits "metadata.labels['key']" into "metadata.labels" and "key".
func splitSubscriptedPath(fieldPath string) (string, string, bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	path, subscript, found := strings.Cut(strings.TrimSuffix(fieldPath, "']"), "['")
	if !found || path == "" {
		return fieldPath, "", false
	}
	return path, subscript, true
}

var validContainerResourceFieldPaths = sets.New(
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage")

var (
	validCPUDivisors    = sets.New("1m", "1")
	validMemoryDivisors = sets.New("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")
)

func validateContainerResourceFieldSelector(fs *v1.ResourceFieldSelector, fldPath *field.Path, volume bool) field.ErrorList {
	allErrs := field.ErrorList{}
	switch {
	case volume && len(fs.ContainerName) == 0:
		allErrs = append(allErrs, field.Required(fldPath.Child("containerName"), ""))
	case len(fs.Resource) == 0:
		allErrs = append(allErrs, field.Required(fldPath.Child("resource"), ""))
	case !validContainerResourceFieldPaths.Has(fs.Resource) &&
		!strings.HasPrefix(fs.Resource, "requests.hugepages-") && !strings.HasPrefix(fs.Resource, "limits.hugepages-"):
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("resource"), fs.Resource, sets.List(validContainerResourceFieldPaths)))
	}
	if fs.Divisor.IsZero() {
		return allErrs
	}
	divisor := fs.Divisor.String()
	switch r := fs.Resource; {
	case r == "limits.cpu" || r == "requests.cpu":
		if !validCPUDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("divisor"), r, "only divisor's values 1m and 1 are supported with the cpu resource"))
		}
	case r == "limits.memory" || r == "requests.memory":
		if !validMemoryDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("divisor"), r, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"))
		}
	case r == "limits.ephemeral-storage" || r == "requests.ephemeral-storage":
		if !validMemoryDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("divisor"), r, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource"))
		}
	case strings.HasPrefix(r, "requests.hugepages-") || strings.HasPrefix(r, "limits.hugepages-"):
		if !validMemoryDivisors.Has(divisor) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("divisor"), r, "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource"))
		}
	}
	return allErrs
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for _, msg := range validation.IsDNS1123Label(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	allErrs := field.ErrorList{}
	for _, msg := range validation.IsQualifiedName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}
