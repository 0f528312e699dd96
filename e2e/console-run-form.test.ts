import { jobDtoSchema } from '@edgestelle/protocol';
import { describe, expect, it } from 'vitest';
import { formField, login, screenshot, submitRunForm, waitForPanes } from './harness/console-page.ts';
import { ADMIN } from './harness/stack.ts';
import { ConsoleSuite } from './harness/console-suite.ts';

/**
 * The Run form's working directory, arguments and PTY fields, and its default timeout (the
 * CLI's), in real Chromium against a real master and agent.
 */

const suite = new ConsoleSuite(['edge-1']);

describe('the Run form', () => {
  it('runs with a working directory, literal arguments and a PTY, under the 10-minute default timeout', async () => {
    await login(suite.page, suite.stack.url, ADMIN);
    await suite.page.goto(`${suite.stack.url}/run`);
    await formField(suite.page, 'run-command').fill(`printf '[%s]' "$@"; echo; pwd; test -t 1 && echo on-a-tty`);
    await suite.page.getByTestId('target-all').click();
    await formField(suite.page, 'run-cwd').fill('relative/dir');
    await suite.page.getByText('The working directory must be an absolute path').waitFor();
    await formField(suite.page, 'run-cwd').fill('/tmp');
    await formField(suite.page, 'run-args').fill('two words\n$HOME');
    await suite.page.getByTestId('run-pty').click();
    await screenshot(suite.page, '40-run-form-spec-fields');

    const jobId = (await submitRunForm(suite.page)).split('/').at(-1) ?? '';
    const [pane] = await waitForPanes(
      suite.page,
      (all) => all.length === 1 && (all[0]?.text.includes('on-a-tty') ?? false),
    );
    expect(pane?.text).toContain('[two words][$HOME]');
    expect(pane?.text).toContain('/tmp');

    const job = jobDtoSchema.parse(
      await (await suite.page.request.get(`${suite.stack.url}/api/v1/jobs/${jobId}`)).json(),
    );
    expect(job.spec).toMatchObject({ cwd: '/tmp', args: ['two words', '$HOME'], pty: true, timeoutMs: 600_000 });
  }, 90_000);
});
