// Types of tidings.js, typed by the zod schema `tidings schema APP -o realtime-schema.ts` writes.
//
//   import { subscribe } from "./tidings.js";
//   import type { RealtimeEvents } from "./realtime-schema";
//
//   subscribe<RealtimeEvents>("/api/realtime", {
//     channels: ["room-lobby"],
//     onEvent(m) {
//       if (m.event === "chat.message") console.log(m.data.name, m.data.text);
//     },
//   });
//
// The shape is the official @upstash/realtime client's: T is the schema object
// itself (nested, zod v4 leaves), event names are its dot paths, and a message
// is a union narrowed by `event`. No import of zod: a leaf is any type with
// zod v4's `_zod.output`, which is what z.infer reads. Without T, any event
// name and `data: unknown`.

/** A zod v4 schema: what z.infer reads is `_zod.output`. */
export type ZodLeaf = { _zod: { output: unknown } };

type Depth = readonly unknown[];

/** The dotted event names of schema T, e.g. "chat.message". */
export type EventPaths<T, Prefix extends string = "", D extends Depth = []> = D["length"] extends 10
  ? never
  : {
      [K in keyof T & string]: T[K] extends ZodLeaf
        ? `${Prefix}${K}`
        : T[K] extends Record<string, unknown>
          ? EventPaths<T[K], `${Prefix}${K}.`, [...D, 0]>
          : never;
    }[keyof T & string];

/** The data of event E of schema T: z.infer of its leaf. */
export type EventData<T, E extends string, D extends Depth = []> = D["length"] extends 10
  ? never
  : E extends `${infer Head}.${infer Rest}`
    ? Head extends keyof T
      ? T[Head] extends ZodLeaf
        ? never
        : EventData<T[Head], Rest, [...D, 0]>
      : never
    : E extends keyof T
      ? T[E] extends { _zod: { output: infer Output } }
        ? Output
        : never
      : never;

/** An event as onEvent receives it; with a schema, a union narrowed by `event`. */
export type TidingsMessage<T = UntypedSchema> = string extends keyof T
  ? { id: string; event: string; channel: string; data: unknown }
  : {
      [E in EventPaths<T>]: { id: string; event: E; channel: string; data: EventData<T, E> };
    }[EventPaths<T>];

/** The default schema type: any event name, any data. */
export type UntypedSchema = Record<string, unknown>;

export type SubscriptionStatus = "connecting" | "connected" | "reconnecting" | "error" | "closed";

export interface SubscribeOptions<T = UntypedSchema> {
  /** Channels to follow (at least one). */
  channels: readonly string[];
  /** Per channel, resume after this "<ms>-<seq>" id. */
  lastAck?: Readonly<Record<string, string>>;
  onEvent?: (message: TidingsMessage<T>) => void;
  onStatus?: (status: SubscriptionStatus) => void;
  /** The text of the server's {"type":"error"} frames. */
  onNotice?: (text: string) => void;
  withCredentials?: boolean;
}

/** -1, 0 or 1 comparing two "<ms>-<seq>" ids as integer pairs. */
export declare function compareIds(a: string, b: string): -1 | 0 | 1;

export declare class Subscription<T = UntypedSchema> {
  constructor(url: string, options: SubscribeOptions<T>);
  readonly url: string;
  readonly channels: string[];
  readonly status: SubscriptionStatus;
  /** Per channel, the id this subscription resumes after. */
  readonly cursors: Record<string, string>;
  /** Follow another set of channels; channels kept resume exactly where they were. */
  update(options: { channels: readonly string[]; lastAck?: Readonly<Record<string, string>> }): void;
  close(): void;
}

/** Subscribe to `channels` of the endpoint at `url`. */
export declare function subscribe<T = UntypedSchema>(url: string, options: SubscribeOptions<T>): Subscription<T>;
