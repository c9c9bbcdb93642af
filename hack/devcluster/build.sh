#!/usr/bin/env bash
# Build the devcluster binaries (Kubernetes control plane + kubectl, etcd, kwok) into bin/.
# A binary is rebuilt only when its pinned module files change: bin/.stamp-<group> holds their hash.
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

build_group() {  # group ldflags output packages...
  local group=$1 ldflags=$2 output=$3; shift 3
  local want; want=$(stamp_of "$group")
  if [[ -f "$bin/.stamp-$group" && "$(cat "$bin/.stamp-$group")" == "$want" ]]; then
    echo "[devcluster build] $group: up to date"
    return
  fi
  echo "[devcluster build] $group: building $* ..."
  local t0=$SECONDS
  (cd "$here/$group" && go build -trimpath -tags selinux,notest -ldflags "-s -w $ldflags" -o "$output" "$@")
  echo "$want" > "$bin/.stamp-$group"
  echo "[devcluster build] $group: done in $((SECONDS - t0))s"
}

kube_minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
kube_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
etcd_ldflags="-X go.etcd.io/etcd/api/v3/version.GitSHA=${ETCD_VERSION}"
kwok_ldflags="-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION}"

group=${1:-all}
if [[ $group == all || $group == etcd ]]; then build_group etcd "$etcd_ldflags" "$bin/etcd" go.etcd.io/etcd/server/v3; fi
if [[ $group == all || $group == kwok ]]; then build_group kwok "$kwok_ldflags" "$bin/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl; fi
if [[ $group == all || $group == kube ]]; then
  build_group kube "$kube_ldflags" "$bin/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
fi
echo "[devcluster build] all binaries ready in $((SECONDS - start))s"
