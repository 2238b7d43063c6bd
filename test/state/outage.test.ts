import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Config } from "../../src/lib/config.js";
import { AutomnaError, ConfigError, UsageError, isAbortError } from "../../src/lib/errors.js";
import { Secret } from "../../src/lib/redact.js";
import type { StateWaitEvent } from "../../src/state/http-client.js";
import { HttpStore } from "../../src/state/http-store.js";
import { stateRetryForMs } from "../../src/state/open.js";
import { startStateServer, type RunningStateServer } from "../../src/state/server/app.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { makeHome, type Sandbox } from "../helpers/cli.js";
import { createToken } from "../helpers/state-server.js";
import { instance } from "./contract.js";

// The client side of a state server outage (#11.5): calls to a server that answered before
// wait it out for state.retryFor, tell a listener so, and give up with a clear error after.
describe("state client through a state server outage", () => {
  let home: Sandbox;
  let backend: SqliteStore;
  let server: RunningStateServer | undefined;
  let port: number;
  let token: string;
  const stores: HttpStore[] = [];

  const start = async (): Promise<void> => {
    server = await startStateServer({ backend, host: "127.0.0.1", port });
    port = Number(new URL(server.url).port);
  };
  const stop = async (): Promise<void> => {
    await server?.close();
    server = undefined;
  };
  const open = async (retryForMs: number, signal?: AbortSignal): Promise<{ store: HttpStore; events: StateWaitEvent[] }> => {
    const store = await HttpStore.open(`http://127.0.0.1:${port}`, { token: new Secret(token), retryForMs, ...(signal ? { signal } : {}) });
    stores.push(store);
    const events: StateWaitEvent[] = [];
    store.onWait((event) => events.push(event));
    // One answer first: the client now knows the server, so its absence is an outage.
    await store.listInstances();
    return { store, events };
  };
  /** Resolves at the first event that passes `test`. */
  const waitFor = (store: HttpStore, test: (e: StateWaitEvent) => boolean): Promise<StateWaitEvent> =>
    new Promise((resolve) => {
      const off = store.onWait((event) => {
        if (!test(event)) return;
        off();
        resolve(event);
      });
    });

  beforeEach(async () => {
    home = makeHome();
    backend = await SqliteStore.open(home.statePath);
    token = await createToken(backend, "wes", "write");
    port = 0;
    await start();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await stop();
    await backend.close();
    home.cleanup();
  });

  it("survives a server that is down for a few seconds, applying a write made meanwhile once", async () => {
    const { store, events } = await open(60_000);
    await stop();
    const written = store.createInstance(instance("alice"));
    // Back once the client has waited a few seconds (it says so while it waits).
    const waiting = await waitFor(store, (e) => e.kind === "waiting" && e.downForMs >= 2000);
    await start();
    const created = await written;
    expect(created.user).toBe("alice");
    expect(await backend.listInstances()).toEqual([created]);
    expect(waiting).toMatchObject({ kind: "waiting", url: `http://127.0.0.1:${port}`, reason: "ECONNREFUSED" });
    expect((waiting as { giveUpInMs: number }).giveUpInMs).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ kind: "recovered", url: `http://127.0.0.1:${port}` });
    expect((events.at(-1) as { downForMs: number }).downForMs).toBeGreaterThanOrEqual(2000);
    expect(events.filter((e) => e.kind === "recovered")).toHaveLength(1);
  });

  it("gives up after state.retryFor with an error that names the server and the setting", async () => {
    const { store, events } = await open(1500);
    await stop();
    const error = await store.getInstance("alice").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AutomnaError);
    expect((error as AutomnaError).code).toBe("state_unreachable");
    expect((error as AutomnaError).message).toMatch(new RegExp(`^cannot reach the state server at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED \\(retried for \\d+ s\\)$`));
    expect((error as AutomnaError).hint).toBe("is `automna state serve` running there? check state.url; state.retryFor (AUTOMNA_STATE_RETRY_FOR) sets how long to wait");
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => e.kind === "waiting")).toBe(true);
  });

  it("stops waiting at Ctrl-C: the call rejects as cancelled, long before state.retryFor", async () => {
    const ac = new AbortController();
    const { store } = await open(600_000, ac.signal);
    await stop();
    const read = store.listInstances().catch((e: unknown) => e);
    await waitFor(store, (e) => e.kind === "waiting");
    ac.abort();
    expect(isAbortError(await read)).toBe(true);
    // After the abort a call still gets its one try (a cancel can be recorded on the way out).
    await start();
    expect(await store.listInstances()).toEqual([]);
  });

  it("fails a first contact within a few tries: a server never seen is a configuration error", async () => {
    await stop();
    const store = await HttpStore.open(`http://127.0.0.1:${port}`, { token: new Secret(token), retryForMs: 600_000 });
    stores.push(store);
    const events: StateWaitEvent[] = [];
    store.onWait((e) => events.push(e));
    const error = await store.listInstances().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "state_unreachable", message: `cannot reach the state server at http://127.0.0.1:${port}: ECONNREFUSED` });
    expect(events).toEqual([]);
  });
});

describe("state.retryFor", () => {
  const config = async (value?: string): Promise<Config> => {
    const h = makeHome(value === undefined ? {} : { AUTOMNA_STATE_RETRY_FOR: value });
    return Config.open({ env: h.env });
  };

  it("is a duration, 60s by default, at most a day", async () => {
    expect(stateRetryForMs(await config())).toBe(60_000);
    expect(stateRetryForMs(await config("2m30s"))).toBe(150_000);
    expect(stateRetryForMs(await config("0s"))).toBe(0);
    await expect(config("soon").then(stateRetryForMs)).rejects.toThrow(UsageError);
    await expect(config("soon").then(stateRetryForMs)).rejects.toThrow('AUTOMNA_STATE_RETRY_FOR: "soon" is not a duration');
    await expect(config("25h").then(stateRetryForMs)).rejects.toThrow(ConfigError);
  });
});
