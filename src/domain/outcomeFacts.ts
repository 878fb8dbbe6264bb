import type { DiscrepancyEventRow, Fact, MatchRow } from './facts.js';
import type { ExpiryPairing, ManualMatchOutcome, Outcome, ProposalDecision, RetractionOutcome, StoredLeg } from './outcomes.js';
import { sumAmounts } from './subsetSum.js';
import type { DiscrepancyKind, Leg } from './types.js';
import { amountDifference } from './amountRange.js';

/** The leg fields facts need, whichever of Leg (just decoded) or StoredLeg (from Redis) we hold. */
export interface LegView {
  id: string;
  side: 'bank' | 'chain';
  flow: string;
  accountId: string;
  wallet: string;
  currency: string;
  tokenKey: string;
  amountKey: string;
  amountNative: string;
  eventTime: number;
}

export const viewOfLeg = (l: Leg): LegView => ({
  id: l.legId,
  side: l.side,
  flow: l.flow,
  accountId: l.accountId,
  wallet: l.wallet,
  currency: l.currency,
  tokenKey: l.tokenKey,
  amountKey: l.amountKey,
  amountNative: l.amountNative,
  eventTime: l.eventTime,
});

export const viewOfStored = (l: StoredLeg): LegView => ({
  id: l.id,
  side: l.s,
  flow: l.f,
  accountId: l.a,
  wallet: l.w,
  currency: l.c,
  tokenKey: l.k,
  amountKey: l.m,
  amountNative: l.n,
  eventTime: l.t,
});

/** The leg a stored record describes (facts of an outcome about a leg this message did not carry). */
export const legOfStored = (l: StoredLeg): Leg => ({
  legId: l.id,
  side: l.s,
  flow: l.f,
  accountId: l.a,
  wallet: l.w,
  currency: l.c,
  tokenKey: l.k,
  amountKey: l.m,
  amountNative: l.n,
  eventTime: l.t,
  reference: l.r || null,
  fingerprint: '',
});

const kindOfId = (discrepancyId: string) => discrepancyId.slice(0, discrepancyId.indexOf(':')) as DiscrepancyKind;

/** A discrepancy status change about one or two legs. `bank`/`chain` may be absent (missing leg). */
export function discrepancyEvent(args: {
  id: string;
  kind?: DiscrepancyKind;
  status: 'open' | 'resolved';
  reason: string;
  /** This status change's own id when one discrepancy may open more than once (re-opened by an unmatch). */
  eventId?: string;
  bank?: LegView | undefined;
  chain?: LegView | undefined;
  /** Used for identity fields when neither leg is known (orphans and dead identities). */
  fallback?: Partial<DiscrepancyEventRow>;
  eventTime: number;
  now: number;
}): Fact {
  const { bank, chain } = args;
  const any = bank ?? chain;
  const row: DiscrepancyEventRow = {
    discrepancy_id: args.id,
    event_id: args.eventId ?? `${args.id}:${args.status}`,
    kind: args.kind ?? kindOfId(args.id),
    status: args.status,
    flow: any?.flow ?? args.fallback?.flow ?? '',
    account_id: any?.accountId ?? args.fallback?.account_id ?? '',
    wallet: chain?.wallet || bank?.wallet || args.fallback?.wallet || '',
    currency: bank?.currency ?? chain?.currency ?? args.fallback?.currency ?? '',
    token_key: chain?.tokenKey ?? args.fallback?.token_key ?? '',
    bank_leg_id: bank?.id ?? args.fallback?.bank_leg_id ?? '',
    chain_leg_id: chain?.id ?? args.fallback?.chain_leg_id ?? '',
    expected_amount: bank ? bank.amountKey : (args.fallback?.expected_amount ?? ''),
    actual_amount: chain ? chain.amountKey : (args.fallback?.actual_amount ?? ''),
    reason: args.reason,
    event_time: args.eventTime,
    recorded_at: args.now,
  };
  return { table: 'discrepancy_events', row };
}

/** Status versions of a match: a proposal (0) is confirmed or rejected (4; confirmed, its match is a row of its own); a match may later be reversed or retracted. */
const MATCH_VERSION = { proposed: 0, matched: 1, reversed: 2, retracted: 3, rejected: 4, confirmed: 4, unmatched: 5 } as const;

/** `id@version` → its two parts ('' for a match made before rules were recorded). */
export function splitRule(rule: string | undefined): { rule_id: string; rule_version: string } {
  if (!rule) return { rule_id: '', rule_version: '' };
  const at = rule.lastIndexOf('@');
  return at < 0 ? { rule_id: rule, rule_version: '' } : { rule_id: rule.slice(0, at), rule_version: rule.slice(at + 1) };
}

function matchRow(
  bank: LegView,
  chain: LegView,
  o: { mid: string; by: string; resolves: string; rule?: string | undefined; confidence?: string },
  status: keyof typeof MATCH_VERSION,
  now: number,
): MatchRow {
  const { rule_id, rule_version } = splitRule(o.rule);
  return {
    rule_id,
    rule_version,
    confidence: o.confidence ?? (status === 'proposed' ? 'proposed' : 'confirmed'),
    amount_difference: o.by === 'tranche' ? '' : amountDifference(bank.amountKey, chain.amountKey),
    match_id: o.mid,
    flow: bank.flow,
    match_by: o.by,
    bank_leg_id: bank.id,
    chain_leg_id: chain.id,
    account_id: bank.accountId,
    wallet: chain.wallet,
    currency: bank.currency,
    token_key: chain.tokenKey,
    amount_base: chain.amountNative,
    bank_time: bank.eventTime,
    chain_time: chain.eventTime,
    late: o.resolves ? 1 : 0,
    resolved_discrepancy_id: o.resolves,
    status,
    version: MATCH_VERSION[status],
    recorded_at: now,
  };
}

/**
 * The DUPLICATE opened when an entry id (ledger entry or chain event, leg or not) arrives again
 * with content other than the first: keyed by the id and the new fingerprint, like a conflicting
 * leg's, so a redelivery of the same copy re-derives the same fact.
 */
export function factOfContentConflict(args: {
  /** `bank:<entryId>` or `chain:<eventId>`. */
  id: string;
  first: string;
  again: string;
  /** What the copy says, for the reason (`amount 500 USD minor units`, …). */
  says: string;
  fields: Partial<DiscrepancyEventRow>;
  eventTime: number;
  now: number;
}): Fact {
  const side = args.id.startsWith('chain:') ? 'chain' : 'bank';
  return discrepancyEvent({
    id: `DUPLICATE:${args.id}:${args.again}`,
    kind: 'DUPLICATE',
    status: 'open',
    fallback: { ...args.fields, ...(side === 'bank' ? { bank_leg_id: args.id } : { chain_leg_id: args.id }) },
    eventTime: args.eventTime,
    now: args.now,
    reason: `${args.id} was delivered again with different content (fingerprint ${args.again}, first seen: ${args.first}): ${args.says}; the first content stands`,
  });
}

/** Facts that follow from one correlation outcome for `leg` (the leg just processed). */
export function factsOfOutcome(leg: Leg, outcome: Outcome, now: number): Fact[] {
  const facts = factsOfOutcomeOnly(leg, outcome, now);
  // The other leg's window had closed by event time before this leg came: its discrepancy opens
  // first (then the facts above resolve it), as when the sweep ran before this leg was processed.
  if ((outcome.t === 'match' || outcome.t === 'mismatch' || outcome.t === 'proposal') && outcome.opens) facts.unshift(factOfExpiredLeg({ ...outcome.other, d: outcome.opens }, now));
  return facts;
}

function factsOfOutcomeOnly(leg: Leg, outcome: Outcome, now: number): Fact[] {
  const self = viewOfLeg(leg);
  const pair = (other: LegView) => (self.side === 'bank' ? { bank: self, chain: other } : { bank: other, chain: self });
  switch (outcome.t) {
    case 'parked':
    case 'pending':
    case 'stale':
      return [];
    case 'match': {
      const { bank, chain } = pair(viewOfStored(outcome.other));
      const facts: Fact[] = [{ table: 'matches', row: matchRow(bank, chain, outcome, 'matched', now) }];
      if (outcome.resolves) {
        facts.push(
          discrepancyEvent({
            id: outcome.resolves,
            status: 'resolved',
            bank,
            chain,
            eventTime: self.eventTime,
            now,
            reason: `late ${self.side} leg ${self.id} matched ${outcome.other.id} by ${outcome.by} (${outcome.mid})`,
          }),
        );
      }
      return facts;
    }
    case 'mismatch': {
      const { bank, chain } = pair(viewOfStored(outcome.other));
      const what =
        outcome.kind === 'AMOUNT_MISMATCH'
          ? `amounts differ: bank ${bank.amountKey} vs chain ${chain.amountKey} minor units of ${bank.currency}`
          : `currencies differ: bank ${bank.currency} vs token ${chain.tokenKey} (${chain.currency})`;
      const facts: Fact[] = [
        discrepancyEvent({
          id: outcome.discrepancyId,
          kind: outcome.kind,
          status: 'open',
          bank,
          chain,
          eventTime: self.eventTime,
          now,
          reason: `${bank.id} and ${chain.id} share ${outcome.by === 'reference' ? 'a reference' : 'their attributes'} but ${what}`,
        }),
      ];
      if (outcome.resolves) {
        facts.push(
          discrepancyEvent({
            id: outcome.resolves,
            status: 'resolved',
            bank,
            chain,
            eventTime: self.eventTime,
            now,
            reason: `superseded by ${outcome.discrepancyId}: the missing leg arrived with different terms`,
          }),
        );
      }
      return facts;
    }
    case 'proposal': {
      const { bank, chain } = pair(viewOfStored(outcome.other));
      return factsOfProposal(bank, chain, outcome, self.eventTime, now);
    }
    case 'split':
      return outcome.parts.flatMap((p) => {
        const { bank, chain } = pair(viewOfStored(p.other));
        const facts: Fact[] = [{ table: 'matches', row: matchRow(bank, chain, { mid: p.mid, by: 'tranche', resolves: p.resolves, rule: p.rule }, 'matched', now) }];
        if (p.resolves)
          facts.push(
            discrepancyEvent({
              id: p.resolves,
              status: 'resolved',
              bank,
              chain,
              eventTime: self.eventTime,
              now,
              reason: `late ${self.side} leg ${self.id} met ${p.other.id} as one of its tranches (${p.mid})`,
            }),
          );
        return facts;
      });
    case 'duplicate': {
      const { bank, chain } = pair(viewOfStored(outcome.other));
      return [
        discrepancyEvent({
          id: `DUPLICATE:${self.id}`,
          kind: 'DUPLICATE',
          status: 'open',
          bank,
          chain,
          eventTime: self.eventTime,
          now,
          reason: `${self.id} carries the reference of ${outcome.other.id}, which is already matched (${outcome.other.mid ?? ''})`,
        }),
      ];
    }
    case 'conflict': {
      const other = viewOfStored(outcome.other);
      return [
        discrepancyEvent({
          id: `DUPLICATE:${self.id}:${leg.fingerprint}`,
          kind: 'DUPLICATE',
          status: 'open',
          ...(self.side === 'bank' ? { bank: self } : { chain: self }),
          eventTime: self.eventTime,
          now,
          reason: `${self.id} was delivered again with different content: amount ${self.amountKey} (first seen: ${other.amountKey})`,
        }),
      ];
    }
    case 'reversal': {
      if (!outcome.other) return [];
      const { bank, chain } = pair(viewOfStored(outcome.other));
      return [
        { table: 'matches', row: matchRow(bank, chain, outcome, 'reversed', now) },
        discrepancyEvent({
          id: `REVERSAL_AFTER_MATCH:${bank.id}`,
          kind: 'REVERSAL_AFTER_MATCH',
          status: 'open',
          bank,
          chain,
          eventTime: self.eventTime,
          now,
          reason: `${bank.id} was reversed after it matched ${chain.id}: tokens are outstanding without the bank ${bank.flow === 'deposit' ? 'credit' : 'debit'}`,
        }),
      ];
    }
    case 'withdrawn':
      if (!outcome.resolves) return [];
      return [
        discrepancyEvent({
          id: outcome.resolves,
          status: 'resolved',
          ...(self.side === 'bank' ? { bank: self } : { chain: self }),
          eventTime: self.eventTime,
          now,
          reason: `${self.id} was reversed: nothing is owed on chain any more`,
        }),
      ];
  }
}

/**
 * Facts of retracting one chain event orphaned by a deep reorg: the retraction itself, the match
 * it had (a 'retracted' version) and any discrepancy that no longer holds (resolved). The
 * counterpart it re-opened will match the re-mined event, or expire, like any parked leg.
 */
export function factsOfRetraction(r: { eventId: string; chainId: number; blockNumber: bigint; blockHash: string }, outcome: RetractionOutcome, now: number): Fact[] {
  const facts: Fact[] = [
    {
      table: 'chain_event_retractions',
      row: {
        event_id: r.eventId,
        chain_id: r.chainId,
        block_number: r.blockNumber.toString(),
        block_hash: r.blockHash,
        reason: `block ${r.blockNumber} (${r.blockHash}) was orphaned by a reorg deeper than the confirmation depth`,
        recorded_at: now,
      },
    },
  ];
  if (outcome.t !== 'retracted') return facts;
  const chain = viewOfStored(outcome.self);
  const bank = outcome.other ? viewOfStored(outcome.other) : undefined;
  if (outcome.mid && bank) {
    const row = matchRow(bank, chain, { mid: outcome.mid, by: outcome.by || 'attributes', resolves: outcome.rs }, 'retracted', now);
    facts.push({ table: 'matches', row });
  }
  for (const t of outcome.others ?? []) {
    if (t.mid) facts.push({ table: 'matches', row: matchRow(viewOfStored(t.other), chain, { mid: t.mid, by: 'tranche', resolves: '' }, 'retracted', now) });
  }
  if (outcome.resolves) {
    facts.push(
      discrepancyEvent({
        id: outcome.resolves,
        status: 'resolved',
        bank,
        chain,
        eventTime: chain.eventTime,
        now,
        reason: `${chain.id} was retracted by a reorg${bank ? `; ${bank.id} is open again for the re-mined event` : ''}`,
      }),
    );
  }
  return facts;
}

/** The open discrepancy for a leg whose window closed without a counterpart (or with tranches short of its amount). */
export function factOfExpiredLeg(l: StoredLeg, now: number): Fact {
  const v = viewOfStored(l);
  const side = l.s === 'bank' ? { bank: v } : { chain: v };
  if (l.rem) {
    const matched = amountDifference(l.m, l.rem);
    return discrepancyEvent({
      id: l.d,
      kind: 'PARTIALLY_MATCHED',
      status: 'open',
      ...side,
      fallback: l.s === 'bank' ? { actual_amount: matched } : { expected_amount: matched },
      eventTime: l.t,
      now,
      reason: `${l.id} (${v.amountKey} minor units of ${v.currency}, account ${v.accountId}) was met by tranches of ${matched}; ${l.rem} remain open after its window`,
    });
  }
  const missing = l.s === 'bank' ? (l.f === 'deposit' ? 'mint' : 'burn') : l.f === 'deposit' ? 'bank credit' : 'bank debit';
  return discrepancyEvent({
    id: l.d,
    status: 'open',
    ...side,
    eventTime: l.t,
    now,
    reason: `${l.id} (${v.amountKey} minor units of ${v.currency}, account ${v.accountId}) saw no ${missing} within its window${l.note ? `; ${l.note}` : ''}`,
  });
}

/** Facts of a window that closed: its discrepancy and, when it was paired as it closed, the pairing. */
export function factsOfExpiredLeg(l: StoredLeg, now: number): Fact[] {
  const p = l.pair;
  // Paired as one mismatch: that discrepancy names both legs; this leg's MISSING_* never opens.
  const facts = p?.t === 'mismatch' ? [] : [factOfExpiredLeg(l, now)];
  if (!p) return facts;
  const self = viewOfStored(l);
  if (p.t === 'split' || p.t === 'splitProposal') return [...facts, ...factsOfSplit(self, p, l.t, now)];
  const other = viewOfStored(p.other);
  const { bank, chain } = self.side === 'bank' ? { bank: self, chain: other } : { bank: other, chain: self };
  const resolve = (id: string, reason: string) => {
    if (id) facts.push(discrepancyEvent({ id, status: 'resolved', bank, chain, eventTime: l.t, now, reason }));
  };
  switch (p.t) {
    case 'match':
      facts.push({ table: 'matches', row: matchRow(bank, chain, { mid: p.mid, by: p.by, resolves: p.resolves, rule: p.rule }, 'matched', now) });
      resolve(p.resolves, `${l.id} met ${p.other.id} as its window closed, under ${p.rule} (${p.mid})`);
      resolve(p.resolvesOther, `${p.other.id} met ${l.id} as the latter's window closed, under ${p.rule} (${p.mid})`);
      break;
    case 'mismatch':
      facts.push(
        discrepancyEvent({
          id: p.discrepancyId,
          kind: 'AMOUNT_MISMATCH',
          status: 'open',
          bank,
          chain,
          eventTime: l.t,
          now,
          reason: `${bank.id} and ${chain.id} share account ${bank.accountId} and ${bank.currency} and no other leg meets either, but amounts differ: bank ${bank.amountKey} vs chain ${chain.amountKey} (difference ${amountDifference(bank.amountKey, chain.amountKey)}; rule ${p.rule})`,
        }),
      );
      resolve(p.resolves, `superseded by ${p.discrepancyId}: paired with ${p.other.id} as one amount mismatch`);
      resolve(p.resolvesOther, `superseded by ${p.discrepancyId}: paired with ${l.id} as one amount mismatch`);
      break;
    case 'proposal':
      facts.push(...factsOfProposal(bank, chain, { pid: p.pid, by: p.by, rule: p.rule, resolves: '' }, l.t, now));
      break;
  }
  return facts;
}

/** Facts of a split found by search: a match (or a proposed match) per part; a confirmed one resolves the leg's discrepancy. */
function factsOfSplit(self: LegView, p: Extract<ExpiryPairing, { t: 'split' | 'splitProposal' }>, eventTime: number, now: number): Fact[] {
  const pairOf = (other: LegView) => (self.side === 'bank' ? { bank: self, chain: other } : { bank: other, chain: self });
  const facts: Fact[] = [];
  if (p.t === 'split') {
    for (const part of p.parts) {
      const { bank, chain } = pairOf(viewOfStored(part.other));
      facts.push({ table: 'matches', row: matchRow(bank, chain, { mid: part.mid, by: 'split', resolves: part.resolves, rule: part.rule }, 'matched', now) });
      if (part.resolves)
        facts.push(discrepancyEvent({ id: part.resolves, status: 'resolved', bank, chain, eventTime, now, reason: `${part.other.id} is one part of the split of ${self.id} (${part.rule})` }));
    }
    const total = sumAmounts(p.parts.map((x) => x.other.m));
    facts.push(
      discrepancyEvent({
        id: p.resolves,
        status: 'resolved',
        ...(self.side === 'bank' ? { bank: self } : { chain: self }),
        eventTime,
        now,
        reason: `${self.id} met as its window closed by ${p.parts.length} legs adding up to ${total} (split found by search, ${p.rule})`,
      }),
    );
    return facts;
  }
  for (const part of p.parts) {
    const { bank, chain } = pairOf(viewOfStored(part));
    facts.push({ table: 'matches', row: matchRow(bank, chain, { mid: `${p.pid}:${part.id}`, by: 'split', resolves: '', rule: p.rule }, 'proposed', now) });
  }
  facts.push(
    discrepancyEvent({
      id: proposalDiscrepancyId(p.pid),
      kind: 'PROPOSED_MATCH',
      status: 'open',
      ...(self.side === 'bank' ? { bank: self } : { chain: self }),
      eventTime,
      now,
      reason: `${self.id} is proposed as met by ${p.parts.length} legs adding up to ${sumAmounts(p.parts.map((x) => x.m))} (${p.parts.map((x) => x.id).join(', ')}; split found by search, ${p.rule}): confirm or reject ${p.pid}`,
    }),
  );
  return facts;
}

/** The proposal id's discrepancy in the operators' queue. */
export const proposalDiscrepancyId = (pid: string) => `PROPOSED_MATCH:${pid.slice('proposal:'.length)}`;

/** A proposed pair: the match row (status proposed) and an open PROPOSED_MATCH for the operators' queue. */
export function factsOfProposal(bank: LegView, chain: LegView, o: { pid: string; by: string; rule: string; resolves: string }, eventTime: number, now: number): Fact[] {
  return [
    { table: 'matches', row: matchRow(bank, chain, { mid: o.pid, by: o.by, resolves: o.resolves, rule: o.rule }, 'proposed', now) },
    discrepancyEvent({
      id: proposalDiscrepancyId(o.pid),
      kind: 'PROPOSED_MATCH',
      status: 'open',
      bank,
      chain,
      eventTime,
      now,
      reason: `${bank.id} and ${chain.id} are proposed as a pair by ${o.rule} (difference ${amountDifference(bank.amountKey, chain.amountKey)} minor units of ${bank.currency}): confirm or reject ${o.pid}`,
    }),
  ];
}

/** Facts of an operator's manual match or unmatch. */
export function factsOfManualMatch(d: ManualMatchOutcome, actor: string, note: string, now: number): Fact[] {
  if (d.t === 'refused') return [];
  const bank = viewOfStored(d.bank);
  const chain = viewOfStored(d.chain);
  if (d.t === 'matched') {
    const resolves = d.resolves.filter(Boolean);
    return [
      // Versions above every automatic status: a manual decision is the latest word on the pair.
      {
        table: 'matches',
        row: { ...matchRow(bank, chain, { mid: d.mid, by: 'manual', resolves: resolves[0] ?? '', rule: 'manual@operator', confidence: 'operator' }, 'matched', now), version: 10 + d.n },
      },
      ...resolves.map((id) => discrepancyEvent({ id, status: 'resolved', bank, chain, eventTime: now, now, reason: `matched by hand by ${actor} (${d.mid})${note ? `: ${note}` : ''}` })),
    ];
  }
  const reopened = Array.isArray(d.reopened) ? d.reopened : [];
  return [
    { table: 'matches', row: { ...matchRow(bank, chain, { mid: d.mid, by: 'manual', resolves: '', confidence: 'operator' }, 'unmatched', now), version: 10 + d.n } },
    ...reopened.map((id) =>
      discrepancyEvent({ id, eventId: `${id}:reopened:${d.n}`, status: 'open', bank, chain, eventTime: now, now, reason: `re-opened: ${d.mid} undone by ${actor}${note ? `: ${note}` : ''}` }),
    ),
  ];
}

function factsOfSplitDecision(d: Extract<ProposalDecision, { t: 'confirmedSplit' | 'rejectedSplit' }>, actor: string, now: number): Fact[] {
  const whole = viewOfStored(d.whole);
  const pairOf = (other: LegView) => (whole.side === 'bank' ? { bank: whole, chain: other } : { bank: other, chain: whole });
  const self = whole.side === 'bank' ? { bank: whole } : { chain: whole };
  const pdid = proposalDiscrepancyId(d.pid);
  if (d.t === 'rejectedSplit') {
    return [
      ...d.parts.map((p): Fact => {
        const { bank, chain } = pairOf(viewOfStored(p));
        return { table: 'matches', row: matchRow(bank, chain, { mid: `${d.pid}:${p.id}`, by: 'split', resolves: '', confidence: 'operator' }, 'rejected', now) };
      }),
      discrepancyEvent({ id: pdid, status: 'resolved', ...self, eventTime: now, now, reason: `rejected by ${actor}: ${whole.id} and its proposed parts wait for their own counterparts again` }),
    ];
  }
  const facts: Fact[] = [];
  for (const p of d.parts) {
    const { bank, chain } = pairOf(viewOfStored(p.other));
    facts.push({ table: 'matches', row: matchRow(bank, chain, { mid: `${d.pid}:${p.other.id}`, by: 'split', resolves: '', confidence: 'operator' }, 'confirmed', now) });
    facts.push({ table: 'matches', row: matchRow(bank, chain, { mid: p.mid, by: 'split', resolves: p.resolves, rule: p.rule, confidence: 'operator' }, 'matched', now) });
    if (p.resolves) facts.push(discrepancyEvent({ id: p.resolves, status: 'resolved', bank, chain, eventTime: now, now, reason: `${d.pid} confirmed by ${actor} (${p.mid})` }));
  }
  facts.push(discrepancyEvent({ id: pdid, status: 'resolved', ...self, eventTime: now, now, reason: `confirmed by ${actor}: ${whole.id} met by ${d.parts.length} legs` }));
  if (d.resolves) facts.push(discrepancyEvent({ id: d.resolves, status: 'resolved', ...self, eventTime: now, now, reason: `${d.pid} confirmed by ${actor}` }));
  return facts;
}

/** Facts of an operator's decision on a proposal. */
export function factsOfDecision(d: ProposalDecision, actor: string, now: number): Fact[] {
  if (d.t === 'confirmedSplit' || d.t === 'rejectedSplit') return factsOfSplitDecision(d, actor, now);
  if (d.t !== 'confirmed' && d.t !== 'rejected') return [];
  const bank = viewOfStored(d.bank);
  const chain = viewOfStored(d.chain);
  const pdid = proposalDiscrepancyId(d.pid);
  if (d.t === 'rejected') {
    return [
      { table: 'matches', row: matchRow(bank, chain, { mid: d.pid, by: 'attributes', resolves: '', confidence: 'operator' }, 'rejected', now) },
      discrepancyEvent({ id: pdid, status: 'resolved', bank, chain, eventTime: now, now, reason: `rejected by ${actor}: ${bank.id} and ${chain.id} wait for their own counterparts again` }),
    ];
  }
  const facts: Fact[] = [
    { table: 'matches', row: matchRow(bank, chain, { mid: d.pid, by: d.by, resolves: '', rule: d.rule, confidence: 'operator' }, 'confirmed', now) },
    { table: 'matches', row: matchRow(bank, chain, { mid: d.mid, by: d.by, resolves: d.resolves, rule: d.rule, confidence: 'operator' }, 'matched', now) },
    discrepancyEvent({ id: pdid, status: 'resolved', bank, chain, eventTime: now, now, reason: `confirmed by ${actor} as ${d.mid}` }),
  ];
  for (const id of new Set([d.resolves, d.bankD, d.chainD])) {
    if (id) facts.push(discrepancyEvent({ id, status: 'resolved', bank, chain, eventTime: now, now, reason: `${d.pid} confirmed by ${actor} as ${d.mid}` }));
  }
  return facts;
}
