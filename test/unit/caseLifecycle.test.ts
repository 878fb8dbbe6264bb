import { describe, expect, it } from 'vitest';
import { applyCaseAction, CaseActionRefused, newCase, type CaseAction, type CaseState, type FourEyesPolicy } from '../../src/cases/caseLifecycle.js';
import { SYSTEM, type Actor } from '../../src/cases/roles.js';

const alice: Actor = { id: 'alice', role: 'operator' };
const bob: Actor = { id: 'bob', role: 'approver' };
const carol: Actor = { id: 'carol', role: 'approver' };
const viewer: Actor = { id: 'vic', role: 'viewer' };
/** Above 1,000.00 USD (100,000 cents) a second person approves; other currencies above 500 minor units. */
const policy: FourEyesPolicy = { thresholdMinor: { USD: 100_000n }, defaultMinor: 500n };

const run = (actions: [CaseAction, Actor][], from: CaseState = newCase('C-1')): CaseState => actions.reduce((s, [a, who]) => applyCaseAction(s, a, who, policy), from);
const refusal = (f: () => unknown): CaseActionRefused => {
  try {
    f();
  } catch (e) {
    if (e instanceof CaseActionRefused) return e;
    throw e;
  }
  throw new Error('expected a refusal');
};

const ack: CaseAction = { type: 'acknowledge' };
const assignAlice: CaseAction = { type: 'assign', assignee: 'alice' };
const writeOff = (amountMinor: bigint, currency = 'USD', requestId = 'R-1'): CaseAction => ({ type: 'request_write_off', requestId, amountMinor, currency, reasonCode: 'FEE' });

describe('case lifecycle: legal transitions', () => {
  it('goes open → acknowledged → assigned → resolved by a manual match, counting versions', () => {
    const s = run([
      [ack, alice],
      [assignAlice, alice],
      [{ type: 'manual_match', legIds: ['bank:E-1', 'chain:1:0xab:0'] }, alice],
    ]);
    expect(s).toMatchObject({ status: 'resolved', resolution: 'manual_match', assignee: 'alice', version: 3 });
  });

  it('assigns straight from open, and reassigns while assigned', () => {
    const s = run([
      [assignAlice, alice],
      [{ type: 'assign', assignee: 'dave' }, bob],
    ]);
    expect(s).toMatchObject({ status: 'assigned', assignee: 'dave' });
  });

  it('is resolved by data in any open status, and re-opened by data once resolved', () => {
    for (const before of [[], [[ack, alice]], [[assignAlice, alice]]] as [CaseAction, Actor][][]) {
      const s = run([...before, [{ type: 'resolve_by_data' }, SYSTEM]]);
      expect(s).toMatchObject({ status: 'resolved', resolution: 'data' });
      expect(run([[{ type: 'reopen_by_data' }, SYSTEM]], s)).toMatchObject({ status: 'open', resolution: null, assignee: null });
    }
  });

  it('unmatches a manual match: the case is open again', () => {
    const matched = run([
      [ack, alice],
      [{ type: 'manual_match', legIds: ['a', 'b'] }, alice],
    ]);
    expect(run([[{ type: 'unmatch' }, alice]], matched)).toMatchObject({ status: 'open', resolution: null });
  });

  it('disposes of an AML alert once taken: false positive, escalated or reported, with a reason code', () => {
    for (const disposition of ['false_positive', 'escalated', 'reported'] as const) {
      const s = run([
        [ack, alice],
        [{ type: 'dispose', disposition, reasonCode: 'R' }, alice],
      ]);
      expect(s).toMatchObject({ status: 'resolved', resolution: disposition, version: 2 });
    }
    expect(refusal(() => run([[{ type: 'dispose', disposition: 'false_positive', reasonCode: 'R' }, alice]])).code).toBe('ILLEGAL_TRANSITION');
    expect(
      refusal(() =>
        run([
          [ack, alice],
          [{ type: 'dispose', disposition: 'false_positive', reasonCode: ' ' }, alice],
        ]),
      ).code,
    ).toBe('INVALID_ACTION');
    expect(
      refusal(() =>
        run([
          [ack, alice],
          [{ type: 'dispose', disposition: 'false_positive', reasonCode: 'R' }, viewer],
        ]),
      ).code,
    ).toBe('FORBIDDEN');
  });

  it('takes comments in every status but resolved', () => {
    expect(run([[{ type: 'comment', text: 'looking' }, alice]]).version).toBe(1);
    const done = run([[{ type: 'resolve_by_data' }, SYSTEM]]);
    expect(run([[{ type: 'comment', text: 'for the record' }, alice]], done).status).toBe('resolved');
  });
});

describe('case lifecycle: illegal transitions are refused', () => {
  const resolved = () => run([[{ type: 'resolve_by_data' }, SYSTEM]]);
  it.each([
    [
      'acknowledge twice',
      () =>
        run([
          [ack, alice],
          [ack, alice],
        ]),
    ],
    ['acknowledge a resolved case', () => run([[ack, alice]], resolved())],
    ['assign a resolved case', () => run([[assignAlice, alice]], resolved())],
    ['resolve by data twice', () => run([[{ type: 'resolve_by_data' }, SYSTEM]], resolved())],
    ['reopen an open case', () => run([[{ type: 'reopen_by_data' }, SYSTEM]])],
    ['manual match before anyone took the case', () => run([[{ type: 'manual_match', legIds: ['a', 'b'] }, alice]])],
    ['unmatch what data resolved', () => run([[{ type: 'unmatch' }, alice]], resolved())],
    [
      'write off without being assigned',
      () =>
        run([
          [ack, alice],
          [writeOff(100n), alice],
        ]),
    ],
  ])('%s', (_, f) => {
    expect(refusal(f).code).toBe('ILLEGAL_TRANSITION');
  });

  it("refuses an action the actor's role does not allow, naming the role", () => {
    const e = refusal(() => run([[ack, viewer]]));
    expect(e.code).toBe('FORBIDDEN');
    expect(e.message).toMatch(/vic \(viewer\).*operator role/);
    expect(refusal(() => run([[{ type: 'resolve_by_data' }, bob]])).code).toBe('FORBIDDEN');
    expect(refusal(() => run([[{ type: 'acknowledge' }, SYSTEM]])).code).toBe('FORBIDDEN');
  });

  it('refuses empty comments, one-leg matches and non-positive write-offs', () => {
    expect(refusal(() => run([[{ type: 'comment', text: ' ' }, alice]])).code).toBe('INVALID_ACTION');
    expect(
      refusal(() =>
        run([
          [ack, alice],
          [{ type: 'manual_match', legIds: ['a'] }, alice],
        ]),
      ).code,
    ).toBe('INVALID_ACTION');
    expect(
      refusal(() =>
        run([
          [assignAlice, alice],
          [writeOff(0n), alice],
        ]),
      ).code,
    ).toBe('INVALID_ACTION');
  });
});

describe('four eyes', () => {
  const assigned = () => run([[assignAlice, alice]]);

  it('resolves a write-off at the threshold at once, and holds one a minor unit above for an approver', () => {
    expect(run([[writeOff(100_000n), alice]], assigned())).toMatchObject({ status: 'resolved', resolution: 'write_off', pending: null });
    const held = run([[writeOff(100_001n), alice]], assigned());
    expect(held).toMatchObject({ status: 'assigned', resolution: null, pending: { requestId: 'R-1', requestedBy: 'alice', amountMinor: 100_001n } });
    expect(run([[{ type: 'approve', requestId: 'R-1' }, bob]], held)).toMatchObject({ status: 'resolved', resolution: 'write_off', pending: null });
  });

  it('uses the default threshold for a currency without its own', () => {
    expect(run([[writeOff(501n, 'EUR'), alice]], assigned()).pending).not.toBeNull();
    expect(run([[writeOff(500n, 'EUR'), alice]], assigned()).status).toBe('resolved');
  });

  it('never lets the requester approve or reject their own request, whatever their role', () => {
    const bobAssigned = run([[{ type: 'assign', assignee: 'bob' }, bob]]);
    const held = run([[{ type: 'request_adjustment', requestId: 'R-9', amountMinor: 5_000_000n, currency: 'USD', reasonCode: 'FX' }, bob]], bobAssigned);
    expect(refusal(() => run([[{ type: 'approve', requestId: 'R-9' }, bob]], held)).code).toBe('SELF_APPROVAL');
    expect(refusal(() => run([[{ type: 'reject_request', requestId: 'R-9' }, bob]], held)).code).toBe('SELF_APPROVAL');
    expect(run([[{ type: 'approve', requestId: 'R-9' }, carol]], held)).toMatchObject({ status: 'resolved', resolution: 'adjustment' });
  });

  it('needs the approver role to approve, a matching request id, and one request at a time', () => {
    const held = run([[writeOff(200_000n), alice]], assigned());
    expect(
      refusal(() =>
        run(
          [
            [
              { type: 'approve', requestId: 'R-1' },
              { id: 'eve', role: 'operator' },
            ],
          ],
          held,
        ),
      ).code,
    ).toBe('FORBIDDEN');
    expect(refusal(() => run([[{ type: 'approve', requestId: 'R-2' }, bob]], held)).code).toBe('NO_PENDING_REQUEST');
    expect(refusal(() => run([[writeOff(300_000n, 'USD', 'R-2'), alice]], held)).code).toBe('ILLEGAL_TRANSITION');
    expect(refusal(() => run([[{ type: 'manual_match', legIds: ['a', 'b'] }, alice]], held)).code).toBe('ILLEGAL_TRANSITION');
    const rejected = run([[{ type: 'reject_request', requestId: 'R-1' }, bob]], held);
    expect(rejected).toMatchObject({ status: 'assigned', pending: null });
    expect(refusal(() => run([[{ type: 'approve', requestId: 'R-1' }, carol]], rejected)).code).toBe('NO_PENDING_REQUEST');
  });

  it('drops a pending request when data resolves the case meanwhile', () => {
    const held = run([[writeOff(200_000n), alice]], assigned());
    expect(run([[{ type: 'resolve_by_data' }, SYSTEM]], held)).toMatchObject({ status: 'resolved', resolution: 'data', pending: null });
  });
});
