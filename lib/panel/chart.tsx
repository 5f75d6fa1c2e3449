/**
 * Bar charts as inline SVG, drawn on the server: no script, no library, readable by a
 * screen reader (a title, and each bar's value in its own title), and scaled to fit.
 */
import type { FC } from "hono/jsx";

export interface Bar {
  readonly label: string;
  readonly value: number;
}

const WIDTH = 600;
const HEIGHT = 160;
const AXIS = 20;

export const BarChart: FC<{
  title: string;
  bars: readonly Bar[];
  format: (value: number) => string;
}> = (props) => {
  const max = Math.max(1, ...props.bars.map((bar) => bar.value));
  const slot = (WIDTH - 8) / Math.max(1, props.bars.length);
  return (
    <svg
      class="chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT + AXIS}`}
      role="img"
      aria-label={props.title}
    >
      <title>{props.title}</title>
      <line x1="0" y1={HEIGHT} x2={WIDTH} y2={HEIGHT} stroke="currentColor" stroke-opacity="0.4" />
      {props.bars.map((bar, i) => {
        const height = Math.round((bar.value / max) * (HEIGHT - 16));
        return (
          <rect
            x={4 + i * slot + slot * 0.15}
            y={HEIGHT - height}
            width={slot * 0.7}
            height={height}
            fill="#2563eb"
          >
            <title>{`${bar.label}: ${props.format(bar.value)}`}</title>
          </rect>
        );
      })}
      <text x="2" y="12" font-size="12" fill="currentColor">
        {props.format(max)}
      </text>
      {props.bars.length > 0 ? (
        <>
          <text x="4" y={HEIGHT + 15} font-size="12" fill="currentColor">
            {props.bars[0]?.label}
          </text>
          <text x={WIDTH - 4} y={HEIGHT + 15} font-size="12" text-anchor="end" fill="currentColor">
            {props.bars[props.bars.length - 1]?.label}
          </text>
        </>
      ) : null}
    </svg>
  );
};
