import { QuotaBars } from "../quota-bars";

type Amounts = { vms: number; vcpus: number; memoryMiB: number; diskGiB: number };

/** A class budget (limits and what the student VMs use) drawn like a quota; `adding` previews a provisioning run. */
export function BudgetBars({ budget, adding, compact }: { budget: { limits: Amounts; used: Amounts }; adding?: Partial<Amounts>; compact?: boolean }) {
  return (
    <div data-testid="class-budget">
      <QuotaBars quota={budget} adding={adding} compact={compact} />
    </div>
  );
}
