#!/usr/bin/env bash
# `make images`: kubedet's images built here without a Docker engine (docs/images.md).
#   hack/images/build.sh [operator] [trainer] [pause]      (default: all three)
# 1. base.sh: Debian bookworm root filesystems (debootstrap) committed as localhost/kubedet-base:bookworm
#    (the operator's) and localhost/kubedet-base-opencv:bookworm (the trainer's);
# 2. the operator and trainer images from their Dockerfiles with `buildah bud --isolation chroot --layers`,
#    FROM that base (build arguments), the trainer's Python packages from wheelhouse.sh's wheels;
# 3. pause.sh: the sandbox image;
# 4. each written as an OCI archive containerd imports (`ctr -n k8s.io images import FILE`), named in its
#    index.json: $IMAGES_CACHE/oci/<name>.tar.
# An image is rebuilt only when its key changes: the hash of its Dockerfile, build arguments, base image
# and the files its build reads. Otherwise it is skipped in milliseconds.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
here=hack/images
cache=${IMAGES_CACHE:-$root/.cache/images}
oci="$cache/oci"
# Two bases: the operator's (Python and its venv module, useradd, CA certificates) and the trainer's, which
# adds OpenCV's shared libraries (libgl1 pulls in Mesa and LLVM: ~200 MB the operator does not need).
base=localhost/kubedet-base:bookworm
base_packages=python3,python3-venv,passwd,ca-certificates
trainer_base=localhost/kubedet-base-opencv:bookworm
trainer_base_packages=$base_packages,libgl1,libglib2.0-0
# Fully qualified names, as kubelet and containerd see them: kubedet-operator:dev is
# docker.io/library/kubedet-operator:dev.
qualify() {
  local name=$1 first=${1%%/*}
  if [[ $name != */* ]]; then name=docker.io/library/$name
  elif [[ $first != *.* && $first != *:* && $first != localhost ]]; then name=docker.io/$name; fi
  [[ ${name##*/} == *:* || $name == *@* ]] || name=$name:latest
  echo "$name"
}
operator_image=$(qualify "${OPERATOR_IMAGE:-kubedet-operator:dev}")
trainer_image=$(qualify "${TRAINER_IMAGE:-kubedet-trainer:dev}")
pause_image=$(qualify "${PAUSE_IMAGE:-localhost/kubedet-pause:1}")
# Layer compression of the archives: gzip (default) or zstd (containerd >= 1.5 reads both). buildah 1.28
# compresses oci-archive layers whatever --disable-compression says.
push_flags=(--quiet --compression-format "${IMAGES_COMPRESSION:-gzip}")
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(operator trainer pause)

step() { echo "[images $(date +%H:%M:%S)] $*"; }
# A failed `buildah bud` leaves its working containers behind: two failed trainer builds held 28 GB and
# the next one ran out of disk. Whatever this script started goes when it ends, failed or not.
trap 'buildah rm --all >/dev/null 2>&1 || true' EXIT
command -v buildah >/dev/null && command -v debootstrap >/dev/null || {
  echo "buildah and debootstrap are missing: apt-get install -y buildah debootstrap" >&2; exit 2; }
mkdir -p "$oci"

# The hash of files (tracked and untracked, as git sees them) and of extra words.
files_key() {
  local words=$1; shift
  { echo "$words"; git ls-files -z -co --exclude-standard -- "$@" | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16
}
archive() { echo "$oci/$(echo "${1##*/}" | tr ':' '_').tar"; }
up_to_date() { [[ -f "$(archive "$1")" && "$(cat "$(archive "$1").key" 2>/dev/null)" == "$2" ]]; }
push() {
  local image=$1 key=$2 file; file=$(archive "$1")
  rm -f "$file" "$file.key"
  buildah push "${push_flags[@]}" "$image" "oci-archive:$file.tmp:$image"
  mv "$file.tmp" "$file" && echo "$key" > "$file.key"
  step "$image -> $file ($(du -h "$file" | cut -f1))"
}
# buildah bud with the settings both Dockerfiles share. The machine's CA bundle replaces the image's for
# the build's RUN steps only (pip reaches PyPI through this machine's proxy); it is not in the image.
bud() {
  local cert=(); [[ -f /etc/ssl/certs/ca-certificates.crt ]] && cert=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  buildah bud --quiet --isolation chroot --network host --layers --format oci "${cert[@]}" "$@" .
}

# Free space the trainer build needs where buildah writes (its storage and its temporary directory): the
# venv layer (5.4 GB) is written in the container, copied as a diff to the temporary directory and stored
# as a layer before the container goes (3 x 5.4 GB at the peak), and its compressed archive takes 2.7 GB.
trainer_free_gb=${IMAGES_TRAINER_FREE_GB:-20}
free_gb() {  # the least free space, in GiB, of the filesystems holding the given paths
  local least=-1 path avail
  for path in "$@"; do
    while [[ ! -e $path ]]; do path=$(dirname "$path"); done
    avail=$(df -P -BG "$path" | awk 'NR == 2 {sub("G", "", $4); print $4}')
    ((least < 0 || avail < least)) && least=$avail
  done
  echo "$least"
}
# Below the need, buildah's dangling images (the layer cache of earlier builds) and leftover working
# containers go first; if that is not enough, the build stops before it starts, saying what to free.
ensure_free_space() {
  local need=$1 what=$2 paths=(/var/lib/containers/storage "${TMPDIR:-/var/tmp}" "$oci") have
  have=$(free_gb "${paths[@]}")
  ((have >= need)) && return 0
  step "$have GiB free, $what needs about $need GiB: removing buildah's dangling images and containers"
  buildah rm --all >/dev/null 2>&1 || true
  buildah rmi --prune >/dev/null 2>&1 || true
  have=$(free_gb "${paths[@]}")
  ((have >= need)) && return 0
  echo "$what needs about $need GiB free on the disk of ${paths[*]}; $have GiB are free." >&2
  echo "Free some: make images-clean (buildah's kubedet images and the archives), make cluster-down (the real" >&2
  echo "node's image store), or another checkout's .venv and .cache/images; IMAGES_TRAINER_FREE_GB lowers the need." >&2
  exit 3
}

t_all=$SECONDS
image_id() { buildah inspect --type image --format '{{.FromImageID}}' "$1"; }

for target in "${targets[@]}"; do
  t0=$SECONDS
  case $target in
    operator)
      "$here/base.sh" "$cache" "$base" "$base_packages"
      base_id=$(image_id "$base")
      args=(--build-arg "PYTHON_IMAGE=$base")
      key=$(files_key "$base_id ${args[*]} $operator_image" operator/Dockerfile constraints.txt pyproject.toml README.md operator)
      if up_to_date "$operator_image" "$key"; then step "$operator_image is up to date"; continue; fi
      step "building $operator_image (operator/Dockerfile)"
      bud -f operator/Dockerfile -t "$operator_image" "${args[@]}" >/dev/null
      push "$operator_image" "$key"
      ;;
    trainer)
      "$here/base.sh" "$cache" "$trainer_base" "$trainer_base_packages"
      base_id=$(image_id "$trainer_base")
      "$here/wheelhouse.sh" "$cache/wheelhouse"
      wheelhouse=${cache#"$root"/}/wheelhouse
      args=(--build-arg "BUILD_IMAGE=$trainer_base" --build-arg "RUNTIME_IMAGE=$trainer_base"
            --build-arg "BUILD_PACKAGES=python3 python3-venv" --build-arg "RUNTIME_PACKAGES=python3 python3-venv libgl1 libglib2.0-0"
            --build-arg "WHEELHOUSE=$wheelhouse" --build-arg WHEELS_ONLY=1 --build-arg FORCE_CUDA=0)
      key=$(files_key "$base_id ${args[*]} $trainer_image $(cat "$cache/wheelhouse/.stamp")" trainer_image/Dockerfile \
        constraints.txt pyproject.toml README.md operator trainer_image/kubedet_trainer)
      if up_to_date "$trainer_image" "$key"; then step "$trainer_image is up to date"; continue; fi
      ensure_free_space "$trainer_free_gb" "the trainer image"
      step "building $trainer_image (trainer_image/Dockerfile, wheels from $wheelhouse)"
      bud -f trainer_image/Dockerfile -t "$trainer_image" "${args[@]}" >/dev/null
      push "$trainer_image" "$key"
      ;;
    pause)
      key=$(files_key "$pause_image" hack/images/pause.c hack/images/pause.sh)
      if up_to_date "$pause_image" "$key"; then step "$pause_image is up to date"; continue; fi
      step "building $pause_image (hack/images/pause.c)"
      "$here/pause.sh" "$pause_image" "$cache/pause"
      push "$pause_image" "$key"
      ;;
    *) echo "unknown image '$target' (operator, trainer, pause)" >&2; exit 2 ;;
  esac
  step "$target done in $((SECONDS - t0))s"
done
step "images ready in $((SECONDS - t_all))s: $oci"
