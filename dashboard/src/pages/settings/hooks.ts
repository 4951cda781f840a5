// The settings forms' shared machinery: refreshing what a change touched, a form's busy, error and
// done states, and the environments and services a form offers.

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useSession } from '../../session.tsx';

/** Marks queries stale after a change: the audit log always, since every change is recorded. */
export function useRefresh() {
  const queries = useQueryClient();
  return (...keys: Array<readonly unknown[]>) => Promise.all([...keys, ['audit']].map((queryKey) => queries.invalidateQueries({ queryKey })));
}

/** A form that reports its own error and a short note of what it did. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  async function run(action: () => Promise<string>) {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      setDone(await action());
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, done, run };
}

/** The environments and services a form may name, as the fleet knows them. */
export function useTargets() {
  const { client } = useSession();
  const fleet = useQuery({ queryKey: ['fleet'], queryFn: () => client.fleet() });
  return { environments: fleet.data?.environments ?? [], services: fleet.data?.services.map((service) => service.name) ?? [] };
}
