// Package image is the node's image store: it pulls images from registries with go-containerregistry, imports
// docker-archive and OCI archives, keeps manifests and configs as content-addressed blobs, and unpacks every layer
// once, by diffID, into a directory that overlayfs can use directly as a lowerdir.
//
// On disk, under the store's root:
//
//	lock                  flock(2) serialising index changes between processes (the agent and `peapod image`)
//	index.json            references -> image ID, and archives already imported
//	images/<hex>.json     one record per image, named by its config digest
//	blobs/sha256/<hex>    manifests, indexes and configs
//	layers/<hex>/         an unpacked layer, named by its diffID, with overlayfs whiteouts
//	tmp/                  work in progress; everything becomes visible by an atomic rename
//
// The package knows Linux and OCI only; callers translate Kubernetes concepts (pull policies, Secrets) into
// its calls.
package image
