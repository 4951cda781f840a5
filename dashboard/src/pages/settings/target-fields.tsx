// The environment and service a settings form applies to (a lock, a secret): every environment,
// and one service or all of them.

import { useTargets } from './hooks.ts';

export function TargetFields(props: { environment: string; onEnvironment: (name: string) => void; service: string; onService: (name: string) => void }) {
  const { environments, services } = useTargets();
  return (
    <>
      <label>
        Environment
        <select value={props.environment} onChange={(event) => props.onEnvironment(event.target.value)} required>
          {environments.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Service
        <select value={props.service} onChange={(event) => props.onService(event.target.value)}>
          <option value="">every service</option>
          {services.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}
