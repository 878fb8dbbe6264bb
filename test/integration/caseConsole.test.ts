import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Address } from 'viem';
import { randomWallet, startHarness, type Harness } from '../support/harness.js';

const TOKENS = { alice: 'operator-token-0123456789abcdefghijklmn', bob: 'approver-token-0123456789abcdefghijklmn' };
/** Where the screenshot of the resolved case is kept (CI keeps the folder as the test's artifact). */
const ARTIFACTS = join(new URL('../../', import.meta.url).pathname, 'test/artifacts');

/**
 * The console's main flow in a real headless browser (Debian's chromium driven by Playwright): an
 * operator finds the case, reads its evidence and requests a write-off above the four-eyes
 * threshold; a second user with the approver role approves it.
 */
describe('case console in a browser', () => {
  let h: Harness;
  let browser: Browser;
  const wallet: Address = randomWallet();

  beforeAll(async () => {
    h = await startHarness({
      accounts: [{ accountId: 'ACC-7', wallets: [wallet] }],
      config: {
        cases: {
          enabled: true,
          tokens: [
            { id: 'alice', role: 'operator', token: TOKENS.alice },
            { id: 'bob', role: 'approver', token: TOKENS.bob },
          ],
          fourEyes: { thresholdMinor: { USD: '100000' } },
        },
      },
    });
    await h.posting({ entryId: 'E-7', accountId: 'ACC-7', amountMinor: 123_456n });
    await h.waitFor('MISSING_MINT', async () => (await h.discrepancies()).some((d) => d.kind === 'MISSING_MINT'), 30_000);
    browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  const signIn = async (page: Page, token: string) => {
    await page.goto(`${h.daemon.httpAddress()}/console`);
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Filter' }).waitFor();
    // The queue loaded at sign-in is on the page: nothing will replace it unasked.
    await page.locator('#rows[data-query]').waitFor();
  };

  it('finds a case, shows its evidence, writes it off and has it approved by a second user', async () => {
    const alice = await browser.newPage();
    await signIn(alice, TOKENS.alice);
    await alice.getByLabel('Kind').fill('MISSING_MINT');
    await alice.getByLabel('Min amount (minor units)').fill('100000');
    await alice.getByRole('button', { name: 'Filter' }).click();
    await alice.locator('#rows[data-query="status=open&kind=MISSING_MINT&minAmount=100000"]').waitFor();
    const row = alice.locator('tr.case-row', { hasText: 'MISSING_MINT:bank:E-7' });
    await expect.poll(() => row.count()).toBe(1);
    await row.click();
    // The evidence from the bank's book: the posting's account and amount.
    const evidence = alice.locator('dl');
    await expect.poll(() => evidence.textContent()).toContain('ACC-7');
    expect(await evidence.textContent()).toContain('123456');
    await alice.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => alice.locator('#case-status').textContent()).toBe('acknowledged');
    await alice.getByLabel('Assignee').fill('alice');
    await alice.getByRole('button', { name: 'Assign' }).click();
    await expect.poll(() => alice.locator('#case-status').textContent()).toBe('assigned');
    await alice.getByLabel('Write-off (minor units)').fill('123456');
    await alice.getByLabel('Reason code').fill('FEE_NOT_MINTED');
    await alice.getByRole('button', { name: 'Request write-off' }).click();
    await expect.poll(() => alice.getByText('Waiting for approval').count()).toBe(1);
    // Alice cannot approve her own request: the API refuses, the console says why.
    await alice.getByRole('button', { name: /^Approve/ }).click();
    await expect.poll(() => alice.getByRole('status').textContent()).toContain('FORBIDDEN');

    const bob = await browser.newPage();
    await signIn(bob, TOKENS.bob);
    await bob.locator('tr.case-row', { hasText: 'MISSING_MINT:bank:E-7' }).click();
    await bob.getByRole('button', { name: /^Approve/ }).click();
    await expect.poll(() => bob.locator('#case-status').textContent()).toBe('resolved');
    expect(await bob.locator('#case').textContent()).toContain('write_off');
    const history = await bob.locator('#case table tbody tr').allTextContents();
    const lines = history.map((r) => r.replace(/^\d+[^a-z]*Z/, ''));
    // The operators' actions in order; the opening by data is its own record, chained as its fact became visible.
    expect(lines.filter((l) => l.startsWith('system'))).toEqual(['systemdiscrepancy.open']);
    expect(lines.filter((l) => !l.startsWith('system'))).toEqual(['alicecase.acknowledge', 'alicecase.assign', 'alicecase.request_write_off', 'bobcase.approve']);
    mkdirSync(ARTIFACTS, { recursive: true });
    await bob.screenshot({ path: join(ARTIFACTS, 'case-console-approved.png'), fullPage: true });
  }, 60_000);

  it('opens the case a Grafana panel links to (/console#case=<id>), after sign-in, and on a later link', async () => {
    const page = await browser.newPage();
    await page.goto(`${h.daemon.httpAddress()}/console#case=${encodeURIComponent('MISSING_MINT:bank:E-7')}`);
    await page.getByLabel('API token').fill(TOKENS.alice);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('#case h2').textContent()).toBe('Case MISSING_MINT:bank:E-7');
    expect(await page.locator('dl').textContent()).toContain('ACC-7');
    // A later link in the same tab: only the fragment changes.
    await page.goto(`${h.daemon.httpAddress()}/console#case=nope`);
    await expect.poll(() => page.getByRole('status').textContent()).toContain('NOT_FOUND');
  }, 60_000);
});
