/** Slipway's version and the port `slipway up` listens on unless told otherwise. */
export const VERSION = '0.1.0';
export const DEFAULT_PORT = 7420;
