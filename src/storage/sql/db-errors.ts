/** Driver-level constraint failures, recognised the same way on both engines. */
export type ConstraintViolation = "unique" | "foreign_key";

const SQLITE_CODES: Readonly<Record<string, ConstraintViolation>> = {
  SQLITE_CONSTRAINT_UNIQUE: "unique",
  SQLITE_CONSTRAINT_PRIMARYKEY: "unique",
  SQLITE_CONSTRAINT_FOREIGNKEY: "foreign_key",
};

// PostgreSQL SQLSTATE class 23 (integrity constraint violation).
const POSTGRES_CODES: Readonly<Record<string, ConstraintViolation>> = {
  "23505": "unique",
  "23503": "foreign_key",
};

/** better-sqlite3's SqliteError and pg's DatabaseError both carry a string `code`. */
export function constraintViolation(error: unknown): ConstraintViolation | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = error.code;
  if (typeof code !== "string") return undefined;
  return SQLITE_CODES[code] ?? POSTGRES_CODES[code];
}
