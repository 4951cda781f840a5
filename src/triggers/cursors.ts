/** Durable small facts the triggers remember across restarts (a schedule's last tick, a polled branch's last head). */
export interface CursorStore {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
}
