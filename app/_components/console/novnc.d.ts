/// <reference types="novnc__novnc" />
// @novnc/novnc 1.7 exports core/rfb.js as its entry; DefinitelyTyped describes it as "lib/rfb".
declare module "@novnc/novnc" {
  export { default } from "@novnc/novnc/lib/rfb";
}
