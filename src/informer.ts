import { setTimeout as sleep } from "node:timers/promises";
import { ApiError, type KubeApi, type WatchEvent } from "./apiserver.js";
import { messageOf } from "./errors.js";

/**
 * A collection of the API followed as it changes, the way client-go's informers do it: list it, then
 * watch from the list's version, resume each watch where the last event left off, list again when the
 * server has forgotten that version (410 Gone), and start over after any failure, a little later each
 * time. Nothing is polled: a change reaches `onChange` as soon as the API sends it.
 */
export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

interface List<T> {
  metadata?: { resourceVersion?: string };
  items?: T[];
}

/** namespace/name, or the name of a cluster-wide object. */
const objectKey = (o: KubeObject): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

/**
 * One event applied to the cache (the map is changed in place). Returns the version to resume from and
 * whether the cache changed. An ERROR event throws: 410 means the version is too old, list again.
 */
export function applyEvent<T extends KubeObject>(items: Map<string, T>, event: WatchEvent<T>): { resourceVersion?: string; changed: boolean } {
  if (event.type === "ERROR") {
    const status = event.object as unknown as { code?: number; message?: string };
    throw new ApiError("api", `the watch ended with an error: ${status.message ?? "no message"}`, status.code);
  }
  const resourceVersion = event.object.metadata?.resourceVersion;
  if (event.type === "BOOKMARK") return { resourceVersion, changed: false };
  if (event.type === "DELETED") items.delete(objectKey(event.object));
  else items.set(objectKey(event.object), event.object);
  return { resourceVersion, changed: true };
}

export interface InformerOptions<T> {
  /** The API with fresh credentials (read again after every failure: `up` may have rewritten them). */
  connect: () => Promise<KubeApi>;
  /** The collection: /api/v1/services, /apis/discovery.k8s.io/v1/endpointslices... */
  path: string;
  /** The whole collection, after the first list and after every change. */
  onChange: (items: ReadonlyMap<string, T>) => void;
  /** Connected (again), or why not. */
  onState?: (state: { connected: boolean; error?: string }) => void;
  /** How long to wait before the n-th retry in a row (from 0). */
  backoffMs?: (attempt: number) => number;
  /** Passed to each watch (tests shorten them). */
  watchTimeoutSeconds?: number;
}

export interface Informer {
  /** Settles once the first list has been delivered. */
  readonly synced: Promise<void>;
  stop(): void;
}

const defaultBackoff = (attempt: number) => Math.min(250 * 2 ** attempt, 5_000);

export function inform<T extends KubeObject>(options: InformerOptions<T>): Informer {
  const controller = new AbortController();
  const { signal } = controller;
  const backoff = options.backoffMs ?? defaultBackoff;
  const items = new Map<string, T>();
  let markSynced = () => {};
  const synced = new Promise<void>((resolve) => (markSynced = resolve));

  const run = async () => {
    let attempt = 0;
    while (!signal.aborted) {
      try {
        const api = await options.connect();
        const list = await api.get<List<T>>(options.path);
        if (!list) throw new ApiError("api", `${options.path} does not exist in this cluster`, 404);
        items.clear();
        for (const item of list.items ?? []) items.set(objectKey(item), item);
        let resourceVersion = list.metadata?.resourceVersion ?? "";
        options.onChange(items);
        markSynced();
        options.onState?.({ connected: true });
        attempt = 0;
        // Each watch ends after its timeout; the next resumes from the last version seen.
        while (!signal.aborted) {
          await api.watch(options.path, {
            resourceVersion,
            signal,
            timeoutSeconds: options.watchTimeoutSeconds,
            onEvent: (event) => {
              const applied = applyEvent(items, event as WatchEvent<T>);
              if (applied.resourceVersion) resourceVersion = applied.resourceVersion;
              if (applied.changed) options.onChange(items);
            },
          });
        }
      } catch (error) {
        if (signal.aborted) return;
        // The server forgot our version: list again at once, which is what 410 asks for.
        if (error instanceof ApiError && error.status === 410) continue;
        options.onState?.({ connected: false, error: messageOf(error) });
        await sleep(backoff(attempt++), undefined, { signal }).catch(() => undefined);
      }
    }
  };
  void run();
  return { synced, stop: () => controller.abort() };
}
