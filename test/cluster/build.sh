#!/usr/bin/env bash
# Builds the test control plane into test/cluster/bin/: kube (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl in one binary, with a kubectl link to it),
# kwok and helm. A stamp of the sources and versions makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")"

KUBERNETES_VERSION=v1.36.3 # keep in step with go.mod
KWOK_VERSION=v0.7.0        # the last release with its node and pod stages built in
HELM_VERSION=v3.22.0

export CGO_ENABLED=0
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  minor=${KUBERNETES_VERSION#v1.}
  ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean"
done
# Two cores are shared with whoever else works on this machine: stay polite.
build_flags=(-trimpath -buildvcs=false "-ldflags=$ldflags")

mkdir -p bin
exec 9>bin/.build.lock
flock 9

stamp=$(
  {
    go version
    echo "$KUBERNETES_VERSION $KWOK_VERSION $HELM_VERSION ${build_flags[*]}"
    cat go.mod go.sum
    for f in $(ls ./*.go | sort); do echo "$f"; cat "$f"; done
  } | sha256sum | cut -d' ' -f1
)
if [ -f bin/.stamp ] && [ "$(cat bin/.stamp)" = "$stamp" ] &&
  [ -x bin/kube ] && [ -x bin/kubectl ] && [ -x bin/kwok ] && [ -x bin/helm ]; then
  echo "test/cluster/bin is up to date (stamp $stamp)"
  exit 0
fi
rm -f bin/.stamp

step() {
  local started=$SECONDS
  echo "building $1..."
  shift
  "$@"
  echo "  done in $((SECONDS - started)) s"
}

started=$SECONDS
step "kube (Kubernetes $KUBERNETES_VERSION control plane, etcd, kubectl)" \
  nice -n 10 go build "${build_flags[@]}" -o bin/kube.new . 
mv -f bin/kube.new bin/kube
ln -sfn kube bin/kubectl
step "kwok $KWOK_VERSION" \
  env GOBIN="$PWD/bin" nice -n 10 go install "${build_flags[@]}" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
step "helm $HELM_VERSION" \
  env GOBIN="$PWD/bin" nice -n 10 go install "${build_flags[@]}" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

echo "$stamp" > bin/.stamp
echo "test/cluster/bin built in $((SECONDS - started)) s"
