import type { Plugin } from './app.js';
import { signalingPlugin } from './signaling/signaling-plugin.js';
import { turnPlugin } from './turn/turn-plugin.js';

/**
 * The capabilities `callgate serve` installs on top of the token service, in order. Each is a
 * plugin so tests can run the token service alone.
 */
export function defaultPlugins(): Plugin[] {
  return [turnPlugin(), signalingPlugin()];
}
