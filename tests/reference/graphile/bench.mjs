// graphile-worker's own throughput on no-op jobs, as the reference for the product's processing rate:
// queues JOBS no-op jobs in one statement, then runs a worker with CONCURRENCY until every one completed, and
// prints `graphile-worker jobs/s=<rate>`. Usage: node bench.mjs <postgres-url> <jobs> <concurrency>
import { Logger, run } from "graphile-worker";
import pg from "pg";

const [url, jobsArg = "3000", concurrencyArg = "8"] = process.argv.slice(2);
const jobs = Number(jobsArg);
const concurrency = Number(concurrencyArg);
const pool = new pg.Pool({ connectionString: url, max: concurrency + 2 });
// Silent: a log line per job would measure the console.
const logger = new Logger(() => () => {});

// Installs graphile-worker's schema, with no work queued yet.
const setup = await run({ pgPool: pool, logger, concurrency: 1, noHandleSignals: true, taskList: { noop: async () => {} } });
await setup.stop();
await pool.query(
  "SELECT graphile_worker.add_job('noop', json_build_object('i', i)) FROM generate_series(1, $1::int) AS i",
  [jobs],
);

let done = 0;
let resolveAll;
const all = new Promise((r) => (resolveAll = r));
const started = process.hrtime.bigint();
const runner = await run({
  pgPool: pool,
  logger,
  concurrency,
  noHandleSignals: true,
  pollInterval: 1000,
  taskList: {
    noop: async () => {
      done += 1;
      if (done === jobs) resolveAll();
    },
  },
});
await all;
const secs = Number(process.hrtime.bigint() - started) / 1e9;
await runner.stop();
await pool.end();
console.log(`graphile-worker jobs/s=${(jobs / secs).toFixed(0)} (${jobs} no-op jobs, concurrency ${concurrency}, ${secs.toFixed(2)} s)`);
