// retryStorageRace (src/docker/api.ts): a request Podman failed while another client removed an
// image is made again; any other failure, and a race that does not end, reach the caller.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryStorageRace } from '../../src/docker/api.ts';

/** An error as dockerode raises it for an engine's answer. */
function engineError(statusCode: number, message: string): Error {
  return Object.assign(new Error(`(HTTP code ${statusCode}) server error - ${message}`), { statusCode });
}

describe('retryStorageRace', () => {
  it('makes a request again when the engine lost track of an image or a layer in a race', async () => {
    const failures = [engineError(500, 'reading image "75f0": image not known'), engineError(500, 'layer not known')];
    let calls = 0;
    const answer = await retryStorageRace(async () => {
      calls++;
      const failure = failures.shift();
      if (failure) throw failure;
      return 'created';
    });
    assert.equal(answer, 'created');
    assert.equal(calls, 3);
  });

  it('passes any other failure on at once: a missing image, a conflict, a 500 of another kind', async () => {
    for (const failure of [engineError(404, 'no such image'), engineError(409, 'name in use'), engineError(500, 'no space left on device'), new Error('socket hang up')]) {
      let calls = 0;
      await assert.rejects(
        retryStorageRace(async () => {
          calls++;
          throw failure;
        }),
        failure,
      );
      assert.equal(calls, 1, failure.message);
    }
  });

  it('gives up after its attempts, with the last failure', async () => {
    let calls = 0;
    await assert.rejects(
      retryStorageRace(async () => {
        calls++;
        throw engineError(500, `image not known (${calls})`);
      }, 2),
      /image not known \(2\)/,
    );
    assert.equal(calls, 2);
  });
});
