#!/usr/bin/env bash
# `make demo`: kubedet on the devcluster's real node, for real: the operator as its Deployment, a
# dataset written onto a volume, its preflight, a real RTMDet-tiny training on the CPU, the model used
# by stock MMDetection, a run that fails in its pod, and who may publish.
#   hack/demo.sh          all of it (about 10 minutes on 2 cores once the images are built)
#   hack/demo.sh stop     stop the demo's operator: scale its Deployment to 0 (and stop the simulated
#                         walk-through's local operator, if one runs); make demo-down calls it
# Real: the control plane, the real node (kubelet, containerd, runc), every pod below, the training and
# its numbers. Simulated: the kwok GPU nodes and whatever lands on them (nothing here does).
# Every wait is bounded; the cluster and the operator keep running afterwards for you to explore.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export DEVCLUSTER_DIR="${DEVCLUSTER_DIR:-$root/.devcluster}"
# Always the devcluster's kubeconfig, whatever KUBECONFIG said: the demo never touches another cluster.
export KUBECONFIG="$DEVCLUSTER_DIR/kubeconfig"
py="${PY:-$root/.venv/bin/python}"
kubectl="$root/bin/kubectl"
ns=kubedet-demo
system=kubedet-system
overlay=manifests/overlays/devcluster-real-node

if [[ "${1:-}" == stop ]]; then
  # Standard library only: stopping works without .venv (make cluster-down on any machine).
  python3 hack/demo/local_operator.py stop
  if [[ -f "$KUBECONFIG" ]] && "$kubectl" get deployment kubedet-operator -n "$system" --request-timeout=5s >/dev/null 2>&1; then
    if [[ $("$kubectl" get deployment kubedet-operator -n "$system" -o jsonpath='{.spec.replicas}') != 0 ]]; then
      "$kubectl" scale deployment kubedet-operator -n "$system" --replicas=0 >/dev/null
      # Gone, not just told to go: whoever stops it (the tests) runs operators of its own next.
      "$kubectl" wait --for=delete pod -n "$system" -l app.kubernetes.io/component=operator --timeout=90s \
        >/dev/null 2>&1 || true
      echo "scaled deployment/kubedet-operator in $system to 0"
    fi
  fi
  exit 0
fi

source "$root/hack/demo/common.sh"
objects() { PYTHONPATH="$root/operator" "$py" hack/demo/real_objects.py "$@"; }
# A helper Job of the demo: wait for it, print its log, fail the demo if it failed.
job_done() {
  local name=$1 timeout=$2
  if ! kubectl wait --for=condition=Complete "job/$name" -n "$ns" --timeout="${timeout}s" >/dev/null; then
    kubectl logs "job/$name" -n "$ns" --tail=40 >&2 || true
    kubectl describe "job/$name" -n "$ns" | tail -20 >&2
    echo "job/$name did not complete within ${timeout}s" >&2
    exit 1
  fi
  kubectl logs "job/$name" -n "$ns" | sed 's/^/  | /'
}
uri_of() { kubectl get trainedmodel "$1" -n "$ns" -o jsonpath="$2"; }

step "Starting the devcluster: control plane, one real CPU node (kubelet, containerd, runc), kwok GPU nodes"
python3 hack/devcluster/devcluster.py up
k get nodes -L devcluster.kubedet.io/real,nvidia.com/gpu.product

step "Deploying kubedet: CRDs, roles, admission policies, and the operator as its Deployment on the real node"
# One operator at a time: `make demo-sim` leaves its local process running.
python3 hack/demo/local_operator.py stop | sed 's/^/  /'
k apply --server-side --force-conflicts --field-manager=kubedet-demo -k "$overlay" | sed 's/^/  /'
crds=(datasets.kubedet.io trainedmodels.kubedet.io trainingruns.kubedet.io)
kubectl wait --for=condition=Established --timeout=60s "${crds[@]/#/crd/}" >/dev/null
# The tests and the simulated walk-through scale it to 0 while they own the cluster.
kubectl scale deployment kubedet-operator -n "$system" --replicas=1 >/dev/null
k rollout status deployment/kubedet-operator -n "$system" --timeout=180s
k get pods -n "$system" -o wide
echo "  its JSON log (kubectl logs -n $system deploy/kubedet-operator):"
kubectl logs -n "$system" deploy/kubedet-operator --tail=3 | cut -c1-200 | sed 's/^/  | /'
echo "  its metrics, through the API server's proxy to the pod:"
kubectl get --raw "/api/v1/namespaces/$system/services/http:kubedet-operator-metrics:metrics/proxy/metrics" \
  | grep -E '^kubedet_' | head -4 | sed 's/^/  | /'

step "A namespace for the demo (PodSecurity restricted), its volumes, and two users"
if kubectl get namespace "$ns" >/dev/null 2>&1; then
  # A previous demo's runs carry kubedet's finalizer; the operator, running again, releases them.
  echo "  removing the previous demo's namespace"
  kubectl delete namespace "$ns" --timeout=180s >/dev/null
fi
k create namespace "$ns"
k label namespace "$ns" pod-security.kubernetes.io/enforce=restricted
objects claims | kubectl apply -n "$ns" -f - | sed 's/^/  /'
# alice trains models (kubedet-editor); bob approves them for inference (kubedet-publisher).
k create rolebinding alice-editor -n "$ns" --clusterrole=kubedet-editor --user=alice
k create rolebinding bob-publisher -n "$ns" --clusterrole=kubedet-publisher --user=bob

step "Writing two synthetic datasets and a base model onto the volumes (a Job of the trainer image)"
objects seed | kubectl apply -n "$ns" -f - | sed 's/^/  /'
job_done seed-demo-data 240

step "Datasets and the base model; kubedet checks each dataset in a preflight pod on the real node"
objects inputs | kubectl apply -n "$ns" -f - | sed 's/^/  /'
k wait --for=condition=Ready --timeout=180s -n "$ns" dataset/shapes dataset/shapes-vandalised trainedmodel/rtmdet-tiny-random
k get datasets,trainedmodels -n "$ns"
k get pods -n "$ns" -l kubedet.io/component=preflight -o wide

step "Training RTMDet-tiny on the CPU node for real (the trainer reports progress through its own token)"
objects run | kubectl apply -n "$ns" --as=alice -f - | sed 's/^/  /'
watch_run shapes-rtmdet-tiny Succeeded,Failed 900
k get trainingruns -n "$ns"
phase=$(kubectl get trainingrun shapes-rtmdet-tiny -n "$ns" -o jsonpath='{.status.phase}')
if [[ $phase != Succeeded ]]; then
  kubectl get trainingrun shapes-rtmdet-tiny -n "$ns" -o yaml >&2
  echo "the training did not succeed" >&2
  exit 1
fi
model=$(kubectl get trainingrun shapes-rtmdet-tiny -n "$ns" -o jsonpath='{.status.trainedModelRef.name}')
k get trainedmodel "$model" -n "$ns" -o jsonpath='{"metrics: "}{.status.metrics}{"\nstatistics: "}{.status.statistics}{"\nlineage: base "}{.spec.baseModelRef.name}{", dataset "}{.spec.datasetRef.name}{", run "}{.spec.trainingRunRef.name}{"\n"}'

echo "  its history, per-class AP and pictures (the kubectl plugin installed with the package: kubectl kubedet stats):"
"$root/.venv/bin/kubectl-kubedet" stats "$model" -n "$ns" --plot "$DEVCLUSTER_DIR/demo/plots" \
  | sed -n '1p;/AP per class/,$p' | sed 's/^/  | /'

step "The model, used by stock MMDetection (mmdet.apis) in a pod, from the volume"
objects detect "$(uri_of "$model" '{.spec.config}')" "$(uri_of "$model" '{.spec.checkpoint.uri}')" \
  datasets/shapes/images/shape_00079.png | kubectl apply -n "$ns" -f - | sed 's/^/  /'
job_done detect 240

step "A run that fails in its pod: files of a checked dataset deleted before the run reads them"
objects vandal | kubectl apply -n "$ns" -f - | sed 's/^/  /'
job_done vandal 120
objects broken-run | kubectl apply -n "$ns" --as=alice -f - | sed 's/^/  /'
watch_run shapes-vandalised-rtmdet-tiny Failed,Succeeded 300
k get trainingrun shapes-vandalised-rtmdet-tiny -n "$ns" \
  -o jsonpath='{range .status.conditions[?(@.type=="Failed")]}{.reason}: {.message}{"\n"}{end}'
k get pods -n "$ns" -l kubedet.io/training-run=shapes-vandalised-rtmdet-tiny \
  -o jsonpath='{range .items[*]}{.metadata.name}: exit code {.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}'
error_cm=$(kubectl get trainingrun shapes-vandalised-rtmdet-tiny -n "$ns" -o jsonpath='{.status.errorConfigMapRef.name}')
k get configmap "$error_cm" -n "$ns" \
  -o jsonpath='reason {.data.reason}, exit code {.data.exitCode}, pod {.data.podName}, failed at {.data.failedAt}{"\n"}'
echo "  its keys: $(kubectl get configmap "$error_cm" -n "$ns" -o jsonpath='{.data}' | "$py" -c 'import json,sys; print(", ".join(sorted(json.load(sys.stdin))))')"

step "Who may publish: alice (kubedet-editor) may not, bob (kubedet-publisher) may"
who_may_publish "$model"

summary
cat <<NEXT
  export KUBECONFIG=$KUBECONFIG
  kubectl get kubedet -n $ns
  kubectl describe trainingrun shapes-rtmdet-tiny -n $ns
  kubectl logs -n $system deploy/kubedet-operator     # the operator's JSON log
  ls $DEVCLUSTER_DIR/demo/plots                       # loss, mAP and per-class AP of the model
  $root/.venv/bin/kubectl-kubedet dashboard -n $ns   # the same as web pages, in your browser
  make demo-sim        # the same walk-through on simulated GPU nodes, in about a minute
  make demo-down       # stop the operator, keep the cluster
  make cluster-down    # stop everything
Simulated: the kwok GPU nodes (nothing above ran on them). Real: everything else.
NEXT
