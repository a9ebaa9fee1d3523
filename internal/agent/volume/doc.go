// Package volume builds the contents of a pod's kubelet-managed volumes and lays them out on disk the way the
// kubelet does, so that programs written against Kubernetes (which watch ..data, read symlinked keys, expect
// the kubelet's error texts in events) behave the same under peapod.
//
// Three parts, each usable alone:
//   - Writer: the kubelet's AtomicWriter. A payload lands in a hidden timestamped directory, the ..data symlink
//     is swapped to it with rename(2), and every user-visible name is a symlink through ..data.
//   - Payload builders for configMap, secret, downwardAPI and projected volumes. Their inputs come through
//     small interfaces (Inputs), so they run without an API server.
//   - emptyDir set-up and tear-down (a directory, or a tmpfs for medium Memory) and hostPath type checks.
//
// Ownership is fsGroup-less: files belong to the agent's user (root), as the kubelet leaves them when a pod
// sets no fsGroup; modes come from defaultMode and per-item modes.
package volume
