#!/usr/bin/env bash
# Builds vmdesk's tiny demo guest from Debian packages only (busybox-static, the cloud kernel in
# /boot, syslinux/isolinux, shim-signed, grub-efi-amd64-signed, mtools, dosfstools, xorriso, cpio,
# qemu-utils):
#   OUT_DIR/vmdesk-demo.qcow2  one FAT image (no partition table, no loop mounts): syslinux for BIOS,
#                              /EFI/BOOT/BOOTX64.EFI for UEFI
#   OUT_DIR/vmdesk-demo.iso    isolinux (BIOS) and an El Torito EFI image, hybrid
# UEFI boots Debian's signed chain: shim (Microsoft-signed) → grub (Debian-signed) → the cloud kernel
# (Debian-signed), so the guest also boots under Secure Boot with Microsoft's keys enrolled; grub
# finds its config through /.disk/info, as on Debian's own media.
# Both boot the same kernel + busybox initramfs: shell on ttyS0 and tty1 (root, no password),
# acpid powers off on the ACPI power button, and "vmdesk-demo-ready" is written to the serial port
# once the guest is up, with a shell on both consoles (the tests' readiness signal). A cloud-init NoCloud seed disc (IDE CD-ROM,
# label cidata) sets the host name; the name and each SSH key's fingerprint are printed on the serial
# port ("vmdesk-cloudinit hostname=NAME", "vmdesk-cloudinit key SHA256:...") before that marker.
# Before those: "vmdesk-firmware efi=0|1 secureboot=0|1 tpm=0|1" (booted through UEFI, Secure Boot
# on as the firmware reports it, a TPM found: the cloud kernel has tpm_tis and tpm_crb built in).
#
# Usage: scripts/build-demo-image.sh OUT_DIR
# Env:   VMDESK_DEMO_KVER   kernel version to use (default: newest /boot/vmlinuz-*-cloud-amd64)
#        VMDESK_DEMO_FORCE=1 rebuild even when the outputs are up to date
# Idempotent: skips when both outputs exist and OUT_DIR/.vmdesk-demo.stamp matches this script's
# checksum and the kernel version. Outputs are written to a temporary directory, then renamed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out_dir=$1
log() { echo "[demo-image] $*"; }

kver=${VMDESK_DEMO_KVER:-}
if [[ -z $kver ]]; then
  kernel=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n $kernel ]] || { echo "no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64" >&2; exit 1; }
  kver=${kernel#/boot/vmlinuz-}
fi
kernel=/boot/vmlinuz-$kver
[[ -r $kernel ]] || { echo "cannot read $kernel" >&2; exit 1; }

script_sum=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
stamp_want="$script_sum $kver"
qcow2=$out_dir/vmdesk-demo.qcow2
iso=$out_dir/vmdesk-demo.iso
stamp=$out_dir/.vmdesk-demo.stamp

if [[ ${VMDESK_DEMO_FORCE:-0} != 1 && -f $qcow2 && -f $iso && -f $stamp && "$(cat "$stamp")" == "$stamp_want" ]]; then
  log "up to date: $qcow2 $iso"
  exit 0
fi

mkdir -p "$out_dir"
work=$(mktemp -d "$out_dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- initramfs ------------------------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/acpi/PWRF,proc,sys,dev,run,tmp,root,var/log,var/run}
cp /bin/busybox "$root/bin/busybox"
# Applet links exactly where busybox expects them (bin/ls, sbin/init, usr/bin/...).
while read -r applet; do
  [[ $applet == bin/busybox ]] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done < <(/bin/busybox --list-full)
ln -s bin/busybox "$root/init"

# Modules with their dependencies, in load order, deduplicated.
modules="virtio_pci virtio_blk virtio_net virtio_console virtio-rng virtio_balloon virtio_scsi
  ata_piix sr_mod isofs vfat evdev button serio_raw efivarfs"
: > "$root/etc/modules.order"
for m in $modules; do
  modprobe -S "$kver" --show-depends "$m" | while read -r verb path _; do
    [[ $verb == insmod ]] || continue
    rel=${path#/}
    grep -qxF "/$rel" "$root/etc/modules.order" && continue
    mkdir -p "$root/$(dirname "$rel")"
    cp "$path" "$root/$rel"
    echo "/$rel" >> "$root/etc/modules.order"
  done
done

cat > "$root/etc/init.d/rcS" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
while read -r ko; do insmod "$ko" 2>/dev/null; done < /etc/modules.order
hostname -F /etc/hostname
efi=0 sb=0 tpm=0
if [ -d /sys/firmware/efi ]; then
  efi=1
  mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
  # 4 bytes of attributes, then the value: 1 when the firmware enforces Secure Boot (read whole:
  # efivarfs files do not seek).
  v=$(od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c 2>/dev/null | awk '{ print $5 }')
  [ "$v" = 1 ] && sb=1
fi
[ -e /sys/class/tpm/tpm0 ] && tpm=1
echo "vmdesk-firmware efi=$efi secureboot=$sb tpm=$tpm" >> /dev/ttyS0
/bin/vmdesk-cidata
ip link set lo up
# acpid reads /dev/input/event* (the ACPI "Power Button" device from button.ko) and runs
# /etc/acpi/PWRF/00000080 on a press.
acpid -c /etc/acpi -l /var/log/acpid.log
EOF
chmod 0755 "$root/etc/init.d/rcS"

# cloud-init NoCloud, the demo's way (busybox has no ssh-keygen: the fingerprint is the blob's SHA-256
# re-encoded as unpadded base64 by awk, exactly what `ssh-keygen -lf` prints). Runs from rcS, so its
# lines reach the serial console before the readiness marker.
cat > "$root/bin/vmdesk-cidata" <<'EOF'
#!/bin/sh
# cloud-init NoCloud, the demo's way: the first CD-ROM with meta-data on it is the seed (label
# cidata). Sets the host name from local-hostname and prints it and each SSH key's SHA256
# fingerprint (as ssh-keygen -lf shows it) on the serial console.
out=/dev/ttyS0
seed=/run/cidata
mkdir -p "$seed"
found=
for sys in /sys/block/sr*; do
  [ -e "$sys" ] || continue
  dev=/dev/${sys##*/}
  mount -t iso9660 -o ro "$dev" "$seed" 2>/dev/null || continue
  [ -f "$seed/meta-data" ] && { found=1; break; }
  umount "$seed"
done
[ -n "$found" ] || exit 0
name=$(sed -n 's/^local-hostname:[ ]*//p' "$seed/meta-data" | head -n 1 | tr -d "\"'\r")
if [ -n "$name" ]; then
  hostname "$name"
  echo "$name" > /etc/hostname
  echo "vmdesk-cloudinit hostname=$name" >> "$out"
fi
cat "$seed/user-data" "$seed/meta-data" 2>/dev/null |
  grep -oE '(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*' | sort -u |
  while read -r _type blob; do
    hex=$(echo "$blob" | base64 -d 2>/dev/null | sha256sum | cut -d' ' -f1)
    fp=$(echo "$hex" | awk '
      BEGIN { b = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"; h = "0123456789abcdef" }
      { n = length($1) / 2; o = ""
        for (i = 0; i < n; i += 3) {
          v = 0; k = 0
          for (j = 0; j < 3; j++) { v *= 256; if (i + j < n) { p = 2 * (i + j); v += (index(h, substr($1, p + 1, 1)) - 1) * 16 + index(h, substr($1, p + 2, 1)) - 1; k++ } }
          o = o substr(b, int(v / 262144) % 64 + 1, 1) substr(b, int(v / 4096) % 64 + 1, 1)
          if (k > 1) o = o substr(b, int(v / 64) % 64 + 1, 1)
          if (k > 2) o = o substr(b, v % 64 + 1, 1)
        }
        print o }')
    echo "vmdesk-cloudinit key SHA256:$fp" >> "$out"
  done
exit 0
EOF
chmod 0755 "$root/bin/vmdesk-cidata"

# udhcpc's default hook (busybox ships none): applies the lease and prints one line tests read on the
# serial console. Not run at boot: readiness must not wait for a DHCP server.
mkdir -p "$root/etc/udhcpc"
cat > "$root/etc/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
    for s in $dns; do echo "nameserver $s"; done > /etc/resolv.conf
    echo "vmdesk-lease $ip router ${router%% *} server $serverid" ;;
esac
EOF
chmod 0755 "$root/etc/udhcpc/default.script"

cat > "$root/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
exec poweroff
EOF
chmod 0755 "$root/etc/acpi/PWRF/00000080"

# getty -n skips its own prompt (and /etc/issue), so the login program shows the banner. Gettys run
# only after rcS has finished, i.e. once acpid is up. The readiness marker is written by /etc/profile
# once the login shells on BOTH ttyS0 and tty1 run: keys typed on the graphical console before tty1's
# getty starts are flushed by it, so "ready" must mean "a keyboard reaches a shell" too (a console test
# once typed into that gap and lost its keys). Each shell marks itself, then checks for the other: the
# later of the two prints (both may, never neither).
cat > "$root/bin/autologin" <<'EOF'
#!/bin/sh
cat /etc/issue
exec /bin/login -f root
EOF
chmod 0755 "$root/bin/autologin"

cat > "$root/etc/inittab" <<'EOF'
::sysinit:/etc/init.d/rcS
ttyS0::respawn:/sbin/getty -n -l /bin/autologin 115200 ttyS0 vt100
tty1::respawn:/sbin/getty -n -l /bin/autologin 38400 tty1 linux
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
EOF

printf 'vmdesk demo guest\n\n' > "$root/etc/issue"
echo vmdesk-demo > "$root/etc/hostname"
echo 'root::0:0:root:/root:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
echo 'root::0:0:99999:7:::' > "$root/etc/shadow"
chmod 0600 "$root/etc/shadow"
echo '/bin/sh' > "$root/etc/shells"
cat > "$root/etc/profile" <<'EOF'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='vmdesk-demo:\w# '
tty_name=$(tty)
touch "/run/shell-${tty_name##*/}"
if [ -e /run/shell-ttyS0 ] && [ -e /run/shell-tty1 ]; then echo vmdesk-demo-ready > /dev/ttyS0; fi
unset tty_name
EOF

initrd=$work/initrd.gz
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9n > "$initrd"

cmdline="console=tty1 console=ttyS0,115200 no_timer_check panic=10"
boot_cfg() {
  printf 'DEFAULT vmdesk\nPROMPT 0\nTIMEOUT 0\nLABEL vmdesk\n  KERNEL %s\n  INITRD %s\n  APPEND %s\n' \
    "$1" "$2" "$cmdline"
}

# --- UEFI: shim → grub, both signed; grub's built-in config searches /.disk/info and then reads
# /boot/grub/grub.cfg from that file system.
shim=/usr/lib/shim/shimx64.efi.signed
grub_disk=/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
grub_cd=/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed
for f in "$shim" "$grub_disk" "$grub_cd"; do
  [[ -r $f ]] || { echo "cannot read $f: install shim-signed grub-efi-amd64-signed" >&2; exit 1; }
done
printf 'set timeout=0\nlinux /vmlinuz %s\ninitrd /initrd.gz\nboot\n' "$cmdline" > "$work/grub.cfg"
echo "vmdesk demo guest" > "$work/disk-info"

# --- qcow2: syslinux on a FAT file system, filled with mtools ------------------------------------
raw=$work/disk.raw
truncate -s 64M "$raw"
mkfs.vfat -n VMDESKDEMO "$raw" > /dev/null
syslinux --install "$raw"
boot_cfg /vmlinuz /initrd.gz > "$work/syslinux.cfg"
mcopy -i "$raw" "$kernel" ::/vmlinuz
mcopy -i "$raw" "$initrd" ::/initrd.gz
mcopy -i "$raw" "$work/syslinux.cfg" ::/syslinux.cfg
mmd -i "$raw" ::/EFI ::/EFI/BOOT ::/boot ::/boot/grub ::/.disk
mcopy -i "$raw" "$shim" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$raw" "$grub_disk" ::/EFI/BOOT/grubx64.efi
mcopy -i "$raw" "$work/grub.cfg" ::/boot/grub/grub.cfg
mcopy -i "$raw" "$work/disk-info" ::/.disk/info
qemu-img convert -f raw -O qcow2 -o compat=1.1 "$raw" "$work/vmdesk-demo.qcow2"

# --- ISO: isolinux + El Torito EFI image (shim, grub's CD build), hybrid MBR and GPT ------------
isodir=$work/iso
mkdir -p "$isodir/isolinux" "$isodir/boot/grub" "$isodir/.disk"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$isodir/isolinux/"
cp "$kernel" "$isodir/vmlinuz"
cp "$initrd" "$isodir/initrd.gz"
boot_cfg /vmlinuz /initrd.gz > "$isodir/isolinux/isolinux.cfg"
cp "$work/grub.cfg" "$isodir/boot/grub/grub.cfg"
cp "$work/disk-info" "$isodir/.disk/info"
efiimg=$isodir/boot/efi.img
truncate -s 8M "$efiimg"
mkfs.vfat -n VMDESKEFI "$efiimg" > /dev/null
mmd -i "$efiimg" ::/EFI ::/EFI/BOOT
mcopy -i "$efiimg" "$shim" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$efiimg" "$grub_cd" ::/EFI/BOOT/grubx64.efi
xorriso -as mkisofs -quiet -o "$work/vmdesk-demo.iso" -V VMDESK_DEMO \
  -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin \
  -c isolinux/boot.cat -b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4 -boot-info-table \
  -eltorito-alt-boot -e boot/efi.img -no-emul-boot -isohybrid-gpt-basdat \
  "$isodir" 2> /dev/null

chmod 0644 "$work/vmdesk-demo.qcow2" "$work/vmdesk-demo.iso"
mv -f "$work/vmdesk-demo.qcow2" "$qcow2"
mv -f "$work/vmdesk-demo.iso" "$iso"
echo "$stamp_want" > "$stamp.tmp"
mv -f "$stamp.tmp" "$stamp"
log "built $qcow2 ($(du -k "$qcow2" | cut -f1) KiB), $iso ($(du -k "$iso" | cut -f1) KiB), initramfs $(du -k "$initrd" | cut -f1) KiB, kernel $kver"
