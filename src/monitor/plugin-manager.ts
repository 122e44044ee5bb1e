/** Which of a conductor's plugin-manager platforms the monitor has still to register (`HealthMonitor.attachPluginManager()`). */
import { OptionTypeError } from '../common/errors.ts';
import { describeValue } from '../common/validate.ts';
import type { PluginManager } from '../core/plugin-health.ts';
import type { PlatformRegistry } from './platform-registry.ts';

/**
 * The platforms `manager` lists that `registry` does not yet schedule for
 * it, each once, in its order; a platform another manager or a caller
 * registered is listed, so registering it reports the clash.
 */
export function platformsToAttach(manager: PluginManager, registry: PlatformRegistry): string[] {
  if (typeof manager?.platforms !== 'function' || typeof manager.checkHealth !== 'function') {
    throw new OptionTypeError('EOPTIONTYPE', `conductor-health: attachPluginManager needs an object with platforms() and checkHealth(), got ${describeValue(manager)}`);
  }
  const toAdd = new Set<string>();
  for (const platform of manager.platforms()) {
    const existing = registry.get(platform);
    if (!(existing?.scheduled && existing.manager === manager)) toAdd.add(platform);
  }
  return [...toAdd];
}
