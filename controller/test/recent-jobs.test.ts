import t from 'tap';
import { RecentJobs } from '../src/runtime/recent-jobs.js';

t.test('a created Job counts as active until the cache has it or it is old', async (t) => {
  let now = 0;
  const recent = new RecentJobs({ ttlMs: 5000, now: () => now });
  const cache = new Set<string>();
  const inCache = (name: string) => cache.has(name);
  recent.add('uid-1', 'src', 'job-a');
  t.same(recent.unseen('uid-1', 'src', inCache), ['job-a'], 'not in the cache yet: active');
  t.same(recent.unseen('uid-1', 'other', inCache), [], 'per source');
  t.same(recent.unseen('uid-2', 'src', inCache), [], 'per trigger');
  cache.add('job-a');
  t.same(recent.unseen('uid-1', 'src', inCache), [], 'the cache has it: its word counts');
  cache.delete('job-a');
  t.same(recent.unseen('uid-1', 'src', inCache), [], 'and it is forgotten, even once gone from the cache');
  recent.add('uid-1', 'src', 'job-b');
  now += 5001;
  t.same(recent.unseen('uid-1', 'src', inCache), [], 'forgotten after the TTL');
  t.equal(recent.size, 0);
});

t.test('bounded: a few names per trigger and source, old keys pruned', async (t) => {
  let now = 0;
  const recent = new RecentJobs({ ttlMs: 1000, now: () => now });
  for (let i = 0; i < 20; i++) recent.add('uid', 'src', `job-${i}`);
  t.equal(recent.unseen('uid', 'src', () => false).length, 8, 'the last 8');
  t.equal(recent.unseen('uid', 'src', () => false).at(-1), 'job-19');
  recent.add('uid', 'src', 'job-19');
  t.equal(recent.unseen('uid', 'src', () => false).filter((n) => n === 'job-19').length, 1, 'no repeats');
  for (let i = 0; i < 100; i++) recent.add(`uid-${i}`, 'src', 'j');
  now += 2000;
  recent.add('late', 'src', 'j');
  t.equal(recent.size, 1, 'keys past the TTL are pruned in passing');
});
