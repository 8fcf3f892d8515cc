import fs from "node:fs";

/**
 * KVM only when the CPU exposes hardware virtualization to us: a paravirtual nested /dev/kvm without
 * vmx/svm opens fine but crashes guests, so libvirt's capabilities alone are not trusted.
 */
export function localVirtualization(): { domainType: "kvm" | "qemu"; cpuMode: "host-passthrough" | "none" } {
  const forced = process.env.VMDESK_LOCAL_DOMAIN_TYPE;
  if (forced === "kvm") return { domainType: "kvm", cpuMode: "host-passthrough" };
  if (forced === "qemu") return { domainType: "qemu", cpuMode: "none" };
  const cpuinfo = fs.existsSync("/proc/cpuinfo") ? fs.readFileSync("/proc/cpuinfo", "utf8") : "";
  const hw = /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo) && fs.existsSync("/dev/kvm");
  return hw ? { domainType: "kvm", cpuMode: "host-passthrough" } : { domainType: "qemu", cpuMode: "none" };
}
