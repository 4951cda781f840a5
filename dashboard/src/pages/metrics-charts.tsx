// The Metrics page's charts (recharts), in a chunk of their own that only that page loads.
// Colours come from the stylesheet's variables, light or dark as the system prefers.

import { useEffect, useState } from 'react';
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import type { DayDurations, StageDurations } from '../../../src/client/metrics-api.ts';
import { dayText, msText } from './metrics/format.ts';

interface Palette {
  accent: string;
  warn: string;
  muted: string;
  border: string;
  panel: string;
  text: string;
}

function readPalette(): Palette {
  const style = getComputedStyle(document.documentElement);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    accent: read('--accent', '#0969da'),
    warn: read('--warn', '#9a6700'),
    muted: read('--muted', '#59636e'),
    border: read('--border', '#d1d9e0'),
    panel: read('--panel', '#ffffff'),
    text: read('--text', '#1f2328'),
  };
}

/** The stylesheet's colours, read again when the system switches between light and dark. */
function usePalette(): Palette {
  const [palette, setPalette] = useState(readPalette);
  useEffect(() => {
    const scheme = window.matchMedia('(prefers-color-scheme: dark)');
    const update = () => setPalette(readPalette());
    scheme.addEventListener('change', update);
    return () => scheme.removeEventListener('change', update);
  }, []);
  return palette;
}

const HEIGHT = 240;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
/** Steps a duration axis may take, so its ticks read "0, 30s, 1m, 1m 30s" rather than "0, 1m 35s, 3m 10s". */
const STEPS = [
  100, 250, 500, SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR,
  2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 7 * 24 * HOUR,
];

/** Round ticks from 0 past the largest duration, at most 5 steps. */
function durationTicks(values: Array<number | null>): number[] {
  const max = Math.max(1, ...values.filter((value): value is number => value !== null));
  const step = STEPS.find((candidate) => max / candidate <= 5) ?? Math.ceil(max / 5 / (24 * HOUR)) * 24 * HOUR;
  const top = Math.ceil(max / step) * step;
  return Array.from({ length: top / step + 1 }, (_, index) => index * step);
}
const MARGIN = { top: 8, right: 12, bottom: 0, left: 0 };

function axisProps(palette: Palette) {
  return { stroke: palette.border, tick: { fill: palette.muted, fontSize: 11 }, tickLine: false } as const;
}

function tooltipProps(palette: Palette) {
  return {
    contentStyle: { background: palette.panel, border: `1px solid ${palette.border}`, borderRadius: 6, color: palette.text, fontSize: 12 },
    labelStyle: { color: palette.text, fontWeight: 600 },
    cursor: { fill: palette.border, fillOpacity: 0.35 },
  } as const;
}

export function DeploymentsChart({ days }: { days: Array<{ day: string; count: number }> }) {
  const palette = usePalette();
  return (
    <div className="chart-area">
      <BarChart responsive width="100%" height={HEIGHT} data={days} margin={MARGIN} desc="Production deployments per UTC day">
        <CartesianGrid vertical={false} stroke={palette.border} strokeOpacity={0.6} />
        <XAxis dataKey="day" tickFormatter={dayText} minTickGap={24} {...axisProps(palette)} />
        <YAxis allowDecimals={false} width={32} {...axisProps(palette)} />
        <Tooltip {...tooltipProps(palette)} labelFormatter={(day) => dayText(String(day))} formatter={(value) => [String(value), 'deployments']} />
        <Bar dataKey="count" name="deployments" fill={palette.accent} radius={[2, 2, 0, 0]} maxBarSize={28} isAnimationActive={false} />
      </BarChart>
    </div>
  );
}

export function DurationTrendChart({ days, label }: { days: DayDurations[]; label: string }) {
  const palette = usePalette();
  const ticks = durationTicks(days.flatMap((day) => [day.medianMs, day.p90Ms]));
  return (
    <div className="chart-area">
      <LineChart responsive width="100%" height={HEIGHT} data={days} margin={MARGIN} desc={`${label} per UTC day: median and 90th percentile`}>
        <CartesianGrid vertical={false} stroke={palette.border} strokeOpacity={0.6} />
        <XAxis dataKey="day" tickFormatter={dayText} minTickGap={24} {...axisProps(palette)} />
        <YAxis tickFormatter={(ms: number) => msText(ms)} width={56} ticks={ticks} domain={[0, ticks.at(-1)!]} interval={0} {...axisProps(palette)} />
        <Tooltip
          {...tooltipProps(palette)}
          labelFormatter={(day) => dayText(String(day))}
          formatter={(value, name, item) => [`${msText(typeof value === 'number' ? value : null)}${name === 'median' ? ` (${(item.payload as DayDurations).count} runs)` : ''}`, name]}
        />
        <Legend itemSorter={null} wrapperStyle={{ fontSize: 12, color: palette.muted }} />
        <Line type="monotone" dataKey="medianMs" name="median" stroke={palette.accent} strokeWidth={2} dot={{ r: 2.5 }} connectNulls isAnimationActive={false} />
        <Line type="monotone" dataKey="p90Ms" name="90th percentile" stroke={palette.warn} strokeWidth={2} strokeDasharray="5 3" dot={{ r: 2.5 }} connectNulls isAnimationActive={false} />
      </LineChart>
    </div>
  );
}

const STAGE_ROW = 34;

export function StageChart({ stages }: { stages: StageDurations[] }) {
  const palette = usePalette();
  const ticks = durationTicks(stages.flatMap((stage) => [stage.medianMs, stage.p90Ms]));
  return (
    <div className="chart-area">
      <BarChart
        responsive
        width="100%"
        height={Math.max(HEIGHT, 60 + stages.length * STAGE_ROW)}
        data={stages}
        layout="vertical"
        margin={MARGIN}
        desc="Stage duration per stage: median and 90th percentile"
      >
        <CartesianGrid horizontal={false} stroke={palette.border} strokeOpacity={0.6} />
        <XAxis type="number" tickFormatter={(ms: number) => msText(ms)} ticks={ticks} domain={[0, ticks.at(-1)!]} interval={0} {...axisProps(palette)} />
        <YAxis type="category" dataKey="stage" width={120} interval={0} {...axisProps(palette)} />
        <Tooltip {...tooltipProps(palette)} formatter={(value, name) => [msText(typeof value === 'number' ? value : null), name]} />
        <Legend itemSorter={null} wrapperStyle={{ fontSize: 12, color: palette.muted }} />
        <Bar dataKey="medianMs" name="median" fill={palette.accent} maxBarSize={12} isAnimationActive={false} />
        <Bar dataKey="p90Ms" name="90th percentile" fill={palette.warn} maxBarSize={12} isAnimationActive={false} />
      </BarChart>
    </div>
  );
}
