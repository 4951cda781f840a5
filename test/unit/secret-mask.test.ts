// SecretMasker on secrets of several shapes: each form a step may print a secret in is masked
// inside surrounding text, base64 inside a longer stream at each of the three alignments (made
// with Buffer, not with the masker's own arithmetic), and ordinary text is left alone.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MASK, SecretMasker } from '../../src/secrets/mask.ts';

const PUNCTUATION = 'p@ss/w0rd+x=y&z';
const SPACES = 'correct horse battery staple';
const NON_ASCII = 'päss-wört-ü';
const PEM = '-----BEGIN KEY-----\nMIIEowIBAAKCAQEA7x+Yq/9zZ\nQk3vN0b2=\n-----END KEY-----';
const SHORT = 'q7&';
const SHAPES = [PUNCTUATION, SPACES, NON_ASCII, PEM];

function masker(...secrets: string[]): SecretMasker {
  const made = SecretMasker.of(secrets);
  assert.ok(made);
  return made;
}

const urlSafe = (base64: string) => base64.replace(/\+/g, '-').replace(/\//g, '_');
const lowerHex = (encoded: string) => encoded.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());

/** The ways a program prints a value, each made the way such a program makes it. */
function printed(secret: string): Record<string, string> {
  const base64 = Buffer.from(secret).toString('base64');
  const uri = encodeURIComponent(secret);
  const json = JSON.stringify(secret).slice(1, -1);
  const escapedJson = json.replace(/\//g, '\\/').replace(/[^\x00-\x7f]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return {
    base64,
    'base64 without padding': base64.replace(/=+$/, ''),
    base64url: Buffer.from(secret).toString('base64url'),
    'base64url with padding': urlSafe(base64),
    encodeURIComponent: uri,
    'form encoding': uri.replace(/%20/g, '+'),
    'URLSearchParams': new URLSearchParams({ v: secret }).toString().slice(2),
    'lower-case percent-escapes': lowerHex(uri),
    'lower-case form encoding': lowerHex(uri.replace(/%20/g, '+')),
    JSON: json,
    'JSON with \\/ and \\uXXXX': escapedJson,
  };
}

describe('SecretMasker', () => {
  it('is null without secrets, so a log without them does no masking work', () => {
    assert.equal(SecretMasker.of([]), null);
    assert.equal(SecretMasker.of(['']), null);
  });

  for (const secret of SHAPES.filter((shape) => !shape.includes('\n'))) {
    it(`masks ${JSON.stringify(secret)} as it is, the longest match first`, () => {
      const m = masker(secret, `${secret}-admin`);
      assert.equal(m.mask(`a=${secret} b=${secret}-admin c=${secret}.`), `a=${MASK} b=${MASK} c=${MASK}.`);
    });
  }

  it('masks each line of a multi-line secret, and the whole of it encoded on one line', () => {
    const m = masker(PEM);
    for (const line of PEM.split('\n')) assert.equal(m.mask(`  ${line}`), `  ${MASK}`);
    assert.equal(m.mask(`key: ${Buffer.from(PEM).toString('base64')} end`), `key: ${MASK} end`);
  });

  for (const secret of SHAPES) {
    for (const [form, text] of Object.entries(printed(secret))) {
      if (text === secret) continue;
      it(`masks ${JSON.stringify(secret.slice(0, 20))} printed as ${form}`, () => {
        assert.equal(masker(secret).mask(`before "${text}" after`), `before "${MASK}" after`);
      });
    }

    for (const offset of [0, 1, 2]) {
      for (const alphabet of ['base64', 'base64url'] as const) {
        it(`masks ${JSON.stringify(secret.slice(0, 20))} inside a ${alphabet} stream at byte offset ${offset} mod 3`, () => {
          const filler = `{"user":"ci","n":${'7'.repeat(offset)},"token":"`;
          const bytes = Buffer.from(`${filler}${secret}","more":"trailing data"}`);
          const encoded = bytes.toString(alphabet);
          const secretAt = Buffer.byteLength(filler);
          assert.equal(secretAt % 3, offset);
          // The characters made of the secret's bits alone are masked. Of the one it shares with the filler
          // or the trailer at each end, some are too (when the shared bits happen to be those of the
          // secret's own base64); nothing else is touched.
          const start = Math.ceil((secretAt * 8) / 6);
          const end = Math.floor(((secretAt + Buffer.byteLength(secret)) * 8) / 6);
          const masked = masker(secret).mask(encoded);
          const kept = masked.split(MASK);
          assert.equal(kept.length, 2, masked);
          const [before, after] = kept as [string, string];
          assert.ok(encoded.startsWith(before) && before.length <= start && before.length >= start - 1, masked);
          assert.ok(encoded.endsWith(after) && encoded.length - after.length >= end && encoded.length - after.length <= end + 1, masked);
        });
      }
    }
  }

  it('masks the base64 of a secret followed by a newline (echo "$S" | base64), all but the characters the newline shares', () => {
    const encoded = Buffer.from(`${PUNCTUATION}\n`).toString('base64');
    const masked = masker(PUNCTUATION).mask(encoded);
    assert.ok(masked.startsWith(MASK) && masked.length <= MASK.length + 4, masked);
  });

  it('masks a secret shorter than 4 characters whole only, not encoded', () => {
    const m = masker(SHORT);
    assert.equal(m.mask(`pin=${SHORT};`), `pin=${MASK};`);
    const base64 = Buffer.from(SHORT).toString('base64');
    assert.equal(m.mask(`pin=${base64}`), `pin=${base64}`);
    assert.equal(m.mask(`pin=${encodeURIComponent(SHORT)}x`), `pin=${encodeURIComponent(SHORT)}x`);
    assert.equal(m.maskLine(SHORT.slice(0, 2)), SHORT.slice(0, 2));
    assert.equal(m.split(`a ${SHORT.slice(0, 1)}`, `${SHORT.slice(1)} b`), null);
  });

  it('leaves ordinary text alone', () => {
    const m = masker(...SHAPES, SHORT);
    for (const text of ['', 'npm test', '  PASS  test/unit/foo.test.ts (3.2 s)', 'https://example.com/?a=b&c=d', '{"ok":true}', 'dGhlIHF1aWNrIGJyb3duIGZveA==']) {
      assert.equal(m.maskLine(text), text);
    }
  });

  it('masks a line that is only a fragment of at least a third of a secret and 4 characters, not a shorter one', () => {
    const m = masker(PUNCTUATION, SPACES);
    assert.equal(m.maskLine(`  ${PUNCTUATION.slice(0, 8)}  `), MASK);
    assert.equal(m.maskLine(PUNCTUATION.slice(-8)), MASK);
    assert.equal(m.maskLine(SPACES.slice(0, 15)), MASK);
    assert.equal(m.maskLine(PUNCTUATION.slice(0, 5)), MASK, 'a third');
    assert.equal(m.maskLine(PUNCTUATION.slice(0, 4)), PUNCTUATION.slice(0, 4), 'less than a third');
    assert.equal(m.maskLine(PUNCTUATION.slice(0, 3)), PUNCTUATION.slice(0, 3), 'a 3-character fragment');
    assert.equal(m.maskLine(`echo ${PUNCTUATION.slice(0, 8)}`), `echo ${PUNCTUATION.slice(0, 8)}`, 'only a whole line');
  });

  it('finds a secret split across two lines, its parts of any length', () => {
    const m = masker(PUNCTUATION, NON_ASCII);
    assert.deepEqual(m.split('token: p@ss/w', '0rd+x=y&z done'), ['token: '.length, '0rd+x=y&z'.length]);
    assert.deepEqual(m.split('p', '@ss/w0rd+x=y&z'), [0, PUNCTUATION.length - 1]);
    assert.deepEqual(m.split(`x ${NON_ASCII} päss`, '-wört-ü'), [`x ${NON_ASCII} `.length, '-wört-ü'.length]);
    const base64 = Buffer.from(PUNCTUATION).toString('base64');
    assert.deepEqual(m.split(base64.slice(0, 9), base64.slice(9)), [0, base64.length - 9]);
    assert.equal(m.split('p@ss/w', 'nothing'), null);
    assert.equal(m.split(PUNCTUATION, '0rd+x=y&z'), null, 'a whole secret before it is no split');
  });

  it('masks the first part of a secret at the end of a line cut at the limit, when at least 4 characters', () => {
    const m = masker(PUNCTUATION);
    assert.equal(m.maskCut(`xxxx ${PUNCTUATION} p@ss/w0`), `xxxx ${MASK} ${MASK}`);
    assert.equal(m.maskCut(`xxxx ${encodeURIComponent(PUNCTUATION).slice(0, 9)}`), `xxxx ${MASK}`);
    assert.equal(m.maskCut('xxxx p@s'), 'xxxx p@s');
  });
});
