#!/usr/bin/env node
// A TCP forwarder that limits the registry → client direction to a fixed
// rate (token bucket, 10 ms ticks) and delays each new connection by
// CONNECT_MS — a stand-in for a real network link in front of the loopback
// registry (bench/mount/run.mjs runs it as a child process). Requests on a
// kept-alive connection get no extra latency.
//
//   node bench/mount/throttle.mjs UPSTREAM_PORT BYTES_PER_SECOND CONNECT_MS
//
// Prints "listening on 127.0.0.1:<port>" once ready.
import { connect, createServer } from "node:net";

const [upstreamPort, rate, connectMs] = process.argv.slice(2).map(Number);
const perTick = rate / 100;

const server = createServer((client) => {
  client.pause();
  setTimeout(() => {
    const up = connect(upstreamPort, "127.0.0.1");
    const queue = [];
    let budget = perTick;
    const tick = setInterval(() => {
      budget = Math.min(budget + perTick, perTick * 4);
      while (queue.length > 0 && budget > 0) {
        const c = queue[0];
        const n = Math.min(c.length, Math.floor(budget));
        if (n <= 0) break;
        client.write(c.subarray(0, n));
        budget -= n;
        if (n === c.length) queue.shift();
        else queue[0] = c.subarray(n);
      }
      if (queue.length < 64) up.resume();
    }, 10);
    up.on("data", (c) => {
      queue.push(c);
      if (queue.length >= 64) up.pause();
    });
    const end = () => {
      clearInterval(tick);
      client.destroy();
      up.destroy();
    };
    up.on("error", end);
    client.on("error", end);
    up.on("close", () => {
      // Upstream done: let the queue drain, then end (not destroy) so buffered writes reach the client.
      const drain = setInterval(() => {
        if (queue.length === 0) {
          clearInterval(drain);
          clearInterval(tick);
          client.end();
        }
      }, 10);
    });
    client.on("close", end);
    client.pipe(up);
    client.resume();
  }, connectMs);
});
server.listen(0, "127.0.0.1", () => console.log(`listening on 127.0.0.1:${server.address().port}`));
