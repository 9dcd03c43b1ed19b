// Which errors skip a job as Resque's DontPerform: matched by name, whichever copy of the class threw it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DontPerform } from '../../queue/src/index.ts';
import { isDontPerform } from '../../worker-image/src/run-job.ts';

class LocalDontPerform extends Error {
  override name = 'DontPerform';
}
class DontPerformByClassName extends Error {}
Object.defineProperty(DontPerformByClassName, 'name', { value: 'DontPerform' });
const named = (name: string): Error => Object.assign(new Error('x'), { name });

describe('run-job: isDontPerform', () => {
  const cases: [string, unknown, boolean][] = [
    ['the package\'s DontPerform', new DontPerform('already sent'), true],
    ['a class of the job\'s own named DontPerform', new LocalDontPerform(), true],
    ['a class called DontPerform, its name left as Error', new DontPerformByClassName(), true],
    ['an Error whose name is set to DontPerform', named('DontPerform'), true],
    ['a plain Error', new Error('DontPerform'), false],
    ['another named error', named('LockTaken'), false],
    ['Resque\'s full name', named('Resque::Job::DontPerform'), false],
    ['a thrown string', 'DontPerform', false],
    ['a thrown object with that name', { name: 'DontPerform' }, false],
  ];
  for (const [name, thrown, expected] of cases) it(name, () => assert.equal(isDontPerform(thrown), expected));
});
