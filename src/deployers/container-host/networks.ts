// Each environment is its own container network. Its services call each other by name through
// the proxy: every container gets `/etc/hosts` entries mapping each service name and alias of
// its environment to the network's gateway, where the proxy listens on each service's port and
// routes by host name (routers/router.ts). So a call between services goes through the same
// switch as a person's request, and a deploy of either side drops none of them. The network is
// isolated: containers of another environment cannot reach its containers directly.

import { engineStatus } from '../../docker/api.ts';
import type { ContainerEngine } from '../../docker/connect.ts';
import { LABEL, part } from './labels.ts';

export interface EnvironmentNetwork {
  name: string;
  gateway: string;
  subnet: string;
}

export class Networks {
  private readonly known = new Map<string, EnvironmentNetwork>();

  constructor(
    private readonly engine: ContainerEngine,
    private readonly owner: string,
  ) {}

  nameOf(environment: string): string {
    return `slipway-${part(this.owner)}-${part(environment)}`;
  }

  /** The environment's network, created on first use. */
  async ensure(environment: string): Promise<EnvironmentNetwork> {
    const cached = this.known.get(environment);
    if (cached) return cached;
    const name = this.nameOf(environment);
    let network = await this.inspect(name);
    if (!network) {
      try {
        await this.engine.docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          // Podman's bridge driver: no traffic between this network and other isolated ones.
          Options: { isolate: 'true' },
          Labels: { [LABEL.owner]: this.owner, [LABEL.environment]: environment },
        });
      } catch (error) {
        // 409: another deploy created it meanwhile.
        if (engineStatus(error) !== 409) throw error;
      }
      network = await this.inspect(name);
      if (!network) throw new Error(`network ${name} was created but cannot be inspected`);
    }
    this.known.set(environment, network);
    return network;
  }

  private async inspect(name: string): Promise<EnvironmentNetwork | null> {
    try {
      const info = (await this.engine.docker.getNetwork(name).inspect()) as { IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> } };
      const config = info.IPAM?.Config?.find((entry) => entry.Subnet && entry.Gateway && !entry.Subnet.includes(':'));
      if (!config) throw new Error(`network ${name} has no IPv4 subnet with a gateway`);
      return { name, gateway: config.Gateway!, subnet: config.Subnet! };
    } catch (error) {
      if (engineStatus(error) === 404) return null;
      throw error;
    }
  }
}
