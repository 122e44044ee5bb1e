import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { spawnServer, type ServerProcess } from './server-process.ts';

/** One alert of an Alertmanager webhook notification. */
export interface NotifiedAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A real Alertmanager (Debian's `prometheus-alertmanager`) notifying a webhook in the test. */
export interface Alertmanager {
  /** `127.0.0.1:port`, for Prometheus's `alerting` section. */
  readonly address: string;
  readonly process: ServerProcess;
  /** Every alert the webhook received so far, in order. */
  notified(): NotifiedAlert[];
  /** Polls until an alert matching `predicate` reached the webhook (bounded) and resolves with it. */
  waitForAlert(what: string, predicate: (alert: NotifiedAlert) => boolean, timeoutMs?: number): Promise<NotifiedAlert>;
  stop(): Promise<void>;
}

/**
 * Starts a webhook receiver and an Alertmanager routing every alert to it at
 * once (group_wait 0 s, group_interval 1 s) with resolved notifications on;
 * clustering is off so no fixed port is bound.
 */
export async function startAlertmanager(): Promise<Alertmanager> {
  const alerts: NotifiedAlert[] = [];
  const webhook: Server = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      alerts.push(...(JSON.parse(body) as { alerts: NotifiedAlert[] }).alerts);
      response.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const webhookUrl = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/`;

  const dir = await mkdtemp(join(tmpdir(), 'conductor-health-alertmanager-'));
  const config = {
    route: { receiver: 'test', group_by: ['alertname', 'platform'], group_wait: '0s', group_interval: '1s', repeat_interval: '1h' },
    receivers: [{ name: 'test', webhook_configs: [{ url: webhookUrl, send_resolved: true }] }],
  };
  await writeFile(join(dir, 'alertmanager.yml'), JSON.stringify(config));
  const port = await freePort();
  const process = await spawnServer('alertmanager', 'prometheus-alertmanager', [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=',
    '--log.level=warn',
  ]);
  const stop = async (): Promise<void> => {
    await process.stop();
    webhook.closeAllConnections();
    await new Promise((resolve) => webhook.close(resolve));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await process.waitFor('readiness', async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    address: `127.0.0.1:${port}`,
    process,
    notified: () => [...alerts],
    waitForAlert: (what, predicate, timeoutMs = 90_000) => process.waitFor(what, async () => alerts.find(predicate), timeoutMs),
    stop,
  };
}
