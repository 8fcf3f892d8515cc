import type RFBClass from "@novnc/novnc";

export type RFB = RFBClass;

let loading: Promise<typeof RFBClass> | null = null;

/**
 * noVNC touches `window` as soon as it is evaluated, so it is loaded only in the browser, on first use:
 * a static import breaks the server build.
 */
export function loadRfb(): Promise<typeof RFBClass> {
  loading ??= import("@novnc/novnc").then((m) => m.default);
  return loading;
}
