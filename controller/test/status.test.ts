import t from 'tap';
import { checkReadiness, mergeStatus, readyCondition } from '../src/runtime/status.js';

const ready = readyCondition({ generation: 1, previous: undefined, now: 'T2', reason: 'Checked', message: 'ok' });

t.test(
  'a check without a Job keeps lastJob as the server has it (a stale view never writes an older phase back)',
  async (t) => {
    const fresh = {
      state: 'Idle' as const,
      lastRun: 'T1',
      checkedSources: {
        src: {
          commitHash: 'c1',
          changed: 'T0',
          lastJob: { name: 'job-1', commit: 'c1', phase: 'Expired' as const },
          lastError: { reason: 'Timeout', message: 'old', time: 'T0' },
        },
      },
    };
    // The check read the trigger before the queue recorded Expired: its entry still says Queued.
    const stale = {
      commitHash: 'c1',
      changed: 'T0',
      lastJob: { name: 'job-1', commit: 'c1', phase: 'Queued' as const },
    };
    const next = mergeStatus({
      fresh,
      names: ['src'],
      results: [{ source: 'src', ok: true, entry: stale }],
      now: 'T2',
      generation: 1,
      ready,
      lastRun: 'T2',
    });
    t.same(next.checkedSources?.src, {
      commitHash: 'c1',
      changed: 'T0',
      lastJob: { name: 'job-1', commit: 'c1', phase: 'Expired' as const },
    });
    t.equal(next.lastRun, 'T2');
  },
);

t.test('a check that created a Job writes its entry', async (t) => {
  const entry = { commitHash: 'c2', changed: 'T2', lastJob: { name: 'job-2', commit: 'c2', phase: 'Queued' as const } };
  const next = mergeStatus({
    fresh: { state: 'Idle', lastRun: 'T1', checkedSources: { src: { commitHash: 'c1' }, gone: { commitHash: 'x' } } },
    names: ['src'],
    results: [{ source: 'src', ok: true, entry, jobs: [{ runKey: 'c2', name: 'job-2' }] }],
    now: 'T2',
    generation: 1,
    ready,
    lastRun: 'T2',
  });
  t.same(next.checkedSources, { src: entry }, 'the new entry; sources no longer listed are dropped');
});

t.test('Ready after a check: the first failure names the reason, every failure is in the message', async (t) => {
  const entry = { commitHash: 'c1' } as never;
  t.same(checkReadiness([{ source: 'a', ok: true, entry }]), { reason: 'Checked', message: '1 source(s) checked' });
  const refused = checkReadiness([
    { source: 'a', ok: true, entry },
    { source: 'app', ok: false, reason: 'SignatureRefused', message: 'commit abc refused (Unsigned): no signature' },
    { source: 'b', ok: false, reason: 'Transport', message: 'connection refused' },
  ]);
  t.equal(refused.reason, 'SignatureRefused');
  t.equal(refused.message, 'app: commit abc refused (Unsigned): no signature; b: connection refused');
  t.equal(checkReadiness([{ source: 'b', ok: false, reason: 'Transport', message: 'x' }]).reason, 'CheckFailed');
  t.equal(
    checkReadiness([{ source: 'b', ok: false, reason: 'SourceNotFound', message: 'x' }]).reason,
    'SourceNotFound',
  );
});
