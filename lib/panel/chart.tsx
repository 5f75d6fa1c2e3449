/**
 * Bar charts drawn on the server: the bars in an inline SVG that stretches to the width
 * of the screen, the words (title, the largest value, the first and last labels) in
 * HTML around it, so they stay readable on a phone however narrow. Each bar carries its
 * label and value as a title, and the figure names what it shows for screen readers.
 */
import type { FC } from "hono/jsx";
import { useLocale } from "./components.tsx";

export interface Bar {
  readonly label: string;
  readonly value: number;
}

const WIDTH = 360;
const HEIGHT = 120;

export const BarChart: FC<{
  title: string;
  bars: readonly Bar[];
  format: (value: number) => string;
}> = (props) => {
  const { t } = useLocale();
  const max = Math.max(1, ...props.bars.map((bar) => bar.value));
  const slot = WIDTH / Math.max(1, props.bars.length);
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div class="hint">{t.charts.max({ value: props.format(max) })}</div>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={props.title}
      >
        <line
          x1="0"
          y1={HEIGHT}
          x2={WIDTH}
          y2={HEIGHT}
          stroke="currentColor"
          stroke-opacity="0.4"
        />
        {props.bars.map((bar, i) => {
          const height = Math.max(
            bar.value > 0 ? 1 : 0,
            Math.round((bar.value / max) * (HEIGHT - 4)),
          );
          return (
            <rect x={i * slot + slot * 0.15} y={HEIGHT - height} width={slot * 0.7} height={height}>
              <title>{t.charts.bar({ label: bar.label, value: props.format(bar.value) })}</title>
            </rect>
          );
        })}
      </svg>
      {props.bars.length > 0 ? (
        <div class="axis">
          <span>{props.bars[0]?.label}</span>
          <span>{props.bars[props.bars.length - 1]?.label}</span>
        </div>
      ) : null}
    </figure>
  );
};
