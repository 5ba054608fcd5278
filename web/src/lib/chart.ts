// A bar chart in SVG (no library, no inline styles: geometry lives in attributes), with the same
// figures as a table for screen readers and for anyone who wants the exact values.

import { h, svg } from "./dom";
import { share } from "./money";
import { table } from "./ui";

/** One bar: its label, its size (cents or a count) and the exact text of its value. */
export interface Bar {
  label: string;
  value: bigint;
  text: string;
}

const PLOT_HEIGHT = 120;
/** Every chart is drawn this wide (then scaled to its box), so labels come out the same size. */
const WIDTH = 320;
const MANY = 12;
const LABEL_SPACE = 18;

/** A titled bar chart; every bar carries its exact value as a tooltip and in the table below. */
export function barChart(title: string, bars: Bar[], valueHeading = "Value"): HTMLElement {
  const max = bars.reduce((m, bar) => (bar.value > m ? bar.value : m), 0n);
  const slot = WIDTH / Math.max(bars.length, 1);
  const bar = Math.round(slot * 0.7);
  const width = WIDTH;
  const labelEvery = bars.length > MANY ? 3 : 1;
  const plot = svg(
    "svg",
    { viewBox: `0 0 ${width} ${PLOT_HEIGHT + LABEL_SPACE}`, role: "img", "aria-label": title, class: "chart" },
    svg("line", { x1: 0, y1: PLOT_HEIGHT, x2: width, y2: PLOT_HEIGHT, class: "axis" }),
    bars.map((item, index) => {
      const height = Math.round(share(item.value, max) * (PLOT_HEIGHT - 4));
      const x = index * slot + (slot - bar) / 2;
      return svg(
        "g",
        null,
        svg("rect", { x, y: PLOT_HEIGHT - height, width: bar, height, class: "bar" }, svg("title", null, `${item.label}: ${item.text}`)),
        index % labelEvery === 0
          ? svg("text", { x: x + bar / 2, y: PLOT_HEIGHT + 13, "text-anchor": "middle", class: "tick" }, item.label)
          : null,
      );
    }),
  );
  return h(
    "figure",
    { class: "chart-box" },
    h("figcaption", null, title),
    plot,
    h("details", null, h("summary", null, "As a table"), table(["", valueHeading], bars.map((bar) => [bar.label, bar.text]))),
  );
}
