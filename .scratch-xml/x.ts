import { create } from "xmlbuilder2";
const d = create().ele("a");
d.ele("t").txt("x]]>\u0001y\n<&>'\"\ud800");
console.log(d.end({ headless: true }));
try { console.log(create().ele("a").ele("t").txt("a\u0001b").end({headless:true, wellFormed: true})); } catch(e) { console.log("threw", (e as Error).message) }
