// Loss against steps with uPlot (a maintained, small canvas chart library): one line per series,
// points where a series has few values (held-out loss is measured once a round). The canvas
// follows its container's width; screen readers get a summary of each series instead.
import { useEffect, useRef } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { WHOLE_NUMBER_INCREMENTS, wholeNumberLabels } from './axis.ts';

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  label: string;
  color: string;
  points: ChartPoint[];
  /** Draw points only (no line), for sparse measurements. */
  pointsOnly?: boolean;
}

/** The series on one shared, sorted x axis (uPlot's layout), null where a series has no value. */
function alignSeries(series: readonly ChartSeries[]): AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const ys = new Array<number | null>(xs.length).fill(null);
    for (const p of s.points) ys[index.get(p.x)!] = p.y;
    return ys;
  });
  return [xs, ...columns];
}

function describe(series: readonly ChartSeries[], xLabel: string): string {
  const parts = series.map((s) => {
    if (s.points.length === 0) return `${s.label}: no values yet`;
    const first = s.points[0]!;
    const last = s.points.at(-1)!;
    return `${s.label}: ${first.y.toFixed(3)} at ${xLabel} ${first.x}, ${last.y.toFixed(3)} at ${xLabel} ${last.x} (${s.points.length} values)`;
  });
  return parts.join('; ');
}

export function Chart({
  series,
  title,
  xLabel = 'step',
  yLabel = 'loss',
  height = 220,
}: {
  series: ChartSeries[];
  title: string;
  xLabel?: string;
  yLabel?: string;
  height?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => `${s.label}/${s.color}/${s.pointsOnly ? 1 : 0}`).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const options: Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: true },
      scales: { x: { time: false } },
      cursor: { drag: { x: false, y: false } },
      axes: [
        {
          label: xLabel,
          stroke: '#3a4152',
          grid: { stroke: '#e3e6ee' },
          incrs: [...WHOLE_NUMBER_INCREMENTS],
          values: (_u, splits) => wholeNumberLabels(splits),
        },
        { label: yLabel, stroke: '#3a4152', grid: { stroke: '#e3e6ee' } },
      ],
      series: [
        { label: xLabel },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          spanGaps: true,
          ...(s.pointsOnly ? { paths: () => null, points: { show: true, size: 8, fill: s.color } } : { points: { show: false } }),
        })),
      ],
    };
    const chart = new uPlot(options, alignSeries(series), el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Rebuilt only when the series themselves change (`shape`); new values go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `series` is read through `shape` on purpose
  }, [shape, height, xLabel, yLabel]);

  useEffect(() => {
    plot.current?.setData(alignSeries(series));
  }, [series]);

  return (
    <figure className="chart" data-testid="loss-chart" data-points={series.map((s) => s.points.length).join(',')}>
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}. ${describe(series, xLabel)}`} />
    </figure>
  );
}
