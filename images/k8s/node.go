package k8s

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/labctl/labctl/images"
	"github.com/labctl/labctl/images/labos"
)

// NodeName is the labos variant for Kubernetes nodes, served under
// /assets/labos-k8s/.
const NodeName = labos.Name + "-" + Name

// NodePackages are the Debian packages a node adds to labos: the container
// runtime and CNI plugins (docs/architecture.md says why Debian's), and what
// kube-proxy and the kubelet call.
// dbus: the kubelet's and runc's systemd cgroup driver talk to systemd.
var NodePackages = []string{"containerd", "runc", "containernetworking-plugins", "iptables", "conntrack", "ethtool", "socat", "dbus"}

// Paths in the node's root.
const (
	BinDir    = "/usr/local/bin"
	ImagesDir = "/usr/local/share/labos/images" // OCI archives imported at boot
)

// NodeOptions say which node image to build.
type NodeOptions struct {
	Kubernetes Options  // the binaries and images
	Packages   []string // default NodePackages
	Labos      labos.Options
	Log        *slog.Logger
}

// BuildNode returns the labos-k8s image, building the Kubernetes binaries
// and then the labos variant holding them when the cache lacks either.
func BuildNode(ctx context.Context, opts NodeOptions) (*images.Image, error) {
	if opts.Log != nil {
		opts.Kubernetes.Log, opts.Labos.Log = opts.Log, opts.Log
	}
	if opts.Kubernetes.CacheDir == "" {
		opts.Kubernetes.CacheDir = opts.Labos.CacheDir
	}
	kube, err := Build(ctx, opts.Kubernetes)
	if err != nil {
		return nil, err
	}
	packages := opts.Packages
	if packages == nil {
		packages = NodePackages
	}
	files := map[string]string{}
	for _, b := range append([]string{Binary}, Commands...) { // the links stay links
		files[BinDir+"/"+b] = filepath.Join(kube.Dir, b)
	}
	for _, a := range []string{PauseArchive, HelloArchive} {
		files[ImagesDir+"/"+a] = filepath.Join(kube.Dir, a)
	}
	opts.Labos.Variant = &labos.Variant{Name: Name, Packages: packages, Files: files, FilesKey: kube.Manifest.Key}
	return labos.Build(ctx, opts.Labos)
}
