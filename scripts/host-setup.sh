#!/usr/bin/env bash
# Prepares a Debian 12 machine (or container without systemd/udev) to host vmdesk guests:
# installs missing packages, fixes /dev/kvm permissions, libvirt's QEMU namespaces setting and the
# swtpm certificate authority's ownership, and starts virtlogd + libvirtd if they are not running.
# Idempotent; a re-run on a ready host takes well under a second.
#
# Usage: sudo scripts/host-setup.sh
# Env:   VMDESK_SKIP_APT=1  skip the package step
set -euo pipefail

log() { echo "[host] $*"; }
die() { echo "[host] error: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root"

packages=(
  qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev pkg-config
  postgresql chromium websockify
  busybox-static linux-image-cloud-amd64 isolinux syslinux syslinux-common mtools dosfstools xorriso cpio
  kmod iproute2 fonts-dejavu-core dnsmasq-base
  iptables libvirt-daemon-config-nwfilter
  openssl
  # UEFI guests: OVMF (libvirt picks a build from /usr/share/qemu/firmware/*.json), a vTPM (libvirt
  # runs swtpm_setup and swtpm itself), and the signed shim + grub the demo image boots through.
  ovmf swtpm swtpm-tools shim-signed grub-efi-amd64-signed
)

if [[ ${VMDESK_SKIP_APT:-0} == 1 ]]; then
  log "packages: skipped (VMDESK_SKIP_APT=1)"
else
  missing=()
  for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "packages: all ${#packages[@]} installed"
  else
    log "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
  fi
fi

# Without udev /dev/kvm stays root-only, but QEMU runs as libvirt-qemu (member of group kvm).
if [[ -e /dev/kvm ]]; then
  if [[ $(stat -c '%G %a' /dev/kvm) != "kvm 660" ]]; then
    chgrp kvm /dev/kvm
    chmod 0660 /dev/kvm
    log "/dev/kvm: group kvm, mode 0660"
  else
    log "/dev/kvm: ok"
  fi
else
  log "/dev/kvm: absent (guests need domain type qemu)"
fi

# Containers cannot give each QEMU its own mount namespace.
qemu_conf=/etc/libvirt/qemu.conf
[[ -f $qemu_conf ]] || die "$qemu_conf missing: is libvirt-daemon-system installed?"
if ! grep -Eq '^[[:space:]]*namespaces[[:space:]]*=' "$qemu_conf"; then
  printf '\n# vmdesk host-setup: no mount namespaces in this container\nnamespaces = [ ]\n' >> "$qemu_conf"
  log "$qemu_conf: namespaces = [ ]"
  restart_libvirtd=1
fi

# libvirt runs swtpm_setup as qemu.conf's swtpm_user (default tss), which signs each new vTPM's EK
# certificate with the local CA in /var/lib/swtpm-localca. A libvirtd started before swtpm-tools
# created the tss user falls back to root, and root's first vTPM creates that CA root-owned (0640):
# after the next libvirtd start, every vTPM set-up as tss would fail. The CA belongs to tss.
localca=/var/lib/swtpm-localca
if [[ -d $localca ]] && id tss > /dev/null 2>&1 && [[ -n $(find "$localca" ! -user tss -print -quit) ]]; then
  chown -R tss:root "$localca"
  log "$localca: owned by tss"
fi

# True when the pid file names a live process with this command name, or one runs anyway.
running() {
  local name=$1 pidfile=$2 pid
  if [[ -r $pidfile ]]; then
    pid=$(< "$pidfile")
    if [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm && $(< "/proc/$pid/comm") == "$name" ]]; then
      return 0
    fi
  fi
  # Lab hosts (npm run lab:hosts) run their own virtlogd and libvirtd in other network namespaces.
  local own_net
  own_net=$(readlink /proc/self/ns/net)
  for pid in $(pgrep -x "$name"); do
    [[ $(readlink "/proc/$pid/ns/net" 2>/dev/null) == "$own_net" ]] && return 0
  done
  return 1
}

if running virtlogd /run/virtlogd.pid; then
  log "virtlogd: running"
else
  virtlogd -d -p /run/virtlogd.pid
  log "virtlogd: started"
fi

if running libvirtd /run/libvirtd.pid; then
  if [[ ${restart_libvirtd:-0} == 1 ]]; then
    log "libvirtd: running, but qemu.conf changed: restart it to apply (running guests keep running)"
  else
    log "libvirtd: running"
  fi
else
  libvirtd -d -p /run/libvirtd.pid
  log "libvirtd: started"
fi

for ((i = 0; i < 60; i++)); do
  if virsh -c qemu:///system version > /dev/null 2>&1; then
    log "qemu:///system answers ($(virsh -c qemu:///system version 2>/dev/null | sed -n 's/^Running hypervisor: //p'))"
    exit 0
  fi
  sleep 0.25
done
die "qemu:///system did not answer within 15 s"
