// Settings: every user's API tokens, each revocable (asked first; revoking this browser's signs out).

import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { ApiTokenListing } from '../../../../src/client/api.ts';
import { useSession } from '../../session.tsx';
import { Ago, ConfirmDialog, ErrorNote, Loading } from '../../ui.tsx';
import { useRefresh } from './hooks.ts';
import { Section } from './section.tsx';

export function Tokens() {
  const { client, signOut } = useSession();
  const tokens = useQuery({ queryKey: ['tokens', { all: true }], queryFn: () => client.tokens({ all: true }) });
  const me = useQuery({ queryKey: ['me'], queryFn: () => client.me() });
  const [revoking, setRevoking] = useState<ApiTokenListing | null>(null);
  const refresh = useRefresh();
  const current = me.data?.token.id;
  const sorted = [...(tokens.data ?? [])].sort((a, b) => a.user.localeCompare(b.user) || b.id - a.id);

  return (
    <Section id="tokens" title="API tokens" intro="Every user's tokens: the CLI, scripts, CI and this dashboard's sign-ins. Their values are shown once, when created, and never again.">
      <ErrorNote error={tokens.error} />
      {!tokens.data ? (
        !tokens.error && <Loading what="tokens" />
      ) : tokens.data.length === 0 ? (
        <p className="muted">No tokens.</p>
      ) : (
        <div className="table-scroll">
          <table className="settings-table" data-testid="tokens">
            <thead>
              <tr>
                <th scope="col">Token</th>
                <th scope="col">User</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {sorted.map((token) => (
                <tr key={token.id}>
                  <th scope="row">
                    {token.name} <span className="muted small">#{token.id}</span> {token.id === current && <span className="badge">this browser</span>}
                  </th>
                  <td data-label="User">{token.user}</td>
                  <td data-label="Created">
                    <Ago at={token.createdAt} />
                  </td>
                  <td data-label="Last used">{token.lastUsedAt ? <Ago at={token.lastUsedAt} /> : <span className="muted">never</span>}</td>
                  <td className="row-actions">
                    <button className="small-button danger" aria-label={`Revoke token ${token.name} (#${token.id}) of ${token.user}`} onClick={() => setRevoking(token)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {revoking && (
        <ConfirmDialog
          title={`Revoke “${revoking.name}”`}
          confirm="Revoke token"
          danger
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await client.revokeToken(revoking.id);
            if (revoking.id === current) signOut();
            else await refresh(['tokens']);
          }}
        >
          <p>
            Token #{revoking.id} of <strong>{revoking.user}</strong> stops working at once: whatever uses it is refused from its next request.
          </p>
          {revoking.id === current && (
            <p className="error">This is the token this browser signed in with: revoking it signs you out.</p>
          )}
        </ConfirmDialog>
      )}
    </Section>
  );
}
