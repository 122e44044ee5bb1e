/** The built-in `tcp` check: a connection opened and closed again. Its options are declared here once; a config file's `tcp` targets take the same fields. */
import { connect } from 'node:net';
import type * as z from 'zod';
import { number, options, parseOptions, text } from '../../common/option-schema.ts';
import type { HealthCheck } from '../check-run.ts';

/** The fields a `tcp` check has wherever it is declared: in code, or as a config file's target. */
export const TCP_CHECK_FIELDS = {
  /** The host to connect to. */
  host: text(),
  /** The port to connect to. */
  port: number({ min: 1, max: 65_535, integer: true }),
};

/** Options of {@link tcpCheck}. */
export const TCP_CHECK_OPTIONS = options(TCP_CHECK_FIELDS);

/** Options of {@link tcpCheck}. */
export type TcpCheckOptions = z.input<typeof TCP_CHECK_OPTIONS>;

/** A check that opens a TCP connection and closes it again. */
export function tcpCheck(options: TcpCheckOptions): HealthCheck {
  const { host, port } = parseOptions(TCP_CHECK_OPTIONS, 'tcpCheck', options);
  return (signal) =>
    new Promise<boolean>((resolve, reject) => {
      const socket = connect({ host, port });
      const onAbort = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        socket.end();
        socket.destroy();
        resolve(true);
      });
      socket.once('error', reject);
      socket.once('close', () => signal.removeEventListener('abort', onAbort));
    });
}
