/** Memoizes a lookup; a failed one is not kept, so the next call asks again. */
export function once<T>(lookup: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => {
    value ??= lookup().catch((error: unknown) => {
      value = undefined;
      throw error;
    });
    return value;
  };
}
