import { z } from 'zod';

const DAY_MS = 86_400_000;

/**
 * Retention limits of one JetStream stream (docs/retention.md). `maxAgeMs` 0, `maxBytes` -1 and
 * `maxMsgs` -1 mean no limit of that kind. `discard` is what happens when `maxBytes`/`maxMsgs` is
 * reached: `new` refuses the publish (the publisher sees the error and retries: nothing unread is
 * lost), `old` drops the oldest message. Age always drops the oldest, whatever `discard` says.
 * NATS reserves `maxBytes` of file storage when the stream is created, so the sum over streams
 * must fit the server's `max_file_store`: size it to the disk, or leave it -1 and bound by age.
 */
export interface StreamLimits {
  maxAgeMs: number;
  maxBytes: number;
  maxMsgs: number;
  discard: 'old' | 'new';
}

/** A zod schema of stream limits with these defaults. */
export function streamLimitsSchema(defaults: StreamLimits) {
  return z
    .object({
      maxAgeMs: z
        .number()
        .int()
        .refine((v) => v === 0 || v >= 3_600_000, 'must be 0 (no limit) or at least one hour (3600000)')
        .default(defaults.maxAgeMs)
        .describe('Oldest message kept, ms (0: no age limit).'),
      maxBytes: z
        .number()
        .int()
        .refine((v) => v === -1 || v >= 2 ** 20, 'must be -1 (no limit) or at least 1 MiB (1048576)')
        .default(defaults.maxBytes)
        .describe('Bytes kept (-1: no limit; the server reserves this much up front).'),
      maxMsgs: z
        .number()
        .int()
        .refine((v) => v === -1 || v >= 1_000, 'must be -1 (no limit) or at least 1000')
        .default(defaults.maxMsgs)
        .describe('Messages kept (-1: no limit).'),
      discard: z.enum(['old', 'new']).default(defaults.discard).describe('When full: `new` refuses the publish (nothing unread is dropped), `old` drops the oldest.'),
    })
    .prefault({});
}

/**
 * Defaults a bank can defend (the why is in docs/retention.md): input streams are kept 90 days and
 * refuse publishes rather than drop unread input; the mapping history is never aged out (replaying
 * it is how a worker rebuilds its identity map); dead letters stay 400 days for investigation.
 */
export const DEFAULT_STREAM_LIMITS = {
  ledger: { maxAgeMs: 90 * DAY_MS, maxBytes: -1, maxMsgs: -1, discard: 'new' },
  chain: { maxAgeMs: 90 * DAY_MS, maxBytes: -1, maxMsgs: -1, discard: 'new' },
  mappings: { maxAgeMs: 0, maxBytes: -1, maxMsgs: 10_000_000, discard: 'new' },
  deadLetter: { maxAgeMs: 400 * DAY_MS, maxBytes: -1, maxMsgs: 10_000_000, discard: 'old' },
  alerts: { maxAgeMs: 30 * DAY_MS, maxBytes: -1, maxMsgs: 10_000_000, discard: 'new' },
} as const satisfies Record<string, StreamLimits>;
