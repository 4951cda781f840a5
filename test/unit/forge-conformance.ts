// The Forge contract (src/forges/forge.ts), checked with real payloads. Every forge adapter runs
// this suite; its test file supplies the deliveries, signed the way that forge signs, and the
// event each one must become.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Forge, ForgeEvent, ForgeOrigin, RejectionReason, RepositoryRef, WebhookHeaders, WebhookResult } from '../../src/forges/forge.ts';
import { remoteKey, repositoryKey } from '../../src/forges/repository-url.ts';

export interface Delivery {
  headers: WebhookHeaders;
  body: Buffer;
}

export interface ConformanceCase {
  /** The delivery, signed (or carrying the token) for `secret`. */
  deliver: (secret: string) => Delivery;
  /** What parseWebhook must answer with the right secret. */
  event: ForgeEvent;
}

/** The cases a fixture set has, by name. */
type CaseName = 'push' | 'branchCreated' | 'branchDeleted' | 'forcedPush' | 'emptyPush' | 'tag' | 'pullRequestOpened' | 'pullRequestUpdated' | 'pullRequestFromFork';

export interface ConformanceFixtures {
  /** The forge's web address the fixtures' repositories are at, as slipway.yml names it; null where there is none (plain git). */
  webUrl: string | null;
  /** The header that carries the signature or token. */
  signatureHeader: string;
  /** False where the forge sends a shared token instead of signing the body (GitLab). */
  signsBody: boolean;
  /** The delivery with its body replaced and signed again for `secret`. */
  resign: (delivery: Delivery, body: Buffer, secret: string) => Delivery;
  push: ConformanceCase;
  branchCreated: ConformanceCase;
  branchDeleted: ConformanceCase;
  /** Null where the forge does not say whether a push was forced. */
  forcedPush: ConformanceCase | null;
  emptyPush: ConformanceCase;
  tag: ConformanceCase;
  /** Null where there are no pull requests (a plain git repository). */
  /** Pull requests within the repository (head and base in it). */
  pullRequestOpened: ConformanceCase | null;
  pullRequestUpdated: ConformanceCase | null;
  /** A pull request whose head is a fork: its head repository is not a name of the repository. */
  pullRequestFromFork: ConformanceCase | null;
  /**
   * Every place the forge's bodies name their repository, each on a real body that has it: the
   * case, the field's dotted path, and a value that names another repository there (or the
   * same one on another host). Empty where a body names its repository once (plain git).
   */
  retargets: Array<{ of: CaseName; field: string; value: unknown }>;
  /**
   * How many URLs a repository has at least: 2 (clone and web) unless the forge knows only the
   * one the repository was pushed to (a plain git repository: 1).
   */
  minimumUrls?: number;
  /** An authentic event Slipway does not act on, and the repository it names. */
  ignored: { deliver: (secret: string) => Delivery; repository: RepositoryRef };
  /** Names a repository but lacks a field its event needs. */
  incomplete: (secret: string) => Delivery;
}

const SECRET = 'conformance-secret';
const WRONG_SECRET = 'conformance-secret-but-wrong';

type EventOf<K extends ForgeEvent['kind']> = Extract<ForgeEvent, { kind: K }>;

function eventOf<K extends ForgeEvent['kind']>(event: ForgeEvent, kind: K): EventOf<K> {
  assert.equal(event.kind, kind);
  return event as EventOf<K>;
}

const isZeroSha = (sha: string) => /^0+$/.test(sha);

export function forgeConformance(name: string, forge: Forge, fixtures: ConformanceFixtures): void {
  describe(`Forge conformance: ${name}`, () => {
    const origin: ForgeOrigin = { webUrl: fixtures.webUrl };

    function parse(delivery: Delivery, secretFor: (repository: RepositoryRef) => string | null = () => SECRET, from: ForgeOrigin = origin): WebhookResult {
      return forge.parseWebhook(delivery.headers, delivery.body, secretFor, from);
    }

    function assertRejected(result: WebhookResult, reason: RejectionReason, what: string): void {
      assert.equal(result.kind, 'rejected', `${what}: ${JSON.stringify(result).slice(0, 300)}`);
      assert.equal(result.reason, reason, `${what}: ${result.message}`);
      assert.ok(result.message.length > 0, `${what}: the rejection says why`);
    }

    /** Each case, and what makes it that case whatever the forge. */
    const cases: Array<{ label: string; fixture: ConformanceCase; meaning: (event: ForgeEvent) => void }> = [
      {
        label: 'a push to a branch',
        fixture: fixtures.push,
        meaning: (event) => {
          const push = eventOf(event, 'push');
          assert.equal(push.created, false);
          assert.equal(push.deleted, false);
          assert.ok(push.commitCount > 0);
        },
      },
      {
        label: 'a branch creation',
        fixture: fixtures.branchCreated,
        meaning: (event) => {
          const push = eventOf(event, 'push');
          assert.equal(push.created, true);
          assert.ok(isZeroSha(push.before));
          assert.equal(push.deleted, false);
        },
      },
      {
        label: 'a branch deletion',
        fixture: fixtures.branchDeleted,
        meaning: (event) => {
          const push = eventOf(event, 'push');
          assert.equal(push.deleted, true);
          assert.ok(isZeroSha(push.after));
          assert.equal(push.created, false);
          assert.equal(push.commitCount, 0);
        },
      },
      ...(fixtures.forcedPush
        ? [
            {
              label: 'a forced push',
              fixture: fixtures.forcedPush,
              meaning: (event: ForgeEvent) => assert.equal(eventOf(event, 'push').forced, true),
            },
          ]
        : []),
      {
        label: 'a push with no commits',
        fixture: fixtures.emptyPush,
        meaning: (event) => {
          const push = eventOf(event, 'push');
          assert.equal(push.commitCount, 0);
          assert.equal(push.deleted, false);
        },
      },
      {
        label: 'a tag push',
        fixture: fixtures.tag,
        meaning: (event) => {
          const tag = eventOf(event, 'tag');
          assert.equal(tag.deleted, false);
          assert.ok(!isZeroSha(tag.sha));
        },
      },
      ...(fixtures.pullRequestOpened
        ? [
            {
              label: 'a pull request opened',
              fixture: fixtures.pullRequestOpened,
              meaning: (event: ForgeEvent) => {
                const pullRequest = eventOf(event, 'pull_request');
                assert.equal(pullRequest.action, 'opened');
                assert.equal(pullRequest.fromFork, false);
              },
            },
          ]
        : []),
      ...(fixtures.pullRequestUpdated
        ? [
            {
              label: 'a pull request updated with new commits',
              fixture: fixtures.pullRequestUpdated,
              meaning: (event: ForgeEvent) => {
                const pullRequest = eventOf(event, 'pull_request');
                assert.equal(pullRequest.action, 'updated');
                assert.equal(pullRequest.fromFork, false);
              },
            },
          ]
        : []),
      ...(fixtures.pullRequestFromFork
        ? [
            {
              label: "a fork's pull request",
              fixture: fixtures.pullRequestFromFork,
              meaning: (event: ForgeEvent) => {
                const pullRequest = eventOf(event, 'pull_request');
                assert.equal(pullRequest.fromFork, true);
                // The head is another repository: a URL of it is no URL of the repository.
                assert.ok(pullRequest.headRepositoryUrl === null || !pullRequest.repository.urls.includes(pullRequest.headRepositoryUrl));
              },
            },
          ]
        : []),
    ];
    const caseNamed = (name: CaseName): ConformanceCase => {
      const fixture = fixtures[name];
      assert.ok(fixture, `the fixtures have a ${name} case`);
      return fixture;
    };

    for (const { label, fixture, meaning } of cases) {
      test(`${label} becomes its event`, () => {
        meaning(fixture.event);
        assert.ok(fixture.event.deliveryId.length > 0);
        assert.ok(fixture.event.sender.length > 0);
        assert.deepEqual(parse(fixture.deliver(SECRET)), { kind: 'event', event: fixture.event });
      });
    }

    test('an authentic event Slipway does not act on is ignored, with a reason', () => {
      const result = parse(fixtures.ignored.deliver(SECRET));
      assert.equal(result.kind, 'ignored', JSON.stringify(result).slice(0, 300));
      assert.deepEqual(result.repository, fixtures.ignored.repository);
      assert.ok(result.deliveryId.length > 0);
      assert.ok(result.reason.length > 0);
    });

    test('secretFor is asked once, about the repository the delivery names, with every URL for it', () => {
      for (const { label, fixture } of cases) {
        const asked: RepositoryRef[] = [];
        parse(fixture.deliver(SECRET), (repository) => {
          asked.push(repository);
          return SECRET;
        });
        assert.deepEqual(asked, [fixture.event.repository], label);
        const { urls } = fixture.event.repository;
        assert.ok(urls.length >= (fixtures.minimumUrls ?? 2), `${label}: clone and web URLs`);
        assert.equal(new Set(urls).size, urls.length, `${label}: no URL twice`);
      }
    });

    test('a wrong secret is bad_signature', () => {
      for (const { label, fixture } of cases) {
        assertRejected(parse(fixture.deliver(WRONG_SECRET)), 'bad_signature', label);
      }
      assertRejected(parse(fixtures.ignored.deliver(WRONG_SECRET)), 'bad_signature', 'an ignored event');
    });

    test('a missing or empty signature header is bad_signature', () => {
      for (const { label, fixture } of cases) {
        const { headers, body } = fixture.deliver(SECRET);
        const { [fixtures.signatureHeader]: _signature, ...unsigned } = headers;
        assertRejected(parse({ headers: unsigned, body }), 'bad_signature', `${label} without the header`);
        assertRejected(parse({ headers: { ...headers, [fixtures.signatureHeader]: '' }, body }), 'bad_signature', `${label}, header empty`);
        assertRejected(parse({ headers: { ...headers, [fixtures.signatureHeader]: [] }, body }), 'bad_signature', `${label}, header []`);
      }
    });

    test('an unknown repository is unknown_repository, decided before the signature is checked', () => {
      const unknown = () => null;
      for (const { label, fixture } of cases) {
        const { headers, body } = fixture.deliver(SECRET);
        const { [fixtures.signatureHeader]: _signature, ...unsigned } = headers;
        assertRejected(parse({ headers, body }, unknown), 'unknown_repository', label);
        assertRejected(parse({ headers: unsigned, body }, unknown), 'unknown_repository', `${label} without a signature`);
        assertRejected(parse(fixture.deliver(WRONG_SECRET), unknown), 'unknown_repository', `${label} with a wrong signature`);
      }
    });

    test('a body that is not JSON, or names no repository, is malformed without asking for a secret', () => {
      const base = fixtures.push.deliver(SECRET);
      for (const text of ['not json {', '', 'null', '[]', '42', '"text"', '{}', '{"repository": 5}', '{"project": null}']) {
        let asked = 0;
        const result = parse(fixtures.resign(base, Buffer.from(text), SECRET), () => {
          asked++;
          return SECRET;
        });
        assertRejected(result, 'malformed', JSON.stringify(text));
        assert.equal(asked, 0, `${JSON.stringify(text)}: no repository to ask about`);
      }
    });

    test('an authentic body lacking a field its event needs is malformed', () => {
      assertRejected(parse(fixtures.incomplete(SECRET)), 'malformed', 'incomplete');
    });

    test(fixtures.signsBody ? 'a body changed by one byte after signing is bad_signature' : 'the token does not cover the body (one changed byte still passes)', () => {
      const { headers, body } = fixtures.push.deliver(SECRET);
      const after = eventOf(fixtures.push.event, 'push').after;
      const text = body.toString('utf8');
      const at = text.indexOf(after) + after.length - 1;
      assert.ok(at > 0, 'the body carries the pushed sha');
      const changed = `${text.slice(0, at)}${text[at] === 'a' ? 'b' : 'a'}${text.slice(at + 1)}`;
      const result = parse({ headers, body: Buffer.from(changed) });
      if (fixtures.signsBody) assertRejected(result, 'bad_signature', 'changed body');
      else assert.equal(result.kind, 'event');
    });

    test('the same delivery always gets the same answer', () => {
      for (const { label, fixture } of cases) {
        const delivery = fixture.deliver(SECRET);
        assert.deepEqual(parse(delivery), parse(delivery), label);
      }
    });

    test('header values given as one-element arrays read like plain values', () => {
      for (const { label, fixture } of cases) {
        const { headers, body } = fixture.deliver(SECRET);
        const asArrays = Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, ([] as string[]).concat(value ?? [])]));
        assert.deepEqual(parse({ headers: asArrays, body }), { kind: 'event', event: fixture.event }, label);
      }
    });

    test("the repository's URLs all name it: its full name, on one host (the forge's, where known)", () => {
      const forgeHost = fixtures.webUrl === null ? null : remoteKey(fixtures.webUrl)!.host;
      for (const { label, fixture } of cases) {
        const { fullName, urls } = fixture.event.repository;
        assert.equal(new Set(urls.map(repositoryKey)).size, 1, `${label}: ${urls.join(', ')} are one repository`);
        if (forgeHost === null) continue;
        for (const url of urls) assert.deepEqual(remoteKey(url), { host: forgeHost, path: fullName.toLowerCase() }, `${label}: ${url}`);
      }
    });

    test('a body that names another repository in any one place is repository_mismatch, naming the field, though signed with the secret', () => {
      if (fixtures.minimumUrls === 1) assert.deepEqual(fixtures.retargets, [], 'a body that names its repository once has nothing else to agree with');
      else assert.ok(fixtures.retargets.length >= 5, 'every place the forge names the repository is listed');
      for (const { of, field, value } of fixtures.retargets) {
        const delivery = caseNamed(of).deliver(SECRET);
        const body = JSON.parse(delivery.body.toString('utf8')) as Record<string, unknown>;
        const keys = field.split('.');
        let target = body;
        for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
        assert.ok(target && keys.at(-1)! in target && target[keys.at(-1)!] !== null, `the real ${of} body has ${field}`);
        assert.notDeepEqual(target[keys.at(-1)!], value, `${field}: a value that differs`);
        target[keys.at(-1)!] = value;
        const retargeted = (secret: string) => fixtures.resign(delivery, Buffer.from(JSON.stringify(body)), secret);
        const result = parse(retargeted(SECRET));
        assertRejected(result, 'repository_mismatch', `${of} with ${field} = ${JSON.stringify(value)}`);
        assert.ok(result.kind === 'rejected' && result.message.includes(field), `the message names ${field}: ${result.kind === 'rejected' ? result.message : ''}`);
        // Checked once the delivery is authentic: an unsigned one is refused as such, an unknown repository first.
        assertRejected(parse(retargeted(WRONG_SECRET)), 'bad_signature', `${field}, wrong secret`);
        assertRejected(parse(retargeted(SECRET), () => null), 'unknown_repository', `${field}, unknown repository`);
      }
    });

    test("the forge's address binds the host: from another host, every delivery is repository_mismatch", () => {
      const elsewhere: ForgeOrigin = { webUrl: 'https://git.elsewhere.example' };
      for (const { label, fixture } of cases) {
        const delivery = fixture.deliver(SECRET);
        const result = parse(delivery, () => SECRET, elsewhere);
        if (fixtures.webUrl === null) assert.deepEqual(result, { kind: 'event', event: fixture.event }, `${label}: plain git has no host to be on`);
        else assertRejected(result, 'repository_mismatch', `${label} from another host`);
        // With no address known, the URLs need only agree with each other.
        assert.deepEqual(parse(delivery, () => SECRET, { webUrl: null }), { kind: 'event', event: fixture.event }, `${label}, no address known`);
      }
    });

    test('never throws, whatever arrives', () => {
      const base = fixtures.push.deliver(SECRET);
      const huge = 'x'.repeat(4 * 1024 * 1024);
      const bodies = [
        '',
        'null',
        '[]',
        '{',
        '\u0000\uffff',
        huge,
        JSON.stringify(huge),
        `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
        '{"repository": {"full_name": {}}, "project": {"path_with_namespace": []}}',
        '{"repository": {"full_name": "a/b"}, "project": {"path_with_namespace": "a/b"}, "ref": 5, "before": null}',
        '{"repository": {"full_name": "a/b"}, "project": {"path_with_namespace": "a/b"}, "__proto__": {"x": 1}, "constructor": 1}',
        // URLs that do not parse, or bad escapes, where the repository's names are checked.
        '{"repository": {"full_name": "a/b", "name": 5, "owner": [], "clone_url": "https://h/%E0%A4%A", "ssh_url": "http://[::1", "url": "https://api.h/repos/%"}, "project": {"path_with_namespace": "a/b", "web_url": "http://[::1", "url": "ssh://"}, "pull_request": {"base": {"repo": "x"}}, "object_attributes": {"target": null}}',
      ];
      const headerSets: WebhookHeaders[] = [
        {},
        Object.fromEntries(Object.keys(base.headers).map((key) => [key, []])),
        Object.fromEntries(Object.keys(base.headers).map((key) => [key, ['', 'x']])),
        Object.fromEntries(Object.keys(base.headers).map((key) => [key, 'x'.repeat(100_000)])),
        { ...base.headers, [fixtures.signatureHeader]: [42, null] as unknown as string[] },
      ];
      const deliveries: Array<{ what: string; delivery: Delivery }> = [
        ...bodies.flatMap((text) => [
          { what: `body ${text.slice(0, 40)}, signed`, delivery: fixtures.resign(base, Buffer.from(text), SECRET) },
          { what: `body ${text.slice(0, 40)}, unsigned`, delivery: { headers: base.headers, body: Buffer.from(text) } },
        ]),
        ...headerSets.map((headers) => ({ what: `headers ${JSON.stringify(headers).slice(0, 80)}`, delivery: { headers, body: base.body } })),
      ];
      for (const { what, delivery } of deliveries) {
        for (const secret of [SECRET, '', null]) {
          let result: WebhookResult | undefined;
          assert.doesNotThrow(() => {
            result = parse(delivery, () => secret);
          }, what);
          assert.doesNotThrow(() => parse(delivery, () => secret, { webUrl: 'not a url' }), `${what}, a bad address`);
          assert.ok(result && ['event', 'ignored', 'rejected'].includes(result.kind), what);
        }
      }
    });
  });
}
