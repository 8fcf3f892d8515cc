"use client";

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { isolatedIndices } from "./gaps";

export interface ChartSeries {
  label: string;
  /** One value per timestamp; null draws a gap. */
  values: Array<number | null>;
  color: string;
}

/**
 * A time-series chart (uPlot: canvas, small, fast with thousands of points). Recreated when the
 * series change shape, otherwise fed new data in place so a live chart does not flicker.
 */
export function MetricsChart({
  title,
  times,
  series,
  yMax,
  unit,
  testId,
  compact = false,
}: {
  title: string;
  times: Date[];
  series: ChartSeries[];
  yMax?: number;
  unit: string;
  testId: string;
  /** A sparkline: no axes or legend, 48 px high. */
  compact?: boolean;
}) {
  const height = compact ? 48 : 160;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join("|");
  const data: uPlot.AlignedData = [times.map((t) => t.getTime() / 1000), ...series.map((s) => s.values)];

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(compact ? 120 : 240, el.clientWidth),
      height,
      legend: { show: !compact },
      // A sparkline has no axes: keep the newest reading's dot off the canvas edge.
      ...(compact ? { padding: [4, 4, 4, 4] as uPlot.Padding } : {}),
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, min, max) => [0, yMax ?? Math.max(1, max, min)] } },
      axes: compact ? [{ show: false }, { show: false }] : [{}, { values: (_u, ticks) => ticks.map((v) => `${+v.toFixed(1)}${unit}`), size: 60 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          value: (_u: uPlot, v: number | null) => (v === null ? "—" : `${v.toFixed(1)}${unit}`),
          // Where uPlot hides points (dense data), still dot the readings a line cannot reach.
          points: {
            filter: (u: uPlot, i: number, show: boolean) => {
              const lone = show ? [] : isolatedIndices(u.data[i] ?? []);
              return lone.length > 0 ? lone : null;
            },
          },
        })),
      ],
    };
    plot.current = new uPlot(opts, data, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(compact ? 120 : 240, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Recreated only when the series' shape changes; data goes in through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, yMax, unit, compact]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure className={compact ? "metrics-chart compact" : "metrics-chart"} data-testid={testId} data-points={times.length} data-filled={series[0]?.values.filter((v) => v !== null).length ?? 0} title={compact ? title : undefined}>
      {compact ? null : <figcaption className="muted">{title}</figcaption>}
      <div ref={box} />
    </figure>
  );
}
