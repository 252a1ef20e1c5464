/**
 * Ids for counter holdings (counters.ts): what a request holds a concurrency slot or a credit
 * hold under. They must be unique among every gateway process sharing a counters engine, and
 * never chosen by a client (two requests with one id would share a slot); nothing else is
 * asked of them. So a random prefix per process, drawn once, and a counter within it: a
 * `randomUUID` per hold was two of the four UUIDs every request built, each a string put
 * together from 16 pieces.
 */
import { randomBytes } from "node:crypto";

/** 96 random bits: processes sharing an engine never draw the same prefix. */
const PREFIX = `${randomBytes(12).toString("base64url")}.`;
let next = 0;

/** A holder id no other holding of any process has had. */
export function newHolderId(): string {
  return PREFIX + (next++).toString(36);
}
