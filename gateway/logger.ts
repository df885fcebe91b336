// One pino root logger (CONVENTIONS 10); stages take child loggers carrying their context.
// No clinical values or patient names above debug.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(level: string = process.env.GW_LOG_LEVEL ?? 'info', stream?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'rpm-gateway' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['*.password', '*.clientSecret', '*.token', '*.key', 'headers.authorization'], censor: '[redacted]' },
    },
    stream,
  );
}

/** A logger that keeps every line in memory, so tests can assert on what was logged. */
export function createMemoryLogger(level = 'debug'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream: DestinationStream = {
    write(chunk: string) {
      lines.push(JSON.parse(chunk) as Record<string, unknown>);
    },
  };
  return { logger: createLogger(level, stream), lines };
}
