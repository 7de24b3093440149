#!/bin/bash
# kc-net: the test bed's pod network, a small stand-in for kindnetd (whose module the Go proxy does
# not serve). On every node it writes a CNI config for the node's pod CIDR (ptp + host-local + portmap),
# routes every other node's pod CIDR through that node, and masquerades traffic leaving the pod network.
set -euo pipefail

: "${NODE_NAME:?}" "${POD_SUBNET:?}" "${CONTROL_PLANE_ENDPOINT:?}"
SA=/var/run/secrets/kubernetes.io/serviceaccount
CNI_CONF=/etc/cni/net.d/10-kc-net.conflist

api() {
  kubectl --server "https://$CONTROL_PLANE_ENDPOINT" --certificate-authority "$SA/ca.crt" \
    --token "$(cat "$SA/token")" "$@"
}

write_cni_config() {
  local cidr=$1
  cat >"$CNI_CONF.tmp" <<CONF
{
  "cniVersion": "0.4.0",
  "name": "kc-net",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$cidr" }]], "routes": [{ "dst": "0.0.0.0/0" }] },
      "mtu": 1500
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CONF
  if ! cmp -s "$CNI_CONF.tmp" "$CNI_CONF"; then mv "$CNI_CONF.tmp" "$CNI_CONF"; echo "CNI config for $cidr written"; else rm -f "$CNI_CONF.tmp"; fi
}

masquerade() {
  iptables -t nat -C POSTROUTING -s "$POD_SUBNET" ! -d "$POD_SUBNET" -j MASQUERADE 2>/dev/null ||
    iptables -t nat -A POSTROUTING -s "$POD_SUBNET" ! -d "$POD_SUBNET" -j MASQUERADE
}

sync_once() {
  local name cidr ip
  while read -r name cidr ip; do
    [[ -z $cidr || $cidr == "<none>" ]] && continue
    if [[ $name == "$NODE_NAME" ]]; then
      write_cni_config "$cidr"
    else
      ip route replace "$cidr" via "$ip"
    fi
  done < <(api get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}')
}

masquerade
while true; do
  sync_once || echo "sync failed; retrying"
  sleep 5
done
