// Monthly bars drawn as SVG, with marked bars (past due, escrow cover) in the warning colour.

export interface Bar {
  label: string;
  value: number; // cents
  marked?: boolean;
  title?: string;
}

interface Props {
  bars: Bar[];
  format: (value: number) => string;
  markedLabel: string;
  label?: string; // what the chart shows, e.g. "Escrow closing balance by month"
  height?: number;
  testId?: string;
}

/** The chart's accessible name: what it shows, then every bar's label and value, marked bars said so. */
export function chartName(bars: Bar[], format: (value: number) => string, markedLabel: string, label?: string): string {
  const values = bars.map((b) => `${b.label}: ${format(b.value)}${b.marked ? ` (${markedLabel})` : ""}`).join("; ");
  return label ? `${label}. ${values}` : values;
}

export function BarChart({ bars, format, markedLabel, label, height = 220, testId }: Props) {
  if (bars.length === 0) return <p className="muted">No data yet.</p>;
  const max = Math.max(...bars.map((b) => Math.abs(b.value)), 1);
  const width = Math.max(bars.length * 48, 320);
  const plot = height - 40;
  const barWidth = Math.min(36, width / bars.length - 8);
  return (
    <figure className="bar-chart" data-testid={testId}>
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" height={height} role="img"
        aria-label={chartName(bars, format, markedLabel, label)}>
        <line x1={0} x2={width} y1={plot} y2={plot} stroke="#999" />
        {bars.map((bar, i) => {
          const h = (Math.abs(bar.value) / max) * (plot - 20);
          const x = i * (width / bars.length) + (width / bars.length - barWidth) / 2;
          return (
            <g key={bar.label} data-marked={bar.marked ? "true" : "false"}>
              <title>{bar.title ?? `${bar.label}: ${format(bar.value)}${bar.marked ? ` (${markedLabel})` : ""}`}</title>
              <rect x={x} y={plot - h} width={barWidth} height={h} fill={bar.marked ? "#d62728" : "#1f77b4"} rx={2} />
              <text x={x + barWidth / 2} y={plot - h - 4} textAnchor="middle" fontSize={10}>{format(bar.value)}</text>
              <text x={x + barWidth / 2} y={plot + 14} textAnchor="middle" fontSize={10}>{bar.label}</text>
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span className="swatch" style={{ background: "#1f77b4" }} /> paid / normal
        <span className="swatch" style={{ background: "#d62728" }} /> {markedLabel}
      </figcaption>
    </figure>
  );
}
