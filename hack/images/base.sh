#!/usr/bin/env bash
# Build a local Debian bookworm base image with debootstrap + buildah: no registry is reachable here, so the
# Dockerfiles' FROM images are made from Debian packages.
#   hack/images/base.sh CACHE_DIR IMAGE_NAME PACKAGES     (PACKAGES: comma-separated, on top of minbase)
# The mirror comes from apt's own sources at run time (apt-get indextargets) and is never stored: the
# rootfs's /etc/apt/sources.list and package lists are removed before the commit, so the base image can
# not run apt-get, and needs not: every package the Dockerfiles install is already in it.
# Skipped when the image exists with the key (an annotation) of the current package list.
set -euo pipefail
cache=${1:?cache dir}
name=${2:?image name}
packages=${3:?packages}
suite=bookworm
key=$(echo "$suite $packages v1" | sha256sum | cut -c1-16)

step() { echo "[images $(date +%H:%M:%S)] $*"; }

if [[ "$(buildah inspect --type image --format '{{index .ImageAnnotations "io.kubedet.base-key"}}' "$name" 2>/dev/null)" == "$key" ]]; then
  step "$name is up to date"
  exit 0
fi
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' \
  | awk -v s="$suite" '$2 == s {print $1; exit}')
[[ -n "$mirror" ]] || { echo "no '$suite' repository in apt's sources: cannot debootstrap" >&2; exit 1; }
rootfs="$cache/rootfs-$key"
rm -rf "$rootfs" "$rootfs.tmp"
mkdir -p "$cache"
t0=$SECONDS
step "debootstrap $suite (minbase + $packages) from apt's mirror"
mkdir -p "$cache/debs"
debootstrap --variant=minbase --cache-dir="$(cd "$cache/debs" && pwd)" --include="$packages" "$suite" "$rootfs.tmp" "$mirror" >"$cache/debootstrap-$key.log" 2>&1 \
  || { tail -20 "$cache/debootstrap-$key.log" >&2; exit 1; }
# Nothing of this machine's apt configuration, caches or logs goes into the image.
rm -rf "$rootfs.tmp"/etc/apt/sources.list "$rootfs.tmp"/etc/apt/sources.list.d/* \
  "$rootfs.tmp"/var/lib/apt/lists/* "$rootfs.tmp"/var/cache/apt/*.bin "$rootfs.tmp"/var/cache/apt/archives/*.deb \
  "$rootfs.tmp"/var/log/* "$rootfs.tmp"/usr/share/doc/* "$rootfs.tmp"/usr/share/man/* "$rootfs.tmp"/usr/share/info/*
: > "$rootfs.tmp/etc/resolv.conf"
mv "$rootfs.tmp" "$rootfs"
step "debootstrap done in $((SECONDS - t0))s; committing $name"
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$ctr")
cp -a "$rootfs"/. "$mnt"/
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
  --cmd /bin/bash --annotation "io.kubedet.base-key=$key" "$ctr"
buildah commit --quiet --rm "$ctr" "$name" >/dev/null
trap - EXIT
rm -rf "$rootfs"
step "$name committed in $((SECONDS - t0))s"
