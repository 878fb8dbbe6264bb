import { describe, expect, it } from 'vitest';
import { ensureLocalServices, findBinary, natsAnswers, redisAnswers } from '../../src/cli/localServices.js';

describe('ensureLocalServices', () => {
  it('finds NATS (with JetStream) and Redis answering locally and starts nothing', async () => {
    const logged: string[] = [];
    const s = await ensureLocalServices({ log: { info: (m) => logged.push(m) } });
    expect(s.nats).toEqual({ url: 'nats://127.0.0.1:4222', started: false });
    expect(s.redis).toEqual({ url: 'redis://127.0.0.1:6379', started: false });
    expect(logged).toEqual([]);
    expect(await natsAnswers()).toBe(true);
    expect(await redisAnswers()).toBe(true);
  });

  it('finds binaries on PATH and reports absent ones as null', () => {
    expect(findBinary('node')).not.toBeNull();
    expect(findBinary('definitely-not-a-binary-recon')).toBeNull();
  });
});
