// One proxy, two owners of routes: deployed environments (the container-host deployer) and
// pull requests' previews. declare() takes the whole set of routes, so each owner gets a view
// that declares its own group's routes and keeps the others'; declarations go one at a time.
// Nothing reaches the proxy until every group has declared once: at start-up the proxy still
// serves what the previous process left, and a first declaration of one group alone would take
// the other's routes, and their backends, away.

import type { Backend, RouteKey, Router, RouteSpec } from './router.ts';

export type RouteGroup = 'environments' | 'previews';

export class SharedRouter {
  private readonly groups = new Map<RouteGroup, RouteSpec[]>();
  private declaring: Promise<void> = Promise.resolve();

  constructor(
    private readonly router: Router,
    private readonly owners: readonly RouteGroup[],
  ) {}

  /** The Router an owner uses: declare() replaces only `group`'s routes. */
  view(group: RouteGroup): Router {
    const { router } = this;
    return {
      description: router.description,
      start: () => router.start(),
      declare: (routes) => this.declare(group, routes),
      address: (key: RouteKey) => router.address(key),
      add: (key: RouteKey, backend: Backend) => router.add(key, backend),
      serve: (key, ids, fallback) => router.serve(key, ids, fallback),
      backends: (key) => router.backends(key),
      remove: (key, id, drainMs, signal) => router.remove(key, id, drainMs, signal),
      stop: () => router.stop(),
    };
  }

  private declare(group: RouteGroup, routes: RouteSpec[]): Promise<void> {
    const next = this.declaring.then(async () => {
      const before = this.groups.get(group);
      this.groups.set(group, routes);
      if (!this.owners.every((owner) => this.groups.has(owner))) return;
      try {
        // Always in the owners' order: the same routes make the same proxy configuration.
        await this.router.declare(this.owners.flatMap((owner) => this.groups.get(owner) ?? []));
      } catch (error) {
        // A refused declaration changes nothing, here as in the proxy.
        if (before) this.groups.set(group, before);
        else this.groups.delete(group);
        throw error;
      }
    });
    this.declaring = next.catch(() => {});
    return next;
  }
}
