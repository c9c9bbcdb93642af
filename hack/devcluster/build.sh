#!/usr/bin/env bash
# Build the devcluster binaries into bin/: the Kubernetes control plane, kubectl, etcd and kwok, and the
# real nodes' kubelet, kube-proxy, containerd (with ctr and its runc shim), runc and CoreDNS; and, only
# when asked for by name, the field's controllers: Kueue (kueue) and Kubeflow Trainer with JobSet
# (kubeflow), which no default path needs (`make cluster-up KUEUE=1`, their tests and the benchmark).
# A binary is rebuilt only when its pinned module files change: bin/.stamp-<name> holds their hash.
#   build.sh [all|etcd|kwok|kube|node|dns|kueue|kubeflow]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${BIN_DIR:-$root/bin}"
mkdir -p "$bin"
# shellcheck source=versions.env
source "$here/versions.env"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
start=$SECONDS

stamp_of() { cat "$here/versions.env" "$here/$1/go.mod" "$here/$1/go.sum" | sha256sum | cut -c1-16; }

module_version() {  # module-dir module-path: the version its go.mod requires
  awk -v m="$2" '$1 == m {print $2}' "$here/$1/go.mod"
}

build() {  # name module tags ldflags output packages...
  local name=$1 module=$2 tags=$3 ldflags=$4 output=$5; shift 5
  local want; want=$(stamp_of "$module")
  if [[ -f "$bin/.stamp-$name" && "$(cat "$bin/.stamp-$name")" == "$want" ]]; then
    echo "[devcluster build] $name: up to date"
    return
  fi
  echo "[devcluster build] $name: building $* ..."
  local t0=$SECONDS
  (cd "$here/$module" && go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$output" "$@")
  echo "$want" > "$bin/.stamp-$name"
  echo "[devcluster build] $name: done in $((SECONDS - t0))s"
}

kube_minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
etcd_ldflags="-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}"
kwok_ldflags="-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION}"
containerd_ldflags="-X github.com/containerd/containerd/v2/version.Version=${CONTAINERD_VERSION}"
runc_ldflags="-X main.version=${RUNC_VERSION#v}"

group=${1:-all}
if [[ $group == all || $group == etcd ]]; then build etcd etcd selinux,notest "$etcd_ldflags" "$bin/etcd" go.etcd.io/etcd/server/v3; fi
if [[ $group == all || $group == kwok ]]; then
  build kwok kwok selinux,notest "$kwok_ldflags" "$bin/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl
fi
if [[ $group == all || $group == kube ]]; then
  build kube kube selinux,notest "$kube_ldflags" "$bin/" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
fi
if [[ $group == all || $group == node ]]; then
  # The graph drivers a devcluster never uses need C libraries: left out, containerd links statically.
  build containerd node no_btrfs,no_devmapper,no_zfs "$containerd_ldflags" "$bin/" \
    github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
  # Debian's runc 1.1.5 fails under containerd 2.4 and its crun refuses the spec, so runc is built too,
  # with cgo for seccomp (libseccomp-dev; RuntimeDefault profiles need it).
  CGO_ENABLED=1 build runc node seccomp "$runc_ldflags" "$bin/runc" github.com/opencontainers/runc
fi
if [[ $group == all || $group == dns ]]; then build coredns dns "" "" "$bin/coredns" github.com/coredns/coredns; fi
if [[ $group == kueue ]]; then
  build kueue kueue "" "-X sigs.k8s.io/kueue/pkg/version.GitVersion=$(module_version kueue sigs.k8s.io/kueue)" \
    "$bin/kueue" sigs.k8s.io/kueue/cmd/kueue
fi
if [[ $group == kubeflow ]]; then
  build jobset kubeflow "" "" "$bin/jobset" sigs.k8s.io/jobset
  build kubeflow-trainer kubeflow "" "" "$bin/" github.com/kubeflow/trainer/v2/cmd/trainer-controller-manager
fi
echo "[devcluster build] all binaries ready in $((SECONDS - start))s"
