/**
 * Load-balancing policies (admins): one per host group (a `key=value` label, or every host), kept in
 * the "loadBalancing" setting and read by the balancer every round. Off unless a policy says so.
 */
import type { Prisma } from "../../prisma/generated/client.ts";
import type { Db, Tx } from "../db/client.ts";
import { AppError } from "../domain/errors.ts";
import { DEFAULT_POLICY, MAX_POLICIES, type LoadBalancePolicy } from "../domain/load-balance.ts";
import { authorize } from "../domain/policy.ts";
import { auditAs } from "./audit-service.ts";
import type { ServiceContext } from "./context.ts";

const KEY = "loadBalancing";

/** The stored policies, each completed with the defaults (a stored row of another version reads safely). */
export async function loadBalancePolicies(db: Db | Tx): Promise<LoadBalancePolicy[]> {
  const row = await db.setting.findUnique({ where: { key: KEY } });
  const list = Array.isArray(row?.value) ? (row.value as Array<Partial<LoadBalancePolicy>>) : [];
  return list.slice(0, MAX_POLICIES).map((p) => ({ ...DEFAULT_POLICY, ...p, group: typeof p.group === "string" ? p.group : null }));
}

export async function getLoadBalancing(ctx: ServiceContext) {
  authorize(ctx.actor, "host.list");
  return { policies: await loadBalancePolicies(ctx.db), defaults: DEFAULT_POLICY };
}

export async function setLoadBalancing(ctx: ServiceContext, policies: Array<Partial<LoadBalancePolicy> & { group: string | null }>) {
  authorize(ctx.actor, "host.manage");
  const groups = policies.map((p) => p.group ?? "*");
  if (new Set(groups).size !== groups.length) throw new AppError("BAD_REQUEST", "one policy per host group", { field: "policies" });
  const next: LoadBalancePolicy[] = policies.map((p) => ({ ...DEFAULT_POLICY, ...p }));
  const value = next as unknown as Prisma.InputJsonArray;
  await ctx.db.setting.upsert({ where: { key: KEY }, create: { key: KEY, value }, update: { value } });
  await auditAs(ctx, { action: "fleet.loadBalancing", targetType: "setting", targetId: KEY, result: "ok", detail: { policies: next } as unknown as Record<string, unknown> });
  return { policies: next, defaults: DEFAULT_POLICY };
}
