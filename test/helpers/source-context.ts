// A SourceContext for a dynamic source under test: its own environment, a logger whose
// records are kept (and written nowhere), and a count of the refreshes the source asked for.
import { openSync } from 'node:fs';
import { Logger, type LogRecord } from '../../src/log.js';
import type { DynamicRequest, DynamicResult, DynamicSource, SourceContext } from '../../src/config/dynamic/source.js';

export interface TestContext extends SourceContext {
  records: LogRecord[];
  refreshes: number;
  /** Every logged line, for checks that no secret appears. */
  logText(): string;
}

export function testContext(env: NodeJS.ProcessEnv = {}): TestContext {
  const logger = new Logger('trace', openSync('/dev/null', 'w'));
  const ctx: TestContext = {
    env,
    logger,
    records: [],
    refreshes: 0,
    refresh: () => void ctx.refreshes++,
    logText: () => ctx.records.map((r) => `${r.message} ${JSON.stringify(r.fields)}`).join('\n'),
  };
  logger.addSink((r) => ctx.records.push(r));
  return ctx;
}

export function req(name: string, config: Record<string, string>): DynamicRequest {
  return { name, config };
}

/** One read with a fresh signal. */
export function readAll(source: DynamicSource, requests: DynamicRequest[]): Promise<DynamicResult[]> {
  return source.read(requests, new AbortController().signal);
}

export function value(result: DynamicResult): string {
  if (!result.ok) throw new Error(`expected a value, got ${result.failure}: ${result.message}`);
  return result.value;
}
