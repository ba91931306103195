/**
 * tslab sends outputs on a zeromq socket without waiting, and zeromq throws
 * "Socket is busy writing" at a send while another is in flight. Under the
 * quick profile a progress update hit that mid-training and killed the run
 * (and the cell's own error report). Displays now treat a busy socket as
 * "not yet" and retry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSocketBusy, KernelChannel, sendWhenFree } from '../../lib/src/display/kernel';

describe('a busy kernel socket', () => {
  it('is recognised by zeromq\'s message', () => {
    assert.ok(isSocketBusy(new Error('Socket is busy writing; only one send operation may be in progress at any time')));
    assert.ok(!isSocketBusy(new Error('something else')));
  });

  it('sendWhenFree retries until the socket takes the message, yielding to the event loop between tries', async () => {
    let calls = 0;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const channel: KernelChannel = { bundles: true, send: () => ++calls >= 4 };
    assert.equal(await sendWhenFree(channel, { 'text/plain': 'x' }), true);
    clearInterval(timer);
    assert.equal(calls, 4);
    assert.ok(ticks > 0, 'it never yielded, so an in-flight send could never finish');
  });

  it('gives up after its timeout instead of hanging', async () => {
    const channel: KernelChannel = { bundles: true, send: () => false };
    const t0 = Date.now();
    assert.equal(await sendWhenFree(channel, { 'text/plain': 'x' }, {}, 50), false);
    assert.ok(Date.now() - t0 < 1000);
  });
});
