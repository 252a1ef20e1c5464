/** Conversions between domain values and their column encodings (see schema.ts). */

export function nowIso(): string {
  return new Date().toISOString();
}

export function toJsonText(value: unknown): string {
  return JSON.stringify(value);
}

export function parseJsonObject(text: string, column: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${column} does not hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

export function parseStringArray(text: string, column: string): string[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === "string")) {
    throw new Error(`${column} does not hold a JSON array of strings`);
  }
  return value;
}

export function toBit(value: boolean): 0 | 1 {
  return value ? 1 : 0;
}

/** SQLite returns 0/1, PostgreSQL returns a boolean. */
export function fromBit(value: boolean | number): boolean {
  return value === true || value === 1;
}

/** Narrows a text column to its declared union, failing loudly on drifted data. */
export function oneOf<T extends string>(value: string, allowed: readonly T[], column: string): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new Error(`${column} holds unknown value ${JSON.stringify(value)}`);
}
