// MemoryEventBus, the bus of one server process, runs the EventBus conformance suite. It
// delivers inside publish(), so there is nothing to wait for.

import { MemoryEventBus } from '../../src/events/bus.ts';
import { eventBusConformance } from './event-bus-conformance.ts';

eventBusConformance('memory', {
  open: async (limits) => new MemoryEventBus({ replay: limits }),
  settle: async () => {},
});
