import { z } from 'zod';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The string form of a duration: a whole number and a unit. */
export const DURATION_PATTERN = '^(\\d+)(ms|s|m|h|d)$';
const DURATION = new RegExp(DURATION_PATTERN);

/**
 * A duration in milliseconds, in every configuration and rule file alike: a number of ms, or a
 * string such as `500ms`, `90s`, `30m`, `24h`, `7d`. `bounds` (default: a whole number ≥ 0) is
 * checked on the milliseconds, so an error names the field and the limit.
 */
export function durationMs(bounds: z.ZodNumber = z.number().int().min(0)) {
  return z
    .union([z.number().int(), z.string().regex(DURATION, "must be a number of ms or like '500ms', '90s', '30m', '24h', '7d'")])
    .transform((v) => {
      if (typeof v === 'number') return v;
      const [, n, unit] = DURATION.exec(v)!;
      return Number(n) * UNIT_MS[unit!]!;
    })
    .pipe(bounds);
}
