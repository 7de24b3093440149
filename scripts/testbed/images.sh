#!/usr/bin/env bash
# Test bed, part 2: the images, built locally (no registry): root filesystems from Debian packages,
# the dev-container base image, the Kubernetes component images, and the kind node image with those
# images and the Flux controller images preloaded. Needs the binaries from binaries.sh and the Flux
# images from flux.sh.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOTFS=$TESTBED_CACHE/rootfs
IMAGES=$TESTBED_CACHE/images
mkdir -p "$ROOTFS" "$IMAGES"

NODE_DIR=$TESTBED_DIR/node
# versions.env holds the Flux versions too: a Flux bump builds a new node image with the new images.
NODE_HASH=$(content_hash "$TESTBED_DIR/images.sh" "$TESTBED_DIR/versions.env" "$NODE_DIR"/*)
BASE_IMAGE=kind-cluster-testbed/devcontainer-base:bookworm
NETBASE_IMAGE=kind-cluster-testbed/netbase:bookworm
KC_NET_IMAGE=kind-cluster-testbed/kc-net:$NODE_HASH
NODE_IMAGE=kind-cluster-testbed/node:$KUBERNETES_VERSION-$NODE_HASH

NODE_PACKAGES=systemd,systemd-sysv,dbus,conntrack,iptables,nftables,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,bash,ca-certificates,curl,jq,procps
NET_PACKAGES=iptables,nftables,conntrack,iproute2,ipset,kmod,ca-certificates
BASE_PACKAGES=ca-certificates,curl,sudo,procps,iproute2,git,busybox

# rootfs_tar NAME PACKAGES: a debootstrap minbase bookworm with PACKAGES, as a tarball.
rootfs_tar() { debootstrap_tar bookworm "$2" "$ROOTFS/$1.tar"; }

# rootfs_image NAME PACKAGES TAG: the rootfs (cached as a tarball) imported as an image.
rootfs_image() {
  local name=$1 packages=$2 tag=$3
  step "rootfs $name" "$ROOTFS/$name.tar" rootfs_tar "$name" "$packages"
  docker import "$ROOTFS/$name.tar" "$tag" >/dev/null
}

# component_image NAME BINARY TAGS...: FROM scratch with one static binary, tagged as kubeadm expects
# (NAME only labels the build; TAGS carry the versions).
component_image() {
  local name=$1 binary=$2 context; shift 2
  context=$(mktemp -d)
  cp "$TESTBED_BIN/$binary" "$context/"
  printf 'FROM scratch\nCOPY %s /usr/local/bin/%s\nENV PATH=/usr/local/bin\nENTRYPOINT ["/usr/local/bin/%s"]\n' "$binary" "$binary" "$binary" >"$context/Dockerfile"
  build_image "$name" "$context"
  rm -rf "$context"
  for tag in "$@"; do docker tag "$name" "$tag"; done
}

# The image names kubeadm asks for, by component ("etcd" -> "<registry>/etcd:3.6.5-0").
kubeadm_image() { grep -E "/$1:[^/]*$" "$TESTBED_BIN/images.txt"; }

build_component_images() {
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler etcd; do
    component_image "kind-cluster-testbed/$c" "$c" "$(kubeadm_image "$c")"
  done
  component_image kind-cluster-testbed/coredns coredns "$(kubeadm_image coredns)"
  # The sandbox image: kubeadm's name, and the one kind's containerd config names.
  component_image kind-cluster-testbed/pause pause "$(kubeadm_image pause)" "$(sandbox_image)"
  net_image "$(kubeadm_image kube-proxy)" kube-proxy
  net_image "$KC_NET_IMAGE" kubectl "$NODE_DIR/kc-net.sh"
}

sandbox_image() {
  sed -n 's/^ *sandbox_image *= *"\(.*\)"/\1/p' "$(kind_module)/images/base/files/etc/containerd/config.toml"
}

# net_image TAG BINARY [SCRIPT]: on the netbase image (iptables userland), for kube-proxy and kc-net.
net_image() {
  local tag=$1 binary=$2 script=${3:-} context
  context=$(mktemp -d)
  cp "$TESTBED_BIN/$binary" "$context/"
  {
    echo "FROM $NETBASE_IMAGE"
    echo "COPY $binary /usr/local/bin/$binary"
    if [[ -n $script ]]; then
      cp "$script" "$context/kc-net"
      echo "COPY kc-net /usr/local/bin/kc-net"
      echo "RUN chmod 0755 /usr/local/bin/kc-net"
    fi
  } >"$context/Dockerfile"
  build_image "$tag" "$context"
  rm -rf "$context"
}

save_images() {
  local out=$IMAGES/components-$NODE_HASH.tar
  # shellcheck disable=SC2046
  docker save -o "$out.tmp" $(cat "$TESTBED_BIN/images.txt") "$(sandbox_image)" "$KC_NET_IMAGE" $(flux_images)
  mv "$out.tmp" "$out"
}

kind_module() { go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir; }

# The node's root filesystem: Debian with systemd, kind's base files (read from kind's module at
# build time), our binaries, and the manifests kind reads from /kind.
node_rootfs_layer() {
  local context=$1 files
  files="$(kind_module)/images/base/files"
  mkdir -p "$context/root/usr/local/bin" "$context/root/usr/local/sbin" "$context/root/usr/bin" \
    "$context/root/opt/cni/bin" "$context/root/kind/manifests" "$context/root/etc/kubernetes/manifests"
  cp -r "$files/." "$context/root/"
  chmod -R u+w "$context/root"
  chmod 0755 "$context/root/usr/local/bin/"* "$context/root/kind/bin/"*
  # This kernel withholds CAP_SYS_RESOURCE, so runc cannot lower a pod's oom_score_adj below the
  # runtime's own; containerd's restrict_oom_score_adj clamps it instead of failing every sandbox.
  sed -i 's/^\( *restrict_oom_score_adj *= *\)false/\1true/' "$context/root/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$context/root/etc/containerd/config.toml" || die "kind's containerd config changed: restrict_oom_score_adj not found"
  cp "$TESTBED_BIN"/{containerd,ctr,containerd-shim-runc-v2} "$context/root/usr/local/bin/"
  cp "$TESTBED_BIN/runc" "$context/root/usr/local/sbin/runc"
  cp "$TESTBED_BIN"/{kubelet,kubeadm,kubectl} "$context/root/usr/bin/"
  cp "$TESTBED_BIN"/cni/* "$context/root/opt/cni/bin/"
  "$TESTBED_BIN/ctr" oci spec |
    jq '.hooks.createContainer += [{"path": "/kind/bin/mount-product-files.sh"}] | del(.process.rlimits)' \
      >"$context/root/etc/containerd/cri-base.json"
  echo "$KUBERNETES_VERSION" >"$context/root/kind/version"
  sed "s#__KC_NET_IMAGE__#$KC_NET_IMAGE#" "$NODE_DIR/default-cni.yaml" >"$context/root/kind/manifests/default-cni.yaml"
}

# The node image before images are preloaded: rootfs + kind's layout + systemd set up as kind does.
build_node_base() {
  local context
  context=$(mktemp -d)
  node_rootfs_layer "$context"
  cat >"$context/Dockerfile" <<DOCKERFILE
FROM kind-cluster-testbed/node-rootfs:bookworm
COPY root/ /
RUN find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
    /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
    /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo ReadKMsg=no >>/etc/systemd/journald.conf \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
 && containerd --version && runc --version && kubeadm version -o short
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
DOCKERFILE
  build_image "kind-cluster-testbed/node-base:$NODE_HASH" "$context"
  rm -rf "$context"
}

# Starts containerd inside the node image, imports the component images (pinned, not unpacked, as
# kind's own image builder does), then commits the result as the node image.
preload_images() {
  local name=kind-cluster-testbed-preload-$$ tar=$IMAGES/components-$NODE_HASH.tar
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --privileged --entrypoint sleep -v "$tar:/images.tar:ro" \
    "kind-cluster-testbed/node-base:$NODE_HASH" infinity >/dev/null
  docker exec "$name" bash -c 'nohup containerd >/var/log/containerd-preload.log 2>&1 &
    for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && break; sleep 1; done
    ctr -n k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests /images.tar >/dev/null
    ctr -n k8s.io images ls -q' >"$IMAGES/preloaded-$NODE_HASH.txt"
  docker exec "$name" pkill containerd || true
  sleep 2
  docker commit \
    --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'CMD []' \
    "$name" "$NODE_IMAGE" >/dev/null
  docker rm -f "$name" >/dev/null
  local expected
  for expected in $(cat "$TESTBED_BIN/images.txt") "$KC_NET_IMAGE" $(flux_images); do
    grep -q "$expected\$" "$IMAGES/preloaded-$NODE_HASH.txt" || die "image $expected missing from the node image's containerd"
  done
}

# Earlier builds of the node image (other content hashes) and their tarballs only take disk.
remove_stale() {
  find "$IMAGES" -name 'components-*.tar' ! -name "components-$NODE_HASH.tar" -delete
  find "$IMAGES" -name 'preloaded-*.txt' ! -name "preloaded-$NODE_HASH.txt" -delete
  local image
  for image in $(docker images --format '{{.Repository}}:{{.Tag}}' | grep -E '^kind-cluster-testbed/(node|node-base|kc-net):' | grep -v -e ":$NODE_HASH\$" -e ":$KUBERNETES_VERSION-$NODE_HASH\$"); do
    docker rmi "$image" >/dev/null 2>&1 || true
  done
}

main() {
  step_image "devcontainer base image" "$BASE_IMAGE" rootfs_image devcontainer-base "$BASE_PACKAGES" "$BASE_IMAGE"
  step_image "netbase image" "$NETBASE_IMAGE" rootfs_image netbase "$NET_PACKAGES" "$NETBASE_IMAGE"
  step_image "node rootfs image" kind-cluster-testbed/node-rootfs:bookworm rootfs_image node "$NODE_PACKAGES" kind-cluster-testbed/node-rootfs:bookworm
  step_image "component images" "$KC_NET_IMAGE" build_component_images
  step "component tarball" "$IMAGES/components-$NODE_HASH.tar" save_images
  step_image "node base image" "kind-cluster-testbed/node-base:$NODE_HASH" build_node_base
  step_image "node image" "$NODE_IMAGE" preload_images
  remove_stale
  echo "$NODE_IMAGE"
}

main "$@"
