import { factKey, type Fact, type FactTable } from '../../domain/facts.js';
import { FACT_COLUMNS, FACT_TABLES } from './migrations.js';

/**
 * A fact in the form it is inserted: its table, its `factKey` (deduplication and the lookup of
 * suspects), and its row as one JSONCompactEachRow line (values in schema column order, no
 * newline). The fact log carries facts in this form, so the loader inserts them without decoding
 * and encoding every row again.
 */
export interface EncodedFact {
  table: FactTable;
  key: string;
  line: string;
}

/** Each table's columns in schema order, and which of them are Nullable (precomputed: hot path). */
export const COLUMN_NAMES = Object.fromEntries(FACT_TABLES.map((t) => [t, Object.keys(FACT_COLUMNS[t]) as [string, ...string[]]])) as Record<FactTable, [string, ...string[]]>;
const NULLABLE = Object.fromEntries(FACT_TABLES.map((t) => [t, Object.values(FACT_COLUMNS[t] as Record<string, string>).map((type) => type.startsWith('Nullable('))])) as Record<FactTable, boolean[]>;

/**
 * The row as inserted: exactly the table's columns in schema order (so its JSON, and the token
 * hashed from it, is stable), with '' in a Nullable column (an absent amount) sent as NULL.
 */
export function projectRow(table: FactTable, row: object): Record<string, unknown> {
  const values = compactRow(table, row);
  const out: Record<string, unknown> = {};
  for (const [i, column] of COLUMN_NAMES[table].entries()) out[column] = values[i];
  return out;
}

/** `projectRow` as a bare array of values in schema column order (a JSONCompactEachRow row). */
export function compactRow(table: FactTable, row: object): unknown[] {
  const source = row as Record<string, unknown>;
  const columns = COLUMN_NAMES[table];
  const nullable = NULLABLE[table];
  const out = new Array<unknown>(columns.length);
  for (let i = 0; i < columns.length; i++) {
    const value = source[columns[i]!];
    out[i] = nullable[i] && (value === '' || value === undefined) ? null : value;
  }
  return out;
}

/** The fact in its insert form: one serialisation of its row. */
export function encodeFact(fact: Fact): EncodedFact {
  return { table: fact.table, key: factKey(fact), line: JSON.stringify(compactRow(fact.table, fact.row)) };
}

/**
 * The fact id in a `factKey` (`<table>:<id>` or, for a versioned table, `<table>:<id>@<version>`).
 * The id is what the table's id column holds; it may itself contain ':' or '@'.
 */
export function idOfKey(table: FactTable, key: string, versioned: boolean): string {
  const id = key.slice(table.length + 1);
  return versioned ? id.slice(0, id.lastIndexOf('@')) : id;
}
