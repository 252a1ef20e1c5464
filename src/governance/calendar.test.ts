import { describe, expect, it } from "vitest";
import { dayWindow, monthWindow } from "./calendar.js";

describe("calendar windows", () => {
  it("names the local day and ends it at the next local midnight", () => {
    // 2026-12-04 23:30 UTC is already 2026-12-05 08:30 in Tokyo.
    const t = Date.UTC(2026, 11, 4, 23, 30);
    expect(dayWindow("UTC", t)).toEqual({ kind: "fixed", id: "d20261204", endsAt: Date.UTC(2026, 11, 5) });
    expect(dayWindow("Asia/Tokyo", t)).toEqual({ kind: "fixed", id: "d20261205", endsAt: Date.UTC(2026, 11, 5, 15) });
    expect(dayWindow("America/New_York", t)).toEqual({ kind: "fixed", id: "d20261204", endsAt: Date.UTC(2026, 11, 5, 5) });
  });

  it("moves to the next day exactly at local midnight and back for an earlier time", () => {
    const end = Date.UTC(2026, 11, 5, 15);
    expect(dayWindow("Asia/Tokyo", end - 1).id).toBe("d20261205");
    expect(dayWindow("Asia/Tokyo", end).id).toBe("d20261206");
    expect(dayWindow("Asia/Tokyo", end - 1).id).toBe("d20261205");
  });

  it("makes a daylight-saving day 23 or 25 hours long", () => {
    // Europe/Paris: clocks go forward on 2026-03-29 and back on 2026-10-25.
    const spring = dayWindow("Europe/Paris", Date.UTC(2026, 2, 29, 12));
    expect(spring.id).toBe("d20260329");
    expect(spring.endsAt - Date.UTC(2026, 2, 28, 23)).toBe(23 * 3_600_000);
    const autumn = dayWindow("Europe/Paris", Date.UTC(2026, 9, 25, 12));
    expect(autumn.endsAt - Date.UTC(2026, 9, 24, 22)).toBe(25 * 3_600_000);
  });

  it("names the local month and ends it on the first of the next", () => {
    expect(monthWindow("UTC", Date.UTC(2026, 11, 31, 23, 59))).toEqual({ kind: "fixed", id: "m202612", endsAt: Date.UTC(2027, 0, 1) });
    expect(monthWindow("Asia/Tokyo", Date.UTC(2026, 11, 31, 16))).toEqual({ kind: "fixed", id: "m202701", endsAt: Date.UTC(2027, 0, 31, 15) });
  });
});
