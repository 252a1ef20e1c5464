import { randomUUID } from "node:crypto";
import { timeOrderedUuid } from "../../canonical/time-ordered-id.js";
import type SqliteDatabase from "better-sqlite3";
import { sql, type Kysely, type Selectable } from "kysely";
import {
  CREDIT_KINDS,
  StoreError,
  type CreditGrant,
  type CreditKind,
  type CreditMovement,
  type CreditMovementInput,
  type CreditMovementResult,
  type LedgerEntry,
  type LedgerEntryType,
  type LedgerPage,
  type LedgerRepo,
  type Wallet,
} from "../ports.js";
import { constraintViolation } from "./db-errors.js";
import { nowIso, oneOf, parseJsonObject, toJsonText } from "./row-codec.js";
import type { CreditGrantsTable, Database, LedgerEntriesTable } from "./schema.js";
import { rawSqlite, writeTransaction, type SqlContext, type SqlDialect } from "./sql-context.js";

const ENTRY_TYPES: readonly LedgerEntryType[] = [
  "topup",
  "grant",
  "grant_out",
  "clawback",
  "clawback_in",
  "release",
  "release_in",
  "adjustment",
  "debit",
  "refund",
  "expiry",
];

/** The row types a movement writes: on the account the call names, and on its counterparty. */
const ROW_TYPES: Record<CreditMovementInput["type"], { named: LedgerEntryType; counterparty: LedgerEntryType | null }> = {
  topup: { named: "topup", counterparty: null },
  grant: { named: "grant", counterparty: "grant_out" },
  clawback: { named: "clawback", counterparty: "clawback_in" },
  release: { named: "release", counterparty: "release_in" },
};

/** A locked balance row, updated in memory as rows are posted. */
interface BalanceState {
  readonly accountId: string;
  balance: number;
  lastSeq: number;
}

interface Post {
  id: string;
  type: LedgerEntryType;
  kind: CreditKind | null;
  amount: number;
  key: string;
  reference: string;
  expiresAt: string | null;
  actor: string | null;
  metadata: Record<string, unknown>;
  now: string;
}

function toEntry(row: Selectable<LedgerEntriesTable>): LedgerEntry {
  return {
    id: row.id,
    accountId: row.account_id,
    type: oneOf(row.entry_type, ENTRY_TYPES, "ledger_entries.entry_type"),
    creditKind: row.credit_kind === null ? null : oneOf(row.credit_kind, CREDIT_KINDS, "ledger_entries.credit_kind"),
    amountMicros: Number(row.amount_micros),
    balanceAfterMicros: Number(row.balance_after_micros),
    accountSeq: Number(row.account_seq ?? 0),
    idempotencyKey: row.idempotency_key,
    reference: row.reference,
    expiresAt: row.expires_at,
    actor: row.actor,
    metadata: parseJsonObject(row.metadata, "ledger_entries.metadata"),
    createdAt: row.created_at,
  };
}

function toGrant(row: Selectable<CreditGrantsTable>): CreditGrant {
  return {
    id: row.id,
    accountId: row.account_id,
    kind: oneOf(row.kind, CREDIT_KINDS, "credit_grants.kind"),
    amountMicros: Number(row.amount_micros),
    remainingMicros: Number(row.remaining_micros),
    expiresAt: row.expires_at,
    sourceAccountId: row.source_account_id,
    entryId: row.entry_id,
    createdAt: row.created_at,
  };
}

/**
 * The credit ledger (see LedgerRepo). A movement runs in one write transaction: it
 * locks the balance rows it touches (`lockBalances`: in account id order, the one order
 * every writer of balances uses, movements and consumption debits alike, so no two
 * transactions ever wait on each other in a circle), then checks the idempotency key
 * (after the locks, so a concurrent call with the same key has either committed, and is
 * found, or not begun), then the money, then posts one ledger row per balance change.
 */
export class SqlLedgerRepo implements LedgerRepo {
  constructor(private readonly ctx: SqlContext) {}

  async move(input: CreditMovementInput): Promise<CreditMovementResult> {
    if (input.type !== "release" && !(Number.isSafeInteger(input.amountMicros) && input.amountMicros > 0)) {
      throw new RangeError(`a ${input.type} moves a positive integer amount of micro-units, not ${input.amountMicros}`);
    }
    const key = `credits:${input.accountId}:${input.idempotencyKey ?? randomUUID()}`;
    try {
      return await writeTransaction(this.ctx, (trx) => move(trx, this.ctx.dialect, input, key));
    } catch (error) {
      // Only when something bypassed the balance locks: the key's unique index still
      // refuses the second movement, and the first one is the answer.
      if (input.idempotencyKey === undefined || constraintViolation(error) !== "unique") throw error;
      const prior = await this.ctx.db.selectFrom("ledger_entries").selectAll().where("idempotency_key", "=", key).executeTakeFirst();
      if (!prior) throw error;
      return { status: "replayed", movement: await movementOf(this.ctx.db, prior) };
    }
  }

  async balance(accountId: string): Promise<number> {
    const row = await this.ctx.db.selectFrom("account_balances").select("balance_micros").where("account_id", "=", accountId).executeTakeFirst();
    return row ? Number(row.balance_micros) : 0;
  }

  async grants(accountId: string): Promise<CreditGrant[]> {
    const rows = await this.ctx.db
      .selectFrom("credit_grants")
      .selectAll()
      .where("account_id", "=", accountId)
      .where("remaining_micros", ">", 0)
      .orderBy(sql`(expires_at is null)`)
      .orderBy("expires_at")
      .orderBy("created_at")
      .orderBy("id")
      .execute();
    return rows.map(toGrant);
  }

  async wallet(accountId: string, now: string = nowIso()): Promise<Wallet> {
    const row = await this.ctx.db.selectFrom("account_balances").select("last_seq").where("account_id", "=", accountId).executeTakeFirst();
    const grants = await liveGrants(this.ctx.db, accountId, now);
    return walletOf(grants, row ? Number(row.last_seq) : 0);
  }

  async debit(
    charges: readonly { accountId: string; amountMicros: number; requests: number }[],
    now: string = nowIso(),
  ): Promise<Array<Wallet & { accountId: string }>> {
    for (const c of charges) {
      if (!Number.isSafeInteger(c.amountMicros) || c.amountMicros < 0)
        throw new RangeError(`a debit is a non-negative integer amount of micro-units, not ${c.amountMicros}`);
    }
    // On SQLite the debit runs as prepared statements on the raw handle, synchronously (as the usage repo's bulk
    // insert does): the same reads and writes, without building and compiling each query (see rawSqlite).
    const raw = rawSqlite(this.ctx);
    if (raw) return sqliteDebit(raw)(charges, now);
    return writeTransaction(this.ctx, async (trx) => {
      // Every payer's balance row first, in the one order all writers use (`lockBalances`).
      const locked = await lockBalances(
        trx,
        this.ctx.dialect,
        charges.map((c) => c.accountId),
        now,
      );
      const out: Array<Wallet & { accountId: string }> = [];
      for (const c of charges) out.push({ accountId: c.accountId, ...(await debitOne(trx, locked.get(c.accountId)!, c, now)) });
      return out;
    });
  }

  async entries(accountId: string, page: LedgerPage = {}): Promise<LedgerEntry[]> {
    let q = this.ctx.db.selectFrom("ledger_entries").selectAll().where("account_id", "=", accountId);
    if (page.beforeSeq !== undefined) q = q.where("account_seq", "<", page.beforeSeq);
    const rows = await q
      .orderBy("account_seq", "desc")
      .limit(page.limit ?? 100)
      .execute();
    return rows.map(toEntry);
  }
}

async function move(trx: Kysely<Database>, dialect: SqlDialect, input: CreditMovementInput, key: string): Promise<CreditMovementResult> {
  const now = input.now ?? nowIso();
  const counterpartyId = input.type === "topup" ? null : (input.counterpartyId ?? null);
  if ((input.type === "grant" || input.type === "clawback") && counterpartyId === null) {
    throw new RangeError(`a ${input.type} needs the parent account as counterparty`);
  }
  // Both balance rows before anything is read, in the order every writer uses.
  const locked = await lockBalances(trx, dialect, counterpartyId === null ? [input.accountId] : [input.accountId, counterpartyId], now);
  const parent = counterpartyId === null ? undefined : locked.get(counterpartyId)!;
  const named = locked.get(input.accountId)!;

  const prior = await trx.selectFrom("ledger_entries").selectAll().where("idempotency_key", "=", key).executeTakeFirst();
  if (prior) return { status: "replayed", movement: await movementOf(trx, prior) };

  const namedId = timeOrderedUuid();
  const counterpartyEntryId = parent ? timeOrderedUuid() : null;
  const kind = input.kind ?? null;
  const expiresAt = input.expiresAt ?? null;
  const actor = input.actor ?? null;
  const note = input.note ?? null;
  const types = ROW_TYPES[input.type];
  const base = { reference: namedId, actor, now };
  const namedMeta = {
    movement: input.type,
    counterparty_account_id: counterpartyId,
    counterparty_entry_id: counterpartyEntryId,
    idempotency_key: input.idempotencyKey ?? null,
    note,
  };
  const counterpartyMeta = { movement: input.type, counterparty_account_id: input.accountId, counterparty_entry_id: namedId, note };
  let amount = input.amountMicros;

  switch (input.type) {
    case "topup": {
      if (kind === null) throw new RangeError("a topup needs a credit kind");
      await post(trx, named, { ...base, id: namedId, type: "topup", kind, amount, key, expiresAt, metadata: namedMeta });
      await insertGrant(trx, { accountId: input.accountId, kind, amount, expiresAt, sourceAccountId: null, entryId: namedId, now });
      break;
    }
    case "grant": {
      if (kind === null) throw new RangeError("a grant needs a credit kind");
      const available = await spendable(trx, parent!.accountId, now);
      // Debt is repaid from credit before anything else, so credit that repays it is not the parent's to give.
      const total = sum(available) - (await owed(trx, parent!.accountId));
      if (total < amount) return { status: "insufficient", availableMicros: Math.max(0, total) };
      // The parent's credit is spent earliest expiry first, as consumption will spend it.
      await takeFrom(trx, available, amount);
      await post(trx, parent!, {
        ...base,
        id: counterpartyEntryId!,
        type: "grant_out",
        kind,
        amount: -amount,
        key: `${key}:counterparty`,
        expiresAt,
        metadata: counterpartyMeta,
      });
      await post(trx, named, { ...base, id: namedId, type: "grant", kind, amount, key, expiresAt, metadata: namedMeta });
      await insertGrant(trx, { accountId: input.accountId, kind, amount, expiresAt, sourceAccountId: parent!.accountId, entryId: namedId, now });
      break;
    }
    case "clawback":
    case "release": {
      // Newest grants are taken back first; the parent gets each slice back with its kind and expiry.
      const available = (await spendable(trx, input.accountId, now)).sort(newestFirst);
      const total = sum(available);
      if (input.type === "release") amount = parent ? total : named.balance;
      else {
        // As for a grant: credit that the account's debt claims is not spendable, so not taken back either.
        const free = total - (await owed(trx, input.accountId));
        if (free < amount) return { status: "insufficient", availableMicros: Math.max(0, free) };
      }
      if (input.type === "release" && named.balance === 0 && amount === 0) return { status: "empty" };
      if (parent && amount > 0) {
        const slices = await takeFrom(trx, available, amount);
        await post(trx, named, { ...base, id: namedId, type: types.named, kind: null, amount: -amount, key, expiresAt: null, metadata: namedMeta });
        await post(trx, parent, {
          ...base,
          id: counterpartyEntryId!,
          type: types.counterparty!,
          kind: null,
          amount,
          key: `${key}:counterparty`,
          expiresAt: null,
          metadata: counterpartyMeta,
        });
        for (const s of slices) {
          await insertGrant(trx, {
            accountId: parent.accountId,
            kind: s.kind,
            amount: s.taken,
            expiresAt: s.expiresAt,
            sourceAccountId: input.accountId,
            entryId: counterpartyEntryId!,
            now,
          });
        }
      }
      if (input.type === "release") {
        // What is left (expired credit, or a root's whole balance) is written off.
        const rest = named.balance;
        if (rest !== 0) {
          const id = parent && amount > 0 ? timeOrderedUuid() : namedId;
          await post(trx, named, {
            ...base,
            id,
            type: "adjustment",
            kind: null,
            amount: -rest,
            key: `${key}:write-off`,
            expiresAt: null,
            metadata: { ...namedMeta, movement: "release", write_off: true },
          });
          if (!(parent && amount > 0)) amount = rest;
        }
        await trx.updateTable("credit_grants").set({ remaining_micros: 0 }).where("account_id", "=", input.accountId).execute();
      }
      break;
    }
  }
  const namedRow = await trx.selectFrom("ledger_entries").selectAll().where("id", "=", namedId).executeTakeFirstOrThrow();
  return { status: "done", movement: await movementOf(trx, namedRow) };
}

/**
 * Locks the balance rows of `accountIds` (each once) in ascending account id order, the
 * one order every writer of balances follows: a movement (its account and counterparty,
 * whichever is parent) and a usage batch's debits (any number of payers, parents and
 * children alike). Two transactions that both need rows A and B thus both take A first,
 * so neither can hold one while waiting for the other; PostgreSQL would otherwise abort
 * one of them as a deadlock. Nothing else that a writer of balances locks is taken
 * after a balance row (a usage batch's rows and rollups come before its debits).
 */
async function lockBalances(trx: Kysely<Database>, dialect: SqlDialect, accountIds: readonly string[], now: string): Promise<Map<string, BalanceState>> {
  const ordered = [...new Set(accountIds)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const locked = new Map<string, BalanceState>();
  for (const id of ordered) locked.set(id, await lockBalance(trx, dialect, id, now));
  return locked;
}

/**
 * Locks the account's balance row, creating it at zero first if the account never held
 * credit. On SQLite the write transaction already holds the database's only write lock.
 * Only through `lockBalances`, which fixes the order.
 */
async function lockBalance(trx: Kysely<Database>, dialect: SqlDialect, accountId: string, now: string): Promise<BalanceState> {
  // The row nearly always exists: read (and lock) it, and only when there is none create it and read it again.
  const read = () => {
    let q = trx.selectFrom("account_balances").select(["balance_micros", "last_seq"]).where("account_id", "=", accountId);
    if (dialect === "postgres") q = q.forUpdate();
    return q.executeTakeFirst();
  };
  let row = await read();
  if (!row) {
    await trx
      .insertInto("account_balances")
      .values({ account_id: accountId, balance_micros: 0, last_seq: 0, updated_at: now })
      .onConflict((oc) => oc.column("account_id").doNothing())
      .execute();
    row = await read();
    if (!row) throw new Error(`account ${accountId}: its balance row could not be created`);
  }
  return { accountId, balance: Number(row.balance_micros), lastSeq: Number(row.last_seq) };
}

/**
 * The grants that count towards what an account may spend at `now`: unexpired credit
 * with something left, and debt (a negative remainder, which never expires), credit
 * earliest expiry first.
 */
async function liveGrants(db: Kysely<Database>, accountId: string, now: string): Promise<Selectable<CreditGrantsTable>[]> {
  return db
    .selectFrom("credit_grants")
    .selectAll()
    .where("account_id", "=", accountId)
    .where((eb) =>
      eb.or([eb("remaining_micros", "<", 0), eb.and([eb("remaining_micros", ">", 0), eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)])])]),
    )
    .orderBy(sql`(expires_at is null)`)
    .orderBy("expires_at")
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

function walletOf(grants: readonly Selectable<CreditGrantsTable>[], seq: number): Wallet {
  let spendable = 0;
  let validUntil: string | null = null;
  for (const g of grants) {
    const left = Number(g.remaining_micros);
    spendable += left;
    if (left > 0 && g.expires_at !== null && (validUntil === null || g.expires_at < validUntil)) validUntil = g.expires_at;
  }
  return { spendableMicros: spendable, seq, validUntil };
}

/**
 * Debits one account: debt first (it is repaid from credit before anything else), then
 * the charge, from unexpired credit earliest expiry first; what credit does not cover
 * stays as debt on one grant row with a negative remainder, so the balance (which may go
 * negative here, and only here) still equals the sum of the grants and of the ledger rows.
 */
async function debitOne(
  trx: Kysely<Database>,
  state: BalanceState,
  c: { accountId: string; amountMicros: number; requests: number },
  now: string,
): Promise<Wallet> {
  const grants = await liveGrants(trx, c.accountId, now);
  if (c.amountMicros === 0) return walletOf(grants, state.lastSeq);
  const plan = planDebit(grants, c.amountMicros);
  for (const t of plan.taken) await trx.updateTable("credit_grants").set({ remaining_micros: t.remaining }).where("id", "=", t.id).execute();
  const id = timeOrderedUuid();
  await post(trx, state, debitPost(c, id, now), { mayGoNegative: true });
  for (const d of plan.debtRows) await trx.updateTable("credit_grants").set({ remaining_micros: d.remaining }).where("id", "=", d.id).execute();
  if (plan.newDebt !== undefined)
    await insertGrant(trx, {
      accountId: c.accountId,
      kind: "payg",
      amount: 0,
      remaining: plan.newDebt,
      expiresAt: null,
      sourceAccountId: null,
      entryId: id,
      now,
    });
  return { ...plan.wallet, seq: state.lastSeq };
}

/** What a debit writes, worked out from the account's live grants (`liveGrants`) alone: the one place its money rules live, whichever engine writes it. */
interface DebitPlan {
  /** Credit grants to leave with `remaining`, earliest expiry first. */
  taken: Array<{ id: string; remaining: number }>;
  /** Debt rows to rewrite: all debt ends on the first one, the others at 0. */
  debtRows: Array<{ id: string; remaining: number }>;
  /** The remainder (negative) of a new debt row tied to the debit, when there was no debt row and credit does not cover the charge. */
  newDebt: number | undefined;
  /** The wallet afterwards: the same grants less what was taken, and the debt. */
  wallet: Omit<Wallet, "seq">;
}

function planDebit(grants: readonly Selectable<CreditGrantsTable>[], amount: number): DebitPlan {
  const credit = grants.filter((g) => Number(g.remaining_micros) > 0);
  const debts = grants.filter((g) => Number(g.remaining_micros) < 0);
  const owed = -debts.reduce((n, g) => n + Number(g.remaining_micros), 0);
  const need = owed + amount;
  const taken: DebitPlan["taken"] = [];
  let left = Math.min(sum(credit), need);
  let spendable = 0;
  let validUntil: string | null = null;
  for (const g of credit) {
    let remaining = Number(g.remaining_micros);
    if (left > 0) {
      const take = Math.min(remaining, left);
      left -= take;
      remaining -= take;
      taken.push({ id: g.id, remaining });
    }
    spendable += remaining;
    if (remaining > 0 && g.expires_at !== null && (validUntil === null || g.expires_at < validUntil)) validUntil = g.expires_at;
  }
  const debt = need - Math.min(sum(credit), need);
  const debtRows: DebitPlan["debtRows"] = [];
  let newDebt: number | undefined;
  if (owed > 0 || debt > 0) {
    const [first, ...rest] = debts;
    for (const d of rest) debtRows.push({ id: d.id, remaining: 0 });
    if (first) debtRows.push({ id: first.id, remaining: -debt });
    else newDebt = -debt;
  }
  return { taken, debtRows, newDebt, wallet: { spendableMicros: spendable - debt, validUntil } };
}

/** The ledger row of a usage debit. */
function debitPost(c: { accountId: string; amountMicros: number; requests: number }, id: string, now: string): Post {
  return {
    id,
    type: "debit",
    kind: null,
    amount: -c.amountMicros,
    key: `debit:${c.accountId}:${id}`,
    reference: id,
    expiresAt: null,
    actor: null,
    metadata: { requests: c.requests },
    now,
  };
}

export type SqliteDebit = (
  charges: readonly { accountId: string; amountMicros: number; requests: number }[],
  now: string,
) => Array<Wallet & { accountId: string }>;

const sqliteDebits = new WeakMap<SqliteDatabase.Database, SqliteDebit>();

/**
 * `debit` on SQLite's raw handle: the statements of the query-layer path above (balance
 * row, live grants, the plan's writes, the ledger row and balance), prepared once per
 * database and run in one better-sqlite3 transaction: a savepoint inside an open one, or
 * its own BEGIN IMMEDIATE (as `writeTransaction` takes) outside.
 */
export function sqliteDebit(db: SqliteDatabase.Database): SqliteDebit {
  const known = sqliteDebits.get(db);
  if (known) return known;
  const readBalance = db.prepare<[string], { balance_micros: number; last_seq: number }>(
    "select balance_micros, last_seq from account_balances where account_id = ?",
  );
  const createBalance = db.prepare<[string, string]>(
    "insert into account_balances (account_id, balance_micros, last_seq, updated_at) values (?, 0, 0, ?) on conflict (account_id) do nothing",
  );
  const grants = db.prepare<[string, string], Selectable<CreditGrantsTable>>(
    "select * from credit_grants where account_id = ? and (remaining_micros < 0 or (remaining_micros > 0 and (expires_at is null or expires_at > ?))) " +
      "order by (expires_at is null), expires_at, created_at, id",
  );
  const setRemaining = db.prepare<[number, string]>("update credit_grants set remaining_micros = ? where id = ?");
  const insertEntry = db.prepare(
    "insert into ledger_entries (id, account_id, entry_type, credit_kind, amount_micros, balance_after_micros, idempotency_key, reference, expires_at, actor, metadata, created_at, account_seq) " +
      "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const setBalance = db.prepare<[number, number, string, string]>(
    "update account_balances set balance_micros = ?, last_seq = ?, updated_at = ? where account_id = ?",
  );
  const insertDebt = db.prepare(
    "insert into credit_grants (id, account_id, kind, amount_micros, remaining_micros, expires_at, source_account_id, entry_id, created_at) values (?, ?, 'payg', 0, ?, null, null, ?, ?)",
  );
  const lock = (accountId: string, now: string): BalanceState => {
    let row = readBalance.get(accountId);
    if (!row) {
      createBalance.run(accountId, now);
      row = readBalance.get(accountId)!;
    }
    return { accountId, balance: Number(row.balance_micros), lastSeq: Number(row.last_seq) };
  };
  const debitTx = db.transaction((charges: readonly { accountId: string; amountMicros: number; requests: number }[], now: string) => {
    const ordered = [...new Set(charges.map((c) => c.accountId))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const locked = new Map(ordered.map((id) => [id, lock(id, now)]));
    return charges.map((c) => {
      const state = locked.get(c.accountId)!;
      const live = grants.all(c.accountId, now);
      if (c.amountMicros === 0) return { accountId: c.accountId, ...walletOf(live, state.lastSeq) };
      const plan = planDebit(live, c.amountMicros);
      for (const t of plan.taken) setRemaining.run(t.remaining, t.id);
      const id = timeOrderedUuid();
      const p = debitPost(c, id, now);
      const balance = nextBalance(state, p.amount, true);
      insertEntry.run(id, c.accountId, p.type, p.kind, p.amount, balance, p.key, p.reference, p.expiresAt, p.actor, toJsonText(p.metadata), now, state.lastSeq);
      setBalance.run(balance, state.lastSeq, now, c.accountId);
      for (const d of plan.debtRows) setRemaining.run(d.remaining, d.id);
      if (plan.newDebt !== undefined) insertDebt.run(timeOrderedUuid(), c.accountId, plan.newDebt, id, now);
      return { accountId: c.accountId, ...plan.wallet, seq: state.lastSeq };
    });
  });
  const run: SqliteDebit = (charges, now) => (db.inTransaction ? debitTx(charges, now) : debitTx.immediate(charges, now));
  sqliteDebits.set(db, run);
  return run;
}

/** One ledger row and the balance it leaves, written together. */
async function post(trx: Kysely<Database>, state: BalanceState, p: Post, opts: { mayGoNegative?: boolean } = {}): Promise<void> {
  const balance = nextBalance(state, p.amount, opts.mayGoNegative ?? false);
  await trx
    .insertInto("ledger_entries")
    .values({
      id: p.id,
      account_id: state.accountId,
      entry_type: p.type,
      credit_kind: p.kind,
      amount_micros: p.amount,
      balance_after_micros: balance,
      idempotency_key: p.key,
      reference: p.reference,
      expires_at: p.expiresAt,
      actor: p.actor,
      metadata: toJsonText(p.metadata),
      created_at: p.now,
      account_seq: state.lastSeq,
    })
    .execute();
  await trx
    .updateTable("account_balances")
    .set({ balance_micros: balance, last_seq: state.lastSeq, updated_at: p.now })
    .where("account_id", "=", state.accountId)
    .execute();
}

/** Moves the locked balance by `amount` and to its next seq; the balance the ledger row leaves. */
function nextBalance(state: BalanceState, amount: number, mayGoNegative: boolean): number {
  const balance = state.balance + amount;
  // Callers check availability first, so a negative balance here is a bug (consumption
  // alone may run into debt); an unsafe one is too much money for a JS number.
  if (balance < 0 && !mayGoNegative) throw new RangeError(`account ${state.accountId}: a balance of ${balance} micro-units is not allowed`);
  if (!Number.isSafeInteger(balance))
    throw new StoreError("invalid", `account ${state.accountId}: the balance would exceed ${Number.MAX_SAFE_INTEGER} micro-units`);
  state.balance = balance;
  state.lastSeq += 1;
  return balance;
}

/** The account's grants with something left that has not expired at `now`, earliest expiry first. */
async function spendable(trx: Kysely<Database>, accountId: string, now: string): Promise<Selectable<CreditGrantsTable>[]> {
  return trx
    .selectFrom("credit_grants")
    .selectAll()
    .where("account_id", "=", accountId)
    .where("remaining_micros", ">", 0)
    .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
    .orderBy(sql`(expires_at is null)`)
    .orderBy("expires_at")
    .orderBy("created_at")
    .orderBy("id")
    .execute();
}

/** What the account owes: the sum of its debt rows (grants with a negative remainder), as a positive amount. */
async function owed(trx: Kysely<Database>, accountId: string): Promise<number> {
  const row = await trx
    .selectFrom("credit_grants")
    .select((eb) => eb.fn.sum<number | string | null>("remaining_micros").as("debt"))
    .where("account_id", "=", accountId)
    .where("remaining_micros", "<", 0)
    .executeTakeFirst();
  return -Number(row?.debt ?? 0);
}

function newestFirst(a: Selectable<CreditGrantsTable>, b: Selectable<CreditGrantsTable>): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function sum(grants: readonly Selectable<CreditGrantsTable>[]): number {
  return grants.reduce((n, g) => n + Number(g.remaining_micros), 0);
}

/** Takes `amount` from the grants in the order given; returns what was taken from each. */
async function takeFrom(
  trx: Kysely<Database>,
  grants: readonly Selectable<CreditGrantsTable>[],
  amount: number,
): Promise<Array<{ kind: CreditKind; expiresAt: string | null; taken: number }>> {
  const slices: Array<{ kind: CreditKind; expiresAt: string | null; taken: number }> = [];
  let left = amount;
  for (const g of grants) {
    if (left === 0) break;
    const remaining = Number(g.remaining_micros);
    const taken = Math.min(remaining, left);
    left -= taken;
    await trx
      .updateTable("credit_grants")
      .set({ remaining_micros: remaining - taken })
      .where("id", "=", g.id)
      .execute();
    slices.push({ kind: oneOf(g.kind, CREDIT_KINDS, "credit_grants.kind"), expiresAt: g.expires_at, taken });
  }
  return slices;
}

async function insertGrant(
  trx: Kysely<Database>,
  g: {
    accountId: string;
    kind: CreditKind;
    amount: number;
    remaining?: number;
    expiresAt: string | null;
    sourceAccountId: string | null;
    entryId: string;
    now: string;
  },
): Promise<void> {
  await trx
    .insertInto("credit_grants")
    .values({
      id: timeOrderedUuid(),
      account_id: g.accountId,
      kind: g.kind,
      amount_micros: g.amount,
      remaining_micros: g.remaining ?? g.amount,
      expires_at: g.expiresAt,
      source_account_id: g.sourceAccountId,
      entry_id: g.entryId,
      created_at: g.now,
    })
    .execute();
}

/** Rebuilds a movement from the row on the account the call named (and its counterparty's row). */
async function movementOf(db: Kysely<Database>, row: Selectable<LedgerEntriesTable>): Promise<CreditMovement> {
  const entry = toEntry(row);
  const meta = entry.metadata;
  const counterpartyEntryId = typeof meta.counterparty_entry_id === "string" ? meta.counterparty_entry_id : null;
  const counterparty = counterpartyEntryId
    ? await db.selectFrom("ledger_entries").select("balance_after_micros").where("id", "=", counterpartyEntryId).executeTakeFirst()
    : undefined;
  const type = oneOf(String(meta.movement), ["topup", "grant", "clawback", "release"] as const, "ledger_entries.metadata.movement");
  return {
    id: entry.id,
    type,
    accountId: entry.accountId,
    counterpartyId: typeof meta.counterparty_account_id === "string" ? meta.counterparty_account_id : null,
    amountMicros: Math.abs(entry.amountMicros),
    kind: entry.creditKind,
    expiresAt: entry.expiresAt,
    balanceAfterMicros: entry.balanceAfterMicros,
    counterpartyEntryId,
    counterpartyBalanceAfterMicros: counterparty ? Number(counterparty.balance_after_micros) : null,
    idempotencyKey: typeof meta.idempotency_key === "string" ? meta.idempotency_key : null,
    note: typeof meta.note === "string" ? meta.note : null,
    actor: entry.actor,
    createdAt: entry.createdAt,
  };
}
