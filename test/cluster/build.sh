#!/usr/bin/env bash
# Builds the test control plane into test/cluster/bin/: kube (etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl in one binary, with a kubectl link to it),
# kwok, helm, and for the real node the kubelet and (with gcc) a static pause binary (the sandbox image's
# one program, from the kubernetes module's build/pause/linux/pause.c). A stamp of the sources
# and versions makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")"

KUBERNETES_VERSION=v1.36.3 # keep in step with go.mod
KWOK_VERSION=v0.7.0        # the last release with its node and pod stages built in
HELM_VERSION=v3.22.0
HELM_KUBE_MINOR=37         # the k8s.io modules helm $HELM_VERSION is built with (its go.mod)
PAUSE_VERSION=3.10.2       # build/pause/Makefile's TAG in Kubernetes $KUBERNETES_VERSION

export CGO_ENABLED=0
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  minor=${KUBERNETES_VERSION#v1.}
  ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean"
done
build_flags=(-trimpath -buildvcs=false "-ldflags=$ldflags")
# As helm's own release build stamps them: its version, and the Kubernetes version that
# `helm template` and `helm lint` assume when no cluster is asked.
helm_ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$HELM_KUBE_MINOR"
done
helm_build_flags=(-trimpath -buildvcs=false "-ldflags=$helm_ldflags")
kwok_build_flags=(-trimpath -buildvcs=false "-ldflags=-s -w")

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
command -v go >/dev/null || {
  echo "build.sh needs Go 1.26 or newer (on the PATH or in /usr/local/go/bin) to build the test control plane: https://go.dev/dl/" >&2
  exit 1
}
# Only the real node needs pause, and only it needs a C compiler: without gcc it is left out.
have_gcc=$(command -v gcc || true)
pause_flags=(-Os -Wall -Werror -static "-DVERSION=v$PAUSE_VERSION")

mkdir -p bin
exec 9>bin/.build.lock
flock 9

stamp=$(
  {
    go version
    if [ -n "$have_gcc" ]; then gcc --version | head -n 1; else echo "no gcc"; fi
    echo "$KUBERNETES_VERSION $KWOK_VERSION $HELM_VERSION $PAUSE_VERSION ${build_flags[*]} ${kwok_build_flags[*]} ${helm_build_flags[*]} ${pause_flags[*]}"
    cat go.mod go.sum
    for f in $(ls ./*.go ./kubelet/*.go | sort); do echo "$f"; cat "$f"; done
  } | sha256sum | cut -d' ' -f1
)
if [ -f bin/.stamp ] && [ "$(cat bin/.stamp)" = "$stamp" ] &&
  [ -x bin/kube ] && [ -x bin/kubectl ] && [ -x bin/kwok ] && [ -x bin/helm ] && [ -x bin/kubelet ] && { [ -x bin/pause ] || [ -z "$have_gcc" ]; }; then
  echo "test/cluster/bin is up to date (stamp $stamp)"
  exit 0
fi
rm -f bin/.stamp

# go -v names each package as it is compiled, one path a line: the names go to a log with go's other output
# (a cold build compiles thousands), a line every 30 s says how far it is, and a failed step shows what
# else go said: its errors.
log=bin/.build.log
: >"$log"
started=$SECONDS
echo "building the test control plane into test/cluster/bin: about 20 min the first time on 2 cores (Go's caches empty), seconds once built"
(
  exec 9>&- # the ticker must not hold the build lock
  while sleep 30 >/dev/null; do
    elapsed=$((SECONDS - started))
    echo "  building the test control plane (first build ~20 min): $((elapsed / 60)) min $((elapsed % 60)) s elapsed," \
      "$(grep -c '^go: downloading' "$log") modules downloaded, $(grep -c '^[^ ]*$' "$log") packages compiled"
  done
) &
progress=$!
trap 'kill "$progress" 2>/dev/null' EXIT

step() {
  local name=$1 step_started=$SECONDS
  echo "building $name..."
  shift
  if ! "$@" 2>>"$log"; then
    echo "building $name failed; what go said, without the package names (all of it: test/cluster/$log):" >&2
    grep -v -e '^[^ ]*$' -e '^go: downloading' "$log" | tail -n 40 >&2
    exit 1
  fi
  echo "  done in $((SECONDS - step_started)) s"
}

# Two cores are shared with whoever else works on this machine: stay polite.
step "kube (Kubernetes $KUBERNETES_VERSION control plane, etcd, kubectl)" \
  nice -n 10 go build -v "${build_flags[@]}" -o bin/kube.new .
mv -f bin/kube.new bin/kube
ln -sfn kube bin/kubectl
step "kwok $KWOK_VERSION" \
  env GOBIN="$PWD/bin" nice -n 10 go install -v "${kwok_build_flags[@]}" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
step "helm $HELM_VERSION" \
  env GOBIN="$PWD/bin" nice -n 10 go install -v "${helm_build_flags[@]}" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"

# The kubelet shares most of its packages with the control plane: built after it, it takes
# a minute or two.
step "kubelet (Kubernetes $KUBERNETES_VERSION, for the real node)" \
  nice -n 10 go build -v "${build_flags[@]}" -o bin/kubelet.new ./kubelet
mv -f bin/kubelet.new bin/kubelet
if [ -n "$have_gcc" ]; then
  kubernetes_dir=$(go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  step "pause $PAUSE_VERSION (the real node's sandbox)" \
    gcc "${pause_flags[@]}" -o bin/pause.new "$kubernetes_dir/build/pause/linux/pause.c"
  mv -f bin/pause.new bin/pause
else
  echo "no gcc: pause is not built, and the real node cannot run (Debian: apt-get install gcc)"
fi

echo "$stamp" > bin/.stamp
echo "test/cluster/bin built in $((SECONDS - started)) s"
