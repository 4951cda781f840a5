// Settings: the notification channels slipway.yml defines (changed there, not here): where each
// sends, what it listens to, and how its recent notifications went.

import { useQuery } from '@tanstack/react-query';
import { useSession } from '../../session.tsx';
import { Ago, ErrorNote, Loading } from '../../ui.tsx';
import { Section } from './section.tsx';

export function Channels() {
  const { client } = useSession();
  const channels = useQuery({ queryKey: ['notification-channels'], queryFn: () => client.notificationChannels() });

  return (
    <Section id="channels" title="Notification channels" intro="Defined in slipway.yml under notifications.channels; where each sends is shown without its secrets.">
      <ErrorNote error={channels.error} />
      {!channels.data ? (
        !channels.error && <Loading what="channels" />
      ) : channels.data.length === 0 ? (
        <p className="muted">No channels: notifications go nowhere. Add one to slipway.yml (Slack, a signed webhook or e-mail).</p>
      ) : (
        <div className="table-scroll">
          <table className="settings-table" data-testid="channels">
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Sends</th>
                <th scope="col">Listens to</th>
                <th scope="col">Recently</th>
              </tr>
            </thead>
            <tbody>
              {channels.data.map((channel) => (
                <tr key={channel.name}>
                  <th scope="row">
                    {channel.name} <span className="badge">{channel.type}</span>
                  </th>
                  <td data-label="Sends">{channel.target}</td>
                  <td data-label="Listens to">
                    {channel.events.join(', ')}
                    {channel.services && <div className="muted small">services: {channel.services.join(', ')}</div>}
                    {channel.environments && <div className="muted small">environments: {channel.environments.join(', ')}</div>}
                  </td>
                  <td data-label="Recently">
                    {channel.recent.sent} sent, {channel.recent.pending} to retry, {channel.recent.failed} failed
                    {channel.lastSentAt && (
                      <div className="muted small">
                        last sent <Ago at={channel.lastSentAt} />
                      </div>
                    )}
                    {channel.lastError && <div className="error small">{channel.lastError}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
