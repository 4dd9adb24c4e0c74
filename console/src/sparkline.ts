import { svg } from "./dom.ts";

/**
 * A sparkline: one series as a line over a fixed number of slots (the window divided by the
 * sampling interval), newest at the right, so a router that started five minutes ago draws on
 * the right third. Missing values (no traffic in an interval) leave a gap.
 */
export function sparkline(
  values: readonly (number | null)[],
  options: { slots: number; label: string; width?: number; height?: number; max?: number },
): SVGSVGElement {
  const width = options.width ?? 300;
  const height = options.height ?? 36;
  const slots = Math.max(options.slots, values.length, 2);
  const present = values.filter((value): value is number => value !== null);
  const max = Math.max(options.max ?? 0, ...present, Number.MIN_VALUE);
  const step = width / (slots - 1);
  const offset = slots - values.length;
  const x = (index: number) => (offset + index) * step;
  const y = (value: number) => height - 2 - (value / max) * (height - 4);

  const segments: string[] = [];
  let current = "";
  values.forEach((value, index) => {
    if (value === null) {
      if (current !== "") segments.push(current);
      current = "";
      return;
    }
    current += `${current === "" ? "M" : "L"}${x(index).toFixed(1)},${y(value).toFixed(1)}`;
  });
  if (current !== "") segments.push(current);

  // Stretched to the width of its cell (CSS); the strokes keep their width (non-scaling-stroke).
  return svg(
    "svg",
    {
      class: "sparkline",
      viewBox: `0 0 ${width} ${height}`,
      preserveAspectRatio: "none",
      role: "img",
      "aria-label": options.label,
    },
    svg("title", null, options.label),
    svg("line", { class: "sparkline-base", x1: 0, x2: width, y1: height - 1, y2: height - 1 }),
    segments.map((d) => svg("path", { class: "sparkline-line", d })),
  );
}
