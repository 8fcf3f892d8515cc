/** The parser the Prometheus scrape test uses (no types of its own): text exposition → metric families. */
declare module "parse-prometheus-text-format" {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
