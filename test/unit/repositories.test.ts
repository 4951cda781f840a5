// Which services a repository is, whichever way its URL is spelled, and which configured forge
// (and API) serves a service's repository.

import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import type { Config, ForgeSettings } from '../../src/config/model.ts';
import { repositoryKey } from '../../src/forges/repository-url.ts';
import { apiUrlOf, forgeOf, servicesOf } from '../../src/triggers/repositories.ts';
import { parsedConfig } from '../support/config.ts';

function config(text: string): Config {
  return parsedConfig(`pipeline:\n  - stage: test\n    run: make test\n${text}`, '/etc/slipway/slipway.yml');
}

const settings = (fields: Partial<ForgeSettings> = {}): ForgeSettings => ({ repositories: {}, ...fields });

describe('repositoryKey', () => {
  it('reduces every spelling of a hosted repository to host/owner/name', () => {
    const spellings = [
      'https://github.com/Acme/Shop.git',
      'https://github.com/acme/shop',
      'https://github.com/acme/shop/',
      'https://github.com/acme/shop.git/',
      'http://GitHub.com/ACME/SHOP',
      'https://user:token@github.com/acme/shop.git',
      'ssh://git@github.com/acme/shop.git',
      'git://github.com/acme/shop.git',
      'git@github.com:Acme/Shop.git',
      'github.com:acme/shop',
      '  https://github.com/acme/shop  ',
    ];
    for (const spelling of spellings) assert.equal(repositoryKey(spelling), 'github.com/acme/shop', spelling);
  });

  it('leaves the port out, so the ssh and https addresses of one server agree', () => {
    assert.equal(repositoryKey('ssh://git@git.example.com:2222/team/app.git'), 'git.example.com/team/app');
    assert.equal(repositoryKey('https://git.example.com:8443/team/app'), 'git.example.com/team/app');
  });

  it('keeps every level of a nested namespace', () => {
    assert.equal(repositoryKey('https://gitlab.com/Group/Sub/Project.git'), 'gitlab.com/group/sub/project');
    assert.equal(repositoryKey('git@gitlab.com:group/sub/project.git'), 'gitlab.com/group/sub/project');
  });

  it('names a local repository by its absolute path', () => {
    assert.equal(repositoryKey('file:///srv/git/Shop.git'), '/srv/git/shop');
    assert.equal(repositoryKey('file:///srv/git/my%20shop.git/'), '/srv/git/my shop');
    assert.equal(repositoryKey('/srv/git/shop.git/'), '/srv/git/shop');
    assert.equal(repositoryKey('/srv/git/shop'), repositoryKey('file:///srv/git/shop.git'));
  });

  it('resolves a relative path against the working directory', () => {
    const expected = resolve('repos/shop').toLowerCase();
    assert.equal(repositoryKey('./repos/shop.git'), expected);
    assert.equal(repositoryKey('repos/shop'), expected);
    assert.equal(repositoryKey('../shop'), resolve('../shop').toLowerCase());
  });

  it('tells different repositories apart', () => {
    assert.notEqual(repositoryKey('https://github.com/acme/shop'), repositoryKey('https://github.com/acme/shop-api'));
    assert.notEqual(repositoryKey('https://github.com/acme/shop'), repositoryKey('https://gitlab.com/acme/shop'));
    assert.notEqual(repositoryKey('https://github.com/acme/shop'), repositoryKey('https://github.com/other/shop'));
  });
});

describe('servicesOf', () => {
  const c = config(`
services:
  api:
    repo: https://github.com/acme/shop.git
    path: services/api
  web:
    repo: git@github.com:Acme/Shop.git
    path: services/web
  worker:
    repo: ssh://git@github.com/ACME/shop
  other:
    repo: https://github.com/acme/other
  local:
    repo: ../git/tools.git
  mirror:
    repo: file:///srv/git/mirror.git
`);

  it('finds every service of the repository, in config order, whatever the spelling', () => {
    const github = { fullName: 'Acme/Shop', urls: ['https://github.com/Acme/Shop.git', 'git@github.com:Acme/Shop.git', 'https://github.com/Acme/Shop'] };
    assert.deepEqual(servicesOf(c, github), ['api', 'web', 'worker']);
    // Any one of the URLs is enough.
    assert.deepEqual(servicesOf(c, { fullName: 'Acme/Shop', urls: ['git://github.com/acme/shop.git'] }), ['api', 'web', 'worker']);
  });

  it('finds local repositories by path or file URL (relative paths are relative to the config file)', () => {
    assert.deepEqual(servicesOf(c, { fullName: 'tools', urls: ['/etc/git/tools'] }), ['local']);
    assert.deepEqual(servicesOf(c, { fullName: 'tools', urls: ['file:///etc/git/tools.git'] }), ['local']);
    assert.deepEqual(servicesOf(c, { fullName: 'mirror', urls: ['/srv/git/mirror.git/'] }), ['mirror']);
  });

  it('finds nothing for a repository no service is built from', () => {
    assert.deepEqual(servicesOf(c, { fullName: 'acme/unknown', urls: ['https://github.com/acme/unknown.git'] }), []);
    assert.deepEqual(servicesOf(c, { fullName: 'acme/shop', urls: ['https://gitlab.com/acme/shop.git'] }), []);
    assert.deepEqual(servicesOf(c, { fullName: 'acme/shop', urls: [] }), []);
  });

  it('skips a URL it cannot read instead of failing', () => {
    assert.deepEqual(servicesOf(c, { fullName: 'acme/other', urls: ['https://', 'https://github.com/acme/other.git'] }), ['other']);
  });
});

describe('forgeOf', () => {
  it('places a repository on github.com when github is configured without a URL', () => {
    const c = config(`
forges:
  github: {}
services:
  shop:
    repo: https://github.com/acme/shop.git
`);
    for (const url of ['https://github.com/Acme/Shop.git', 'git@github.com:Acme/Shop.git', 'ssh://git@github.com/Acme/Shop', 'https://github.com/Acme/Shop/']) {
      const found = forgeOf(c, url);
      assert.equal(found?.forge, 'github', url);
      assert.equal(found?.fullName, 'Acme/Shop', url);
      assert.equal(found?.settings, c.forges.github);
    }
    assert.equal(forgeOf(c, 'https://gitlab.com/acme/shop'), null);
    assert.equal(forgeOf(c, '/srv/git/shop.git'), null);
    assert.equal(forgeOf(c, 'https://github.com.evil.example/acme/shop'), null);
  });

  it('answers null for a forge that is not configured', () => {
    const c = config(`
services:
  shop:
    repo: https://github.com/acme/shop.git
`);
    assert.equal(forgeOf(c, 'https://github.com/acme/shop.git'), null);
  });

  it('places a repository on GitHub Enterprise by its URL, and derives its API', () => {
    const c = config(`
forges:
  github:
    url: https://ghe.example.com
services:
  shop:
    repo: git@ghe.example.com:Acme/Shop.git
`);
    const found = forgeOf(c, 'git@ghe.example.com:Acme/Shop.git');
    assert.equal(found?.forge, 'github');
    assert.equal(found?.fullName, 'Acme/Shop');
    assert.equal(apiUrlOf('github', found!.settings), 'https://ghe.example.com/api/v3');
    assert.equal(forgeOf(c, 'https://github.com/acme/shop'), null);
  });

  it('keeps a GitLab subgroup path whole, with its case', () => {
    const c = config(`
forges:
  gitlab: {}
services:
  shop:
    repo: https://gitlab.com/Group/Sub/Project.git
`);
    for (const url of ['https://gitlab.com/Group/Sub/Project.git', 'git@gitlab.com:Group/Sub/Project.git', 'https://gitlab.com/Group/Sub/Project/']) {
      const found = forgeOf(c, url);
      assert.equal(found?.forge, 'gitlab', url);
      assert.equal(found?.fullName, 'Group/Sub/Project', url);
    }
    assert.equal(apiUrlOf('gitlab', c.forges.gitlab!), 'https://gitlab.com/api/v4');
  });

  it('places a repository on a GitLab served under a path', () => {
    const c = config(`
forges:
  gitlab:
    url: https://example.com/gitlab/
services:
  shop:
    repo: https://example.com/gitlab/Group/Sub/Project.git
`);
    const found = forgeOf(c, 'https://example.com/gitlab/Group/Sub/Project.git');
    assert.equal(found?.forge, 'gitlab');
    assert.equal(found?.fullName, 'Group/Sub/Project');
    assert.equal(apiUrlOf('gitlab', found!.settings), 'https://example.com/gitlab/api/v4');
    assert.equal(forgeOf(c, 'https://example.com/gitlabs/group/project.git'), null);
  });

  it('places a repository on Gitea by its URL, port or not', () => {
    const c = config(`
forges:
  gitea:
    url: https://git.example.com:3000/
services:
  app:
    repo: ssh://git@git.example.com:2222/Team/App.git
`);
    for (const url of ['ssh://git@git.example.com:2222/Team/App.git', 'https://git.example.com:3000/Team/App.git', 'git@git.example.com:Team/App']) {
      const found = forgeOf(c, url);
      assert.equal(found?.forge, 'gitea', url);
      assert.equal(found?.fullName, 'Team/App', url);
    }
    assert.equal(apiUrlOf('gitea', c.forges.gitea!), 'https://git.example.com:3000/api/v1');
  });
});

describe('apiUrlOf', () => {
  it('derives the API from the web address', () => {
    assert.equal(apiUrlOf('github', settings()), 'https://api.github.com');
    assert.equal(apiUrlOf('github', settings({ url: 'https://github.com/' })), 'https://api.github.com');
    assert.equal(apiUrlOf('github', settings({ url: 'https://ghe.example.com/' })), 'https://ghe.example.com/api/v3');
    assert.equal(apiUrlOf('gitlab', settings()), 'https://gitlab.com/api/v4');
    assert.equal(apiUrlOf('gitlab', settings({ url: 'https://gitlab.example.com' })), 'https://gitlab.example.com/api/v4');
    assert.equal(apiUrlOf('gitea', settings({ url: 'https://codeberg.org' })), 'https://codeberg.org/api/v1');
  });

  it('takes an explicit api_url as given, less a trailing slash', () => {
    assert.equal(apiUrlOf('github', settings({ url: 'https://ghe.example.com', api_url: 'https://api.ghe.example.com/' })), 'https://api.ghe.example.com');
    assert.equal(apiUrlOf('gitlab', settings({ api_url: 'https://gitlab.example.com/api/v4' })), 'https://gitlab.example.com/api/v4');
    assert.equal(apiUrlOf('gitea', settings({ api_url: 'https://git.example.com/api/v1/' })), 'https://git.example.com/api/v1');
  });

  it('answers null for Gitea without an address, which has no default', () => {
    assert.equal(apiUrlOf('gitea', settings()), null);
  });
});
