#!/usr/bin/env bash
# `make demo-sim`: the walk-through on simulated GPU nodes, in about a minute: kwok plays the pods, so
# nothing trains and every training outcome is one the objects chose (hack/demo/objects.py says which).
# `make demo` is the real one (hack/demo.sh): real pods, a real training.
#   hack/demo-sim.sh          start the devcluster, install kubedet, run the operator, "train", fail, publish
#   hack/demo-sim.sh stop     stop its operator (make demo-down calls hack/demo.sh stop, which does it too)
# Every wait is bounded; the cluster and the operator keep running afterwards for you to explore.
# DEVCLUSTER_DIR (and the DEVCLUSTER_*_PORT variables) choose the devcluster, as for devcluster.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export DEVCLUSTER_DIR="${DEVCLUSTER_DIR:-$root/.devcluster}"
# Always the devcluster's kubeconfig, whatever KUBECONFIG said: the demo never touches another cluster.
export KUBECONFIG="$DEVCLUSTER_DIR/kubeconfig"
export PYTHONPATH="$root/operator:$root/trainer_image${PYTHONPATH:+:$PYTHONPATH}"
py="${PY:-$root/.venv/bin/python}"
kubectl="$root/bin/kubectl"
ns=kubedet-demo
overlay=manifests/overlays/devcluster

if [[ "${1:-}" == stop ]]; then
  # Standard library only: stopping works without .venv (make cluster-down on any machine).
  python3 hack/demo/local_operator.py stop
  exit 0
fi

source "$root/hack/demo/common.sh"
objects() { "$py" hack/demo/objects.py "$@"; }

step "Starting the devcluster (a real API server, scheduler and controllers; kwok plays the GPU nodes)"
python3 hack/devcluster/devcluster.py up

step "Installing kubedet: CRDs, roles, admission policies, the operator's namespace and identity"
k apply --server-side --force-conflicts --field-manager=kubedet-demo -k "$overlay" | sed 's/^/  /'
crds=(datasets.kubedet.io trainedmodels.kubedet.io trainingruns.kubedet.io)
k wait --for=condition=Established --timeout=60s "${crds[@]/#/crd/}"

step "Running the operator as a local process under its ServiceAccount (the simulated walk-through; make demo runs its Deployment)"
# One operator at a time: the overlay scaled `make demo`'s Deployment to 0; its pod must be gone first.
kubectl wait --for=delete pod -n kubedet-system -l app.kubernetes.io/component=operator --timeout=90s \
  >/dev/null 2>&1 || true
"$py" hack/demo/local_operator.py start --timeout 60

step "A namespace for the demo (PodSecurity restricted), storage, and two users"
if kubectl get namespace "$ns" >/dev/null 2>&1; then
  # A previous demo's runs carry kubedet's finalizer; the running operator releases them.
  echo "  removing the previous demo's namespace"
  kubectl delete namespace "$ns" --timeout=120s >/dev/null
  kubectl delete pv -l kubedet.io/demo=true --timeout=60s >/dev/null
fi
k create namespace "$ns"
k label namespace "$ns" pod-security.kubernetes.io/enforce=restricted
objects claims "$ns" | kubectl apply -f - | sed 's/^/  /'
# alice trains models (kubedet-editor); bob approves them for inference (kubedet-publisher).
k create rolebinding alice-editor -n "$ns" --clusterrole=kubedet-editor --user=alice
k create rolebinding bob-publisher -n "$ns" --clusterrole=kubedet-publisher --user=bob

step "The sample Dataset and base models (manifests/samples); kubedet checks the dataset in a preflight Job"
objects inputs | kubectl apply -n "$ns" -f - | sed 's/^/  /'
k wait --for=condition=Ready --timeout=90s -n "$ns" dataset/dump-sites trainedmodel/rtmdet-tiny-coco
k get datasets,trainedmodels -n "$ns"

step "The sample TrainingRun: fine-tune RTMDet-tiny on dump-sites, publish the model if it succeeds"
objects run | kubectl apply -n "$ns" -f - | sed 's/^/  /'
watch_run dump-sites-rtmdet-tiny Succeeded,Failed
model=$(kubectl get trainingrun dump-sites-rtmdet-tiny -n "$ns" -o jsonpath='{.status.trainedModelRef.name}')
k wait --for=condition=Published --timeout=60s -n "$ns" "trainedmodel/$model"
k get trainingruns,trainedmodels -n "$ns"
k get jobs -n "$ns" -l kubedet.io/component=trainer

step "A run that fails: learning rate 10 makes the loss diverge; the details go to an error ConfigMap"
objects failing | kubectl apply -n "$ns" -f - | sed 's/^/  /'
watch_run dump-sites-rtmdet-tiny-lr10 Failed,Succeeded
error_cm=$(kubectl get trainingrun dump-sites-rtmdet-tiny-lr10 -n "$ns" -o jsonpath='{.status.errorConfigMapRef.name}')
k get trainingrun dump-sites-rtmdet-tiny-lr10 -n "$ns" \
  -o jsonpath='{range .status.conditions[?(@.type=="Failed")]}{.reason}: {.message}{"\n"}{end}'
k get configmap "$error_cm" -n "$ns" -o yaml

step "Who may publish: alice schedules the draft; publishing its model needs the publish role"
objects draft | kubectl apply -n "$ns" -f - | sed 's/^/  /'
k wait --for=condition=Suspended --timeout=30s -n "$ns" trainingrun/dump-sites-faster-rcnn-draft
k get trainingrun dump-sites-faster-rcnn-draft -n "$ns" \
  -o jsonpath='{range .status.conditions[?(@.type=="Suspended")]}Suspended={.status} {.reason}: {.message}{"\n"}{end}'
k patch trainingrun dump-sites-faster-rcnn-draft -n "$ns" --as=alice --type=merge -p '{"spec":{"suspend":false}}'
watch_run dump-sites-faster-rcnn-draft Succeeded,Failed
draft_model=$(kubectl get trainingrun dump-sites-faster-rcnn-draft -n "$ns" -o jsonpath='{.status.trainedModelRef.name}')
who_may_publish "$draft_model"
echo "  alice tries to create a run that publishes its model by itself (server-side dry run):"
if objects publishing-run | show kubectl create -n "$ns" --as=alice --dry-run=server -f -; then
  echo "  unexpected: the admission policy let alice publish" >&2; exit 1
fi
summary
cat <<NEXT
  export KUBECONFIG=$KUBECONFIG
  kubectl get kubedet -n $ns
  kubectl describe trainingrun dump-sites-rtmdet-tiny -n $ns
  kubectl get trainedmodels -n $ns --as=alice    # what alice may see
  less $DEVCLUSTER_DIR/demo/operator.log         # the operator's log (JSON lines)
  make demo-down       # stop the operator, keep the cluster
  make cluster-down    # stop the operator and the cluster
NEXT
