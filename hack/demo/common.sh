# Shared by hack/demo.sh and hack/demo-sim.sh (sourced after they set root, ns, py and kubectl):
# transcript helpers and the publishing walk-through both demos end with.
t0=$SECONDS
bold=$'\e[1m'; dim=$'\e[2m'; reset=$'\e[0m'
[[ -t 1 ]] || { bold=''; dim=''; reset=''; }
step() { printf '\n%s==> %s%s %s(%ss)%s\n' "$bold" "$*" "$reset" "$dim" "$((SECONDS - t0))" "$reset"; }
# Show the command, then run it: the demo is also a transcript of what to type.
show() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; "$@"; }
k() { show kubectl "$@"; }
kubectl() { "$kubectl" "$@"; }
watch_run() { "$py" hack/demo/watch.py trainingrun "$1" -n "$ns" --until "$2" --timeout "${3:-120}"; }

# alice (kubedet-editor) may not publish MODEL; bob (kubedet-publisher) may. A publish that succeeds for
# alice ends the demo with an error: the roles would be broken.
who_may_publish() {
  local model=$1
  echo "  alice (kubedet-editor) tries to publish $model:"
  if show kubectl patch trainedmodel "$model" -n "$ns" --as=alice --type=merge -p '{"spec":{"published":true}}'; then
    echo "  unexpected: alice could publish" >&2; exit 1
  fi
  echo "  bob (kubedet-publisher) publishes it:"
  k patch trainedmodel "$model" -n "$ns" --as=bob --type=merge -p '{"spec":{"published":true}}'
  k wait --for=condition=Published --timeout=60s -n "$ns" "trainedmodel/$model"
}

summary() {
  step "Everything kubedet made, as a data scientist sees it"
  k get kubedet -n "$ns"
  printf '\n%sDone in %ss.%s The devcluster and the operator keep running. Next:\n' "$bold" "$((SECONDS - t0))" "$reset"
}
