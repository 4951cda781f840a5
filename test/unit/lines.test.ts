// LineSplitter: lines across chunks, cut at the limit with a marker, the rest of a cut line
// dropped up to its newline, UTF-8 never split into garbage, and work proportional to the bytes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StepLine } from '../../src/executors/executor.ts';
import { cutMarker, formatBytes, LineSplitter } from '../../src/executors/lines.ts';

/** The lines a splitter with `limit` makes of `chunks`. */
function split(chunks: Array<string | Buffer>, limit?: number): string[] {
  const lines: StepLine[] = [];
  const splitter = new LineSplitter('stdout', (line) => lines.push(line), limit);
  for (const chunk of chunks) splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  splitter.end();
  return lines.map((line) => line.text);
}

describe('LineSplitter', () => {
  it('joins a line split across chunks and keeps empty lines; the last line needs no newline', () => {
    assert.deepEqual(split(['one\ntw', 'o\n\nth', 'ree']), ['one', 'two', '', 'three']);
    assert.deepEqual(split(['a\n']), ['a']);
    assert.deepEqual(split([]), []);
  });

  it('drops the \\r of a \\r\\n ending, also when the two arrive in different chunks', () => {
    assert.deepEqual(split(['one\r\ntwo\r', '\nthree\r']), ['one', 'two', 'three']);
  });

  it('keeps a line of exactly the limit, and cuts a longer one there with a marker', () => {
    assert.deepEqual(split(['abcd\nabcde\n'], 4), ['abcd', `abcd${cutMarker(4)}`]);
    assert.deepEqual(split(['abcd\r\n'], 4), ['abcd'], 'the \\r\\n ending does not count');
  });

  it('drops the rest of a cut line up to its newline, across chunks, and goes on with the next line', () => {
    assert.deepEqual(split(['0123', '4567', '89', '\nnext\n', 'xxxxxxxx'], 4), [`0123${cutMarker(4)}`, 'next', `xxxx${cutMarker(4)}`]);
  });

  it('never splits a UTF-8 character at the cut', () => {
    // "é" is two bytes, "€" three: a limit falling inside one keeps the characters before it.
    assert.deepEqual(split(['aé\n'], 2), [`a${cutMarker(2)}`]);
    assert.deepEqual(split(['€€\n'], 4), [`€${cutMarker(4)}`]);
    assert.deepEqual(split(['€€\n'], 5), [`€${cutMarker(5)}`]);
    assert.deepEqual(split(['€€€\n'], 6), [`€€${cutMarker(6)}`]);
    // The character split across chunks, then cut.
    const euro = Buffer.from('€');
    assert.deepEqual(split([Buffer.from('ab'), euro.subarray(0, 1), euro.subarray(1), 'cd\n'], 4), [`ab${cutMarker(4)}`]);
    for (const limit of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
      const [line] = split(['aé€😀é€😀\n'], limit);
      assert.ok(!line!.includes('\uFFFD'), `limit ${limit}: ${line}`);
    }
  });

  it('decodes a character split across chunks', () => {
    const smile = Buffer.from('😀');
    assert.deepEqual(split([smile.subarray(0, 1), smile.subarray(1, 3), Buffer.concat([smile.subarray(3), Buffer.from('\n')])]), ['😀']);
  });

  it('keeps the stream it was made for', () => {
    const lines: StepLine[] = [];
    const splitter = new LineSplitter('stderr', (line) => lines.push(line));
    splitter.push(Buffer.from('oops\n'));
    assert.deepEqual(lines, [{ stream: 'stderr', text: 'oops' }]);
  });

  it('takes 200 MB without a newline in small chunks, holding no more than the limit', () => {
    const lines: StepLine[] = [];
    const splitter = new LineSplitter('stdout', (line) => lines.push(line), 64 * 1024);
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const heapBefore = process.memoryUsage().heapUsed;
    // Each chunk is pushed whole: quadratic work or a growing buffer would not finish here.
    for (let pushed = 0; pushed < 200 * 1024 * 1024; pushed += chunk.length) splitter.push(chunk);
    splitter.push(Buffer.from('\nafter\n'));
    assert.deepEqual(
      lines.map((line) => line.text),
      ['x'.repeat(64 * 1024) + cutMarker(64 * 1024), 'after'],
    );
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 50 * 1024 * 1024, 'the heap did not grow with the line');
  });
});

describe('formatBytes', () => {
  it('says sizes the way slipway.yml writes them', () => {
    assert.equal(formatBytes(64 * 1024), '64 KiB');
    assert.equal(formatBytes(50 * 1024 * 1024), '50 MiB');
    assert.equal(formatBytes(2 * 1024 ** 3), '2 GiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(100), '100 bytes');
    assert.equal(cutMarker(64 * 1024), '… (line cut at 64 KiB)');
  });
});
