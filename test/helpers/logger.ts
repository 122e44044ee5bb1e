import type { Logger } from '../../src/common/logger.ts';

/** What a {@link recordingLogger} was told. */
export interface LogEntry {
  level: string;
  obj: Record<string, unknown>;
  msg?: string;
}

/** A logger that keeps every entry with its level and message. */
export function recordingLogger(): Logger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void entries.push({ level, obj: obj as Record<string, unknown>, msg });
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
