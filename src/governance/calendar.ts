/**
 * Natural days and months in a tenant's time zone, as fixed counter windows: RPD/TPD,
 * daily and monthly quotas and spend caps reset at local midnight, not every 24 hours
 * from whenever.
 *
 * Finding a window needs `Intl` (slow: microseconds per call), so each zone keeps its
 * current day and month and recomputes only when the clock leaves them: on the hot path
 * a window is two comparisons. A day is whatever lies between two local midnights, so
 * it is 23 or 25 hours long on a daylight-saving change.
 */
import type { FixedWindow } from "./counters.js";

interface Span {
  window: FixedWindow;
  startsAt: number;
}

interface ZoneState {
  parts: Intl.DateTimeFormat;
  day?: Span;
  month?: Span;
}

const zones = new Map<string, ZoneState>();

function zone(tz: string): ZoneState {
  let z = zones.get(tz);
  if (!z) {
    z = {
      parts: new Intl.DateTimeFormat("en-US", {
        timeZone: tz,
        hourCycle: "h23",
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      }),
    };
    zones.set(tz, z);
  }
  return z;
}

/** The local calendar date and time at `t` in the zone. */
function local(z: ZoneState, t: number): { y: number; m: number; d: number; asUtc: number } {
  const f: Record<string, number> = {};
  for (const p of z.parts.formatToParts(t)) if (p.type !== "literal") f[p.type] = Number(p.value);
  const asUtc = Date.UTC(f.year!, f.month! - 1, f.day!, f.hour!, f.minute!, f.second!);
  return { y: f.year!, m: f.month!, d: f.day!, asUtc };
}

/** The instant of local midnight starting the date (y, m, d) in the zone (m from 1; out-of-range days and months roll over, as Date.UTC does). */
function midnight(z: ZoneState, y: number, m: number, d: number): number {
  const wall = Date.UTC(y, m - 1, d);
  // The offset at the guess, then at the corrected instant: two steps settle it, across a DST change too.
  let t = wall - (local(z, wall).asUtc - Math.floor(wall / 1000) * 1000);
  t = wall - (local(z, t).asUtc - Math.floor(t / 1000) * 1000);
  return t;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, "0");
}

/** A time zone's calendar, for a plan to keep instead of looking the zone up on every request. */
export interface Calendar {
  /** See dayWindow. */
  day(now: number): FixedWindow;
  /** See monthWindow. */
  month(now: number): FixedWindow;
}

const calendars = new Map<string, Calendar>();

/** The calendar of time zone `tz` (one object per zone, so it shares the zone's current day and month with dayWindow and monthWindow). */
export function calendarOf(tz: string): Calendar {
  let c = calendars.get(tz);
  if (!c) {
    const z = zone(tz);
    c = { day: (now) => dayOf(z, now), month: (now) => monthOf(z, now) };
    calendars.set(tz, c);
  }
  return c;
}

/** The natural day containing `now` (epoch ms) in time zone `tz`: id `dYYYYMMDD`, ending at the next local midnight. */
export function dayWindow(tz: string, now: number): FixedWindow {
  return dayOf(zone(tz), now);
}

function dayOf(z: ZoneState, now: number): FixedWindow {
  if (z.day && now >= z.day.startsAt && now < z.day.window.endsAt) return z.day.window;
  const { y, m, d } = local(z, now);
  z.day = { startsAt: midnight(z, y, m, d), window: { kind: "fixed", id: `d${y}${pad(m)}${pad(d)}`, endsAt: midnight(z, y, m, d + 1) } };
  return z.day.window;
}

/** The natural month containing `now` in time zone `tz`: id `mYYYYMM`, ending at local midnight on the first of the next month. */
export function monthWindow(tz: string, now: number): FixedWindow {
  return monthOf(zone(tz), now);
}

function monthOf(z: ZoneState, now: number): FixedWindow {
  if (z.month && now >= z.month.startsAt && now < z.month.window.endsAt) return z.month.window;
  const { y, m } = local(z, now);
  z.month = { startsAt: midnight(z, y, m, 1), window: { kind: "fixed", id: `m${y}${pad(m)}`, endsAt: midnight(z, y, m + 1, 1) } };
  return z.month.window;
}
