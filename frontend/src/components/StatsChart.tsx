import type { ChartData } from '../lib/chart';
import { niceTicks, seriesColor } from '../lib/chart';
import { formatBucketLabel, formatCompact, formatCount } from '../lib/format';
import { useElementWidth } from '../hooks/useElementWidth';

const H = 260;
const M = { top: 12, right: 12, bottom: 28, left: 48 };
/** Room for one time label (e.g. "Dec 3 14:05") at the axis' 11 px. */
const LABEL_SPACING = 88;

/**
 * Stacked bars of event counts per bucket, one colour per event name. Hand-written SVG, drawn at
 * the width it is shown at (one SVG unit is one CSS pixel), so its text stays 11 px on a phone
 * too; fewer time labels fit there, so fewer are drawn.
 */
export function StatsChart({ data, timeZone }: { data: ChartData; timeZone?: string }) {
  const [figureRef, W] = useElementWidth<HTMLElement>(960);
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const ticks = niceTicks(data.max);
  const top = ticks[ticks.length - 1] ?? 1;
  const y = (v: number): number => M.top + plotH - (v / top) * plotH;
  const n = data.slots.length;
  const slotW = plotW / n;
  const barW = Math.max(1, Math.min(slotW * 0.72, 48));

  const first = data.slots[0];
  const last = data.slots[n - 1];
  const showDay = !!first && !!last && last.getTime() - first.getTime() >= 24 * 3_600_000;
  const labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(plotW / LABEL_SPACING))));

  return (
    <figure className="chart" data-testid="stats-chart" ref={figureRef}>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`Event counts per ${data.bucket}, ${formatCount(data.total)} events`}>
        {ticks.map((t) => (
          <g key={t} className="chart-grid">
            <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} />
            <text x={M.left - 8} y={y(t)} dy="0.32em" textAnchor="end">
              {formatCompact(t)}
            </text>
          </g>
        ))}
        {data.slots.map((slot, i) => {
          const x = M.left + i * slotW + (slotW - barW) / 2;
          let base = 0;
          return (
            <g key={slot.getTime()} data-testid="chart-slot">
              {data.series.map((s, si) => {
                const count = s.counts[i] ?? 0;
                if (count === 0) return null;
                const y0 = y(base);
                base += count;
                const y1 = y(base);
                return (
                  <rect
                    key={s.name}
                    className="chart-bar"
                    data-series={s.name}
                    data-count={count}
                    x={x}
                    y={y1}
                    width={barW}
                    height={Math.max(0.5, y0 - y1)}
                    fill={seriesColor(s.name, si)}
                  >
                    <title>{`${s.name} · ${formatBucketLabel(slot, data.bucket, true, timeZone)} · ${formatCount(count)}`}</title>
                  </rect>
                );
              })}
            </g>
          );
        })}
        {data.slots.map((slot, i) =>
          i % labelEvery === 0 ? (
            <text key={slot.getTime()} className="chart-axis" x={M.left + i * slotW + slotW / 2} y={H - 8} textAnchor="middle">
              {formatBucketLabel(slot, data.bucket, showDay, timeZone)}
            </text>
          ) : null,
        )}
        <line className="chart-baseline" x1={M.left} x2={W - M.right} y1={y(0)} y2={y(0)} />
      </svg>
      <figcaption>
        <ul className="legend" data-testid="chart-legend">
          {data.series.map((s, si) => (
            <li key={s.name} data-series={s.name}>
              <span className="swatch" style={{ background: seriesColor(s.name, si) }} aria-hidden="true" />
              <span className="legend-name">{s.name}</span>
              <span className="legend-total">{formatCount(s.total)}</span>
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}
