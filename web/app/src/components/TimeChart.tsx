// Time series with uPlot: canvas-drawn, so a year of hourly points per house draws in milliseconds.

import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Line {
  label: string;
  values: (number | null)[];
  color: string;
}

export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

interface Props {
  x: number[]; // epoch seconds
  lines: Line[];
  height?: number;
  unit: string; // axis label, e.g. "kWh"
  scale?: number; // divide values for display (Wh -> kWh: 1000)
  bars?: boolean;
  testId?: string;
}

export function TimeChart({ x, lines, height = 260, unit, scale = 1, bars = false, testId }: Props) {
  const holder = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const element = holder.current;
    if (!element) return;
    const data: uPlot.AlignedData = [x, ...lines.map((l) => l.values.map((v) => (v === null ? null : v / scale)))];
    const paths = bars ? uPlot.paths.bars!({ size: [0.8, 40] }) : undefined;
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 320),
      height,
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 60 }],
      cursor: { drag: { x: true, y: false } },
      series: [
        { label: "time (local)" },
        ...lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          fill: bars ? `${l.color}99` : undefined,
          width: 1,
          paths,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? "—" : `${v.toFixed(3)} ${unit}`),
        })),
      ],
    };
    const plot = new uPlot(options, data, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(element.clientWidth, 320), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [x, lines, height, unit, scale, bars]);

  return <div className="chart" ref={holder} data-testid={testId} data-points={x.length} />;
}
