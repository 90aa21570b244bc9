// A small time-series line chart on a canvas: a time window that grows with the data up to a
// maximum (a freshly opened page is not four-fifths empty), nice y ticks, HiDPI aware.
// Hand-written instead of a charting library: the page must work offline, with no CDN and no
// build step, and it draws a few hundred points.

const NICE_STEPS = [1, 2, 2.5, 5, 10];
const TIME_STEPS_S = [10, 15, 30, 60, 120, 300];
const MIN_WINDOW_MS = 60_000;

/** A round step that splits 0..max into about `count` parts. */
function niceStep(max, count) {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = NICE_STEPS.find((s) => s * magnitude >= raw) ?? 10;
  return step * magnitude;
}

/** Seconds before now as an axis label: "-30s", "-1m", "-1m30s". */
function ago(seconds) {
  if (seconds === 0) return 'now';
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `-${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}

/** 1234567 -> "1.2M", for axis labels. */
export function compact(value) {
  if (value >= 1e9) return `${(value / 1e9).toFixed(value >= 1e10 ? 0 : 1)}G`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(value >= 1e7 ? 0 : 1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(value >= 1e4 ? 0 : 1)}k`;
  // Two decimals below 10: axis steps of 0.25 print as 0.25 and 0.75, not 0.3 and 0.8.
  if (value >= 100) return String(Math.round(value));
  return String(value >= 10 ? Math.round(value * 10) / 10 : Math.round(value * 100) / 100);
}

export class TimeChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ windowMs: number, series: { key: string, color: string, fill?: boolean }[] }} options
   *   windowMs: the widest time span shown
   */
  constructor(canvas, { windowMs, series }) {
    this.canvas = canvas;
    this.windowMs = windowMs;
    this.series = series;
    /** @type {{ t: number, values: Record<string, number> }[]} */
    this.points = [];
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  /** Marks time `t` as not measured (a failed poll): the lines break there instead of bridging it. */
  gap(t) {
    const last = this.points[this.points.length - 1];
    if (last?.values === null) {
      last.t = t; // the gap grows with the outage; the time axis moves on
      this.draw();
    } else this.push(t, null);
  }

  /** Adds a sample at time `t` (ms) (null: a gap) and drops samples older than the window. */
  push(t, values) {
    this.points.push({ t, values });
    while (this.points.length > 2 && this.points[0].t < t - this.windowMs) this.points.shift();
    const measured = this.points.filter((p) => p.values !== null);
    const peak = Math.max(0, ...measured.flatMap((p) => this.series.map((s) => p.values[s.key] ?? 0)));
    this.canvas.dataset.samples = String(measured.length);
    this.canvas.dataset.gaps = String(this.points.length - measured.length);
    this.canvas.dataset.peak = String(peak);
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const style = getComputedStyle(canvas);
    const grid = style.getPropertyValue('--grid').trim() || '#e5e7eb';
    const text = style.getPropertyValue('--muted').trim() || '#6b7280';
    const pad = { left: 48, right: 12, top: 10, bottom: 22 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    // The axis ends at the last sample or gap: during an outage the chart does not claim "now".
    const now = this.points.length ? this.points[this.points.length - 1].t : Date.now();
    const first = this.points.length ? this.points[0].t : now;
    const span = Math.min(this.windowMs, Math.max(MIN_WINDOW_MS, now - first));
    const start = now - span;

    let max = 0;
    for (const p of this.points) for (const s of this.series) max = Math.max(max, p.values?.[s.key] ?? 0);
    const step = niceStep(max || 1, 4);
    const top = Math.max(step, Math.ceil((max || 1) / step) * step);
    const x = (t) => pad.left + ((t - start) / span) * plotW;
    const y = (v) => pad.top + plotH - (v / top) * plotH;

    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.fillStyle = text;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const ticks = [];
    for (let v = 0; v <= top + step / 2; v += step) {
      ticks.push(compact(v));
      ctx.strokeStyle = grid;
      ctx.beginPath();
      ctx.moveTo(pad.left, Math.round(y(v)) + 0.5);
      ctx.lineTo(width - pad.right, Math.round(y(v)) + 0.5);
      ctx.stroke();
      ctx.fillText(compact(v), pad.left - 6, y(v));
    }
    canvas.dataset.ticks = ticks.join(' ');
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const tick = TIME_STEPS_S.find((s) => span / 1000 / s <= 6) ?? TIME_STEPS_S[TIME_STEPS_S.length - 1];
    for (let s = 0; s * 1000 <= span; s += tick) {
      ctx.fillText(ago(s), Math.max(pad.left + 12, Math.min(x(now - s * 1000), width - pad.right - 10)), height - pad.bottom + 6);
    }

    for (const s of this.series) {
      // Runs of measured samples; a gap (null) ends one, so no line crosses time not measured.
      const runs = [[]];
      for (const p of this.points) {
        if (p.t < start) continue;
        if (p.values === null) runs.push([]);
        else if (Number.isFinite(p.values[s.key])) runs[runs.length - 1].push(p);
      }
      for (const run of runs) if (run.length > 0) this.drawRun(ctx, run, s, x, y);
    }
  }

  drawRun(ctx, run, s, x, y) {
    ctx.beginPath();
    run.forEach((p, i) => {
      if (i === 0) ctx.moveTo(x(p.t), y(p.values[s.key]));
      else ctx.lineTo(x(p.t), y(p.values[s.key]));
    });
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.stroke();
    if (s.fill && run.length > 1) {
      ctx.lineTo(x(run[run.length - 1].t), y(0));
      ctx.lineTo(x(run[0].t), y(0));
      ctx.closePath();
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = s.color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
  }
}
