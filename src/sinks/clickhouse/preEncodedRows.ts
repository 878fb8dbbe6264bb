import type { ClickHouseClient } from '@clickhouse/client';

/**
 * Rows already serialised for a JSON insert format (lines joined by '\n', no trailing newline),
 * passed as the single element of an insert's `values`. `@clickhouse/client` serialises each
 * element of `values` with its configured `json.stringify`; a client made by `createClickHouse`
 * has `INSERT_JSON`, which hands these rows over as they are, so an insert of N rows costs no
 * serialisation at all. A client made elsewhere would serialise the wrapper object instead:
 * `passesRowsThrough` tells the writer which kind it has (it falls back to values).
 */
export class PreEncodedRows {
  constructor(readonly text: string) {}
}

/** JSON handling of the clients made by createClickHouse: standard, except PreEncodedRows. */
export const INSERT_JSON = {
  parse: JSON.parse,
  stringify: (value: unknown): string => (value instanceof PreEncodedRows ? value.text : JSON.stringify(value)),
};

const passThrough = new WeakSet<object>();

/** Records that `client` was created with INSERT_JSON. */
export function withRowsPassedThrough(client: ClickHouseClient): ClickHouseClient {
  passThrough.add(client);
  return client;
}

/** Whether `client` inserts PreEncodedRows as they are. */
export function passesRowsThrough(client: ClickHouseClient): boolean {
  return passThrough.has(client);
}
