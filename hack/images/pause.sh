#!/usr/bin/env bash
# Build the sandbox ("pause") image: hack/images/pause.c compiled statically, alone in a scratch image,
# running as 65535 (as upstream's). Needs only the C compiler and libc's static library (libc6-dev).
#   hack/images/pause.sh IMAGE_NAME WORK_DIR
set -euo pipefail
name=${1:?image name}
work=${2:?work dir}
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$work"
${CC:-cc} -Os -Wall -Werror -static -o "$work/pause" "$here/pause.c"
strip "$work/pause"
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah copy --quiet --chmod 0755 "$ctr" "$work/pause" /pause >/dev/null
buildah config --entrypoint '["/pause"]' --user 65535:65535 --os linux --arch amd64 "$ctr"
buildah commit --quiet --rm "$ctr" "$name" >/dev/null
trap - EXIT
