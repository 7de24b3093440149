#!/usr/bin/env bash
# Test bed, part 1: every binary a kind node needs, built from Go modules (no release downloads exist
# here). Outputs land in $TESTBED_BIN; each is skipped when already built.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SRC=$TESTBED_CACHE/src
mkdir -p "$SRC" "$TESTBED_BIN/cni"
export CGO_ENABLED=0

build_kind() {
  go_install "$TESTBED_BIN" "sigs.k8s.io/kind@$KIND_VERSION"
}

KUBE_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubeadm kubectl)

kube_ldflags() {
  local v=${KUBERNETES_VERSION#v} flags="-s -w" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=${v%%.*}"
    flags+=" -X $pkg.gitMinor=$(cut -d. -f2 <<<"$v") -X $pkg.gitTreeState=clean"
    flags+=" -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.buildDate=2000-01-01T00:00:00Z"
  done
  echo "$flags"
}

build_kubernetes() {
  local dir=$SRC/kubernetes-$KUBERNETES_VERSION packages=("${KUBE_COMMANDS[@]/#/k8s.io/kubernetes/cmd/}") out
  wrapper_module "$dir" k8s.io/kubernetes "$KUBERNETES_VERSION" "v0.${KUBERNETES_VERSION#v1.}" "${packages[@]}"
  out="$(mktemp -d "$SRC/out.XXXX")"
  wrapper_build "$dir" "$out" -tags selinux,notest -ldflags "$(kube_ldflags)" -- "${packages[@]}"
  mv "$out"/* "$TESTBED_BIN/" && rmdir "$out"
}

write_image_list() {
  "$TESTBED_BIN/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" >"$TESTBED_BIN/images.txt.tmp"
  mv "$TESTBED_BIN/images.txt.tmp" "$TESTBED_BIN/images.txt"
}

build_etcd() {
  local dir=$SRC/etcd-$ETCD_VERSION out
  wrapper_module "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION" go.etcd.io/etcd/server/v3
  out="$(mktemp -d "$SRC/out.XXXX")"
  wrapper_build "$dir" "$out" -ldflags "-s -w" -- go.etcd.io/etcd/server/v3
  mv "$out/server" "$TESTBED_BIN/etcd" && rmdir "$out" # go names a .../v3 main after its parent
}

build_coredns() {
  go_install "$TESTBED_BIN" "github.com/coredns/coredns@$COREDNS_VERSION" -ldflags "-s -w"
}

build_pause() {
  gcc -static -Os -s -o "$TESTBED_BIN/pause.tmp" "$TESTBED_DIR/pause/pause.c"
  mv "$TESTBED_BIN/pause.tmp" "$TESTBED_BIN/pause"
}

build_containerd() {
  local dir=$SRC/containerd-$CONTAINERD_VERSION module=github.com/containerd/containerd/v2 packages out
  packages=("$module/cmd/containerd" "$module/cmd/ctr" "$module/cmd/containerd-shim-runc-v2")
  wrapper_module "$dir" "$module" "$CONTAINERD_VERSION" "$CONTAINERD_VERSION" "${packages[@]}"
  out="$(mktemp -d "$SRC/out.XXXX")"
  wrapper_build "$dir" "$out" -tags "no_btrfs no_devmapper no_zfs" \
    -ldflags "-s -w -X $module/version.Version=$CONTAINERD_VERSION" -- "${packages[@]}"
  mv "$out"/* "$TESTBED_BIN/" && rmdir "$out"
}

build_runc() {
  # runc needs cgo for seccomp (Debian's libseccomp-dev).
  CGO_ENABLED=1 go_install "$TESTBED_BIN" "github.com/opencontainers/runc@$RUNC_VERSION" \
    -tags seccomp -ldflags "-s -w -X main.version=${RUNC_VERSION#v}"
}

build_cni_plugins() {
  local plugin
  for plugin in main/ptp main/bridge main/loopback main/host-device ipam/host-local meta/portmap; do
    go_install "$TESTBED_BIN/cni" "github.com/containernetworking/plugins/plugins/$plugin@$CNI_PLUGINS_VERSION" -ldflags "-s -w"
  done
}

main() {
  step "kind $KIND_VERSION" "$TESTBED_BIN/kind" build_kind
  step "kubernetes $KUBERNETES_VERSION" "$TESTBED_BIN/kubeadm" build_kubernetes
  step "image list" "$TESTBED_BIN/images.txt" write_image_list
  step "etcd $ETCD_VERSION" "$TESTBED_BIN/etcd" build_etcd
  step "coredns $COREDNS_VERSION" "$TESTBED_BIN/coredns" build_coredns
  step "pause $PAUSE_VERSION" "$TESTBED_BIN/pause" build_pause
  step "containerd $CONTAINERD_VERSION" "$TESTBED_BIN/containerd-shim-runc-v2" build_containerd
  step "runc $RUNC_VERSION" "$TESTBED_BIN/runc" build_runc
  step "cni plugins $CNI_PLUGINS_VERSION" "$TESTBED_BIN/cni/portmap" build_cni_plugins
}

main "$@"
