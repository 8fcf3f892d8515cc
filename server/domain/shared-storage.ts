/**
 * Shared storage between hosts. An admin declares a host's pool shared (`poolShared`: the pool's
 * directory is NFS, CephFS or the like, mounted at `poolPath` on every host that declares it); two
 * hosts then share a pool when both declare it at the same path. libvirt cannot be asked instead: its
 * own check recognises a few network file systems by their magic numbers and misses a bind mount or
 * a cluster file system it does not know, and it would not tell us that two hosts see the same files.
 */
import { isPathInside } from "./host-uri.ts";

export interface PoolOfHost {
  poolName: string;
  poolPath: string;
  poolShared: boolean;
}

const trimSlash = (p: string) => (p.length > 1 ? p.replace(/\/+$/, "") : p);

/** Whether a VM's disk in `a`'s pool is the same file in `b`'s pool: a migration between them moves memory only. */
export function sharesPool(a: PoolOfHost, b: PoolOfHost): boolean {
  return a.poolShared && b.poolShared && a.poolName === b.poolName && trimSlash(a.poolPath) === trimSlash(b.poolPath);
}

/** Whether a file lies in the host's shared pool (so every host sharing that pool reads it at the same path). */
export function inSharedPool(host: PoolOfHost, file: string): boolean {
  return host.poolShared && isPathInside(file, trimSlash(host.poolPath));
}
